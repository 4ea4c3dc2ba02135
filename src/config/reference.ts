// Renders the configuration reference (docs/configuration.md) and the layer's template
// (layer/config.yaml) from the schema, so neither can drift from what the loader accepts.
// Not part of the extension bundle.
//
//   node --import tsx src/config/reference.ts --write docs/configuration.md --write layer/config.yaml
//   node --import tsx src/config/reference.ts --check docs/configuration.md --check layer/config.yaml

import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CONFIG_SCHEMA } from './extension-config.js';
import { FLUSH_INTERVAL_MAX_MS, FLUSH_INTERVAL_MIN_MS } from './flush-strategy.js';
import {
  CONFIG_FILE_ENV,
  CONFIG_LEAVES,
  DEFAULT_LAYER_DIR,
  DEFAULT_TASK_ROOT,
  FUNCTION_CONFIG_FILES,
  LAYER_CONFIG_FILE,
} from './load.js';
import { type Fields, formatByteSize, formatCount, type Leaf, type Section } from './schema.js';

const GENERATED_BY =
  'node --import tsx src/config/reference.ts --write docs/configuration.md --write layer/config.yaml';

const envOf = new Map(CONFIG_LEAVES.map((l) => [l.leaf, l]));

// ---------------------------------------------------------------------------------------------
// Markdown

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function code(text: string): string {
  return `\`${text}\``;
}

function defaultCell(leaf: Leaf<unknown>): string {
  const value = leaf.default;
  if (leaf.required) return 'required';
  if (value === undefined) return 'unset';
  const rendered = leaf.render(value);
  if (Array.isArray(rendered)) return rendered.length === 0 ? 'none' : code(`[${rendered.join(', ')}]`);
  if (rendered !== null && typeof rendered === 'object')
    return Object.keys(rendered).length === 0 ? 'none' : '…';
  if (typeof rendered === 'number') {
    const size = leaf.kind === 'bytes' ? formatByteSize(rendered) : undefined;
    return size ? `${code(String(rendered))} (${size})` : code(String(rendered));
  }
  return code(String(rendered));
}

function envCell(leaf: Leaf<unknown>): string {
  const flat = envOf.get(leaf);
  if (!flat) return '—';
  const own = flat.env.map(code);
  const standard = flat.standardEnv.map((name) => `${code(name)} (shared with the function)`);
  const all = [...own, ...standard];
  return all.length === 0 ? '—' : all.join('<br>');
}

function describe(leaf: Leaf<unknown>): string {
  return leaf.secret ? `${leaf.description} Secret: never logged, never shown in errors.` : leaf.description;
}

function tableRows(node: Section<Fields>, prefix: string, out: string[], topLevelLeavesOnly = false): void {
  for (const [key, child] of Object.entries(node.fields)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (child.node === 'section') {
      if (!topLevelLeavesOnly) tableRows(child, path, out);
      continue;
    }
    if (topLevelLeavesOnly && child.kind === 'object_list') continue;
    out.push(
      `| ${code(path)} | ${envCell(child)} | ${cell(child.typeLabel)} | ${defaultCell(child)} | ${cell(describe(child))} |`,
    );
    if (child.kind === 'object_list' && child.item) tableRows(child.item, `${path}[]`, out);
  }
}

const TABLE_HEAD = ['| Key | Environment | Type | Default | Description |', '|---|---|---|---|---|'];

export function renderReference(): string {
  const out: string[] = [
    '# Configuration reference',
    '',
    `<!-- Generated from src/config/extension-config.ts by \`${GENERATED_BY}\`. Do not edit by hand: a test fails when this page and the schema disagree. -->`,
    '',
    '## Where settings come from',
    '',
    'Later sources win, key by key:',
    '',
    '1. Built-in defaults (the Default column below).',
    `2. The layer's file, \`${DEFAULT_LAYER_DIR}/${LAYER_CONFIG_FILE}\`. As shipped it lists every setting with its default, commented out, so it changes nothing; a layer built for an organisation can uncomment what it needs.`,
    `3. The function's file: \`${DEFAULT_TASK_ROOT}/${FUNCTION_CONFIG_FILES[0]}\` in the function package (also \`.yml\` or \`.json\`; one file only). Setting \`${CONFIG_FILE_ENV}\` to an absolute path reads that file instead.`,
    '4. Environment variables (the Environment column below). An empty variable counts as unset.',
    '',
    'Header maps merge name by name across sources; lists replace. In a file, an empty value (`key:` or `key: null`) puts the built-in default back.',
    '',
    '## Files',
    '',
    '- YAML 1.2 (JSON is YAML too); keys are snake_case and grouped in sections as in the tables below (`flush.grace_ms` is `grace_ms` under `flush:`).',
    '- An unknown key is an error that names the nearest known key (`exporter.timout_ms: unknown key; did you mean "timeout_ms"?`).',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the reference syntax
    '- Values may refer to environment variables as the OpenTelemetry Collector does: `${env:NAME}`, `${env:NAME:-default}` (the default when unset or empty), `${NAME}`. `$$` is a literal `$`. An unset variable expands to an empty string, with a warning. Expanded text is not expanded again. Keep secrets out of files: `authorization: Bearer ${env:API_TOKEN}`.',
    '',
    '## Environment variables',
    '',
    '- Booleans are `true` or `false`; words (enumerations) are case-insensitive; lists are comma-separated; headers are `name=value,name2=value2` with percent-encoded values, as in `OTEL_EXPORTER_OTLP_HEADERS`.',
    '- A `LAMBDA_OTEL_*` variable that is not a setting is reported as a warning with the nearest known name.',
    "- Variables marked *shared with the function* are standard ones the function's SDK reads too. An invalid value there is a warning and is ignored.",
    "- The standard `OTEL_EXPORTER_OTLP_*` endpoint, headers, protocol, compression and timeout variables are used by the exporter only when `exporter` sets no endpoint, and never when they point at the extension's own receiver (the function's SDK is usually pointed there). `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` shape the resource as the specification says.",
    '',
    '## Invalid configuration',
    '',
    'Every problem is collected, each with its key, its source (file and line, or variable) and what was expected, e.g. `flush.grace_ms (env LAMBDA_OTEL_FLUSH_GRACE_MS): expected an integer between 0 and 2000, got "abc"`. Secret values are never shown. With `strict_config: true` an invalid configuration fails the init phase (`Extension.ConfigInvalid`); otherwise the extension logs one error listing every problem and runs in pass-through mode: it follows the lifecycle and exports nothing.',
    '',
    '## Settings',
    '',
    '### General',
    '',
    ...TABLE_HEAD,
  ];
  tableRows(CONFIG_SCHEMA, '', out, true);
  for (const [key, child] of Object.entries(CONFIG_SCHEMA.fields)) {
    if (child.node === 'section') {
      out.push('', `### ${key}`, '', child.description, '', ...TABLE_HEAD);
      tableRows(child, key, out);
    } else if (child.kind === 'object_list' && child.item) {
      out.push('', `### ${key}`, '', child.description, child.item.description, '', ...TABLE_HEAD);
      out.push(
        `| ${code(key)} | ${envCell(child)} | ${cell(child.typeLabel)} | ${defaultCell(child)} | ${cell(describe(child))} |`,
      );
      tableRows(child.item, `${key}[]`, out);
    }
  }
  out.push(
    '',
    '## Flush strategies',
    '',
    `\`flush.strategy\` (\`LAMBDA_OTEL_FLUSH_STRATEGY\`) takes one of: \`adaptive\`, \`end\`, \`end,<ms>\`, \`periodic,<ms>\`, \`continuous,<ms>\`, with \`<ms>\` between ${formatCount(FLUSH_INTERVAL_MIN_MS)} and ${formatCount(FLUSH_INTERVAL_MAX_MS)}. \`flush.max_staleness_ms\` bounds every strategy, and \`flush.deadline_margin_ms\` keeps every flush clear of the invocation and shutdown deadlines.`,
    '',
    '## Example',
    '',
    '```yaml',
    `# ${DEFAULT_TASK_ROOT}/${FUNCTION_CONFIG_FILES[0]}`,
    'exporter:',
    '  endpoint: https://otlp.example.com',
    '  headers:',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an example reference
    '    authorization: Bearer ${env:OTLP_TOKEN}',
    'additional_exporters:',
    '  - name: archive',
    '    traces_endpoint: https://archive.example.com/otlp/v1/traces',
    '    signals: [traces]',
    'flush:',
    '  strategy: end',
    '```',
    '',
  );
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Layer template

/** Plain scalars the simple reader and YAML read back unchanged; anything else is double-quoted. */
function yamlScalar(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = String(value);
  const plain =
    /^[A-Za-z_][A-Za-z0-9_./,-]*$/.test(text) &&
    !/^(true|false|null|True|False|Null|TRUE|FALSE|NULL)$/.test(text);
  return plain ? text : JSON.stringify(text);
}

function yamlValue(leaf: Leaf<unknown>): string {
  const value = leaf.default;
  if (value === undefined) return '';
  const rendered = leaf.render(value);
  if (Array.isArray(rendered)) return ` [${rendered.map(yamlScalar).join(', ')}]`;
  if (rendered !== null && typeof rendered === 'object') return ' {}';
  return ` ${yamlScalar(rendered)}`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

function commentLines(indent: string, text: string): string[] {
  return wrap(text, 96 - indent.length).map((line) => `# ${indent}# ${line}`);
}

function templateSection(node: Section<Fields>, depth: number, out: string[]): void {
  const indent = '  '.repeat(depth);
  for (const [key, child] of Object.entries(node.fields)) {
    if (child.node === 'section') {
      out.push('#');
      out.push(...commentLines(indent, child.description));
      out.push(`# ${indent}${key}:`);
      templateSection(child, depth + 1, out);
      continue;
    }
    const flat = envOf.get(child);
    const env =
      flat && flat.env.length + flat.standardEnv.length > 0
        ? ` Env: ${[...flat.env, ...flat.standardEnv].join(', ')}.`
        : '';
    const secret = child.secret ? ' Secret.' : '';
    if (child.kind === 'object_list') out.push('#');
    out.push(...commentLines(indent, `${child.description} (${child.typeLabel})${secret}${env}`));
    out.push(`# ${indent}${key}:${yamlValue(child)}`);
    if (child.kind === 'object_list' && child.example) {
      for (const line of child.example) out.push(`# ${indent}#   ${line}`);
    } else if (child.kind === 'object_list') {
      out.push(
        `# ${indent}#   - name: archive`,
        `# ${indent}#     endpoint: https://otlp.example.com`,
        `# ${indent}#     headers:`,
        `# ${indent}#       x-api-key: \${env:ARCHIVE_API_KEY}`,
        `# ${indent}#     signals: [traces, logs]`,
      );
    }
  }
}

export function renderLayerConfig(): string {
  const out: string[] = [
    '## Configuration of the OpenTelemetry extension for AWS Lambda, as shipped in the layer',
    `## (${DEFAULT_LAYER_DIR}/${LAYER_CONFIG_FILE}).`,
    '##',
    '## Every setting is listed with its built-in default, commented out: as shipped, this file',
    '## changes nothing. To change a setting for every function using a layer built from this file,',
    "## remove the leading '# ' from its line (and from its section's line). Per function, prefer",
    `## ${DEFAULT_TASK_ROOT}/${FUNCTION_CONFIG_FILES[0]} or LAMBDA_OTEL_* environment variables, which win`,
    '## over this file. Reference: docs/configuration.md.',
    '##',
    `## Generated from src/config/extension-config.ts by: ${GENERATED_BY}`,
  ];
  out.push('#');
  templateSection(CONFIG_SCHEMA, 0, out);
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Command line

function renderFor(path: string): string {
  if (path.endsWith('.md')) return renderReference();
  if (path.endsWith('.yaml') || path.endsWith('.yml')) return renderLayerConfig();
  throw new Error(`${path}: expected a .md (reference) or .yaml (layer template) path`);
}

function main(args: readonly string[]): number {
  if (args.length === 0) {
    process.stdout.write(renderReference());
    return 0;
  }
  let status = 0;
  for (let i = 0; i < args.length; i += 2) {
    const mode = args[i];
    const path = args[i + 1];
    if ((mode !== '--write' && mode !== '--check') || path === undefined) {
      process.stderr.write('usage: reference.ts [--write|--check <file.md|file.yaml>]...\n');
      return 2;
    }
    const expected = renderFor(path);
    if (mode === '--write') {
      writeFileSync(path, expected);
      continue;
    }
    let actual: string | undefined;
    try {
      actual = readFileSync(path, 'utf8');
    } catch {
      actual = undefined;
    }
    if (actual !== expected) {
      process.stderr.write(`${path} is out of date; run: ${GENERATED_BY}\n`);
      status = 1;
    }
  }
  return status;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
