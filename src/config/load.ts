// Loading the configuration: built-in defaults, then the layer's file, then the function's file (or
// the file LAMBDA_OTEL_CONFIG_FILE names), then environment variables; later sources win key by key.
// Never throws on bad input: every problem is collected with its key, source and line.

import { platform } from '../platform/index.js';
import { isAbsolutePath, joinPath } from '../platform/paths.js';
import { parseConfigText, readConfigFile } from './config-file.js';
import {
  CONFIG_SCHEMA,
  type ConfigKey,
  checkAcrossKeys,
  type ExtensionConfig,
  isDatadogEnabled,
} from './extension-config.js';
import {
  childOf,
  type ConfigSource,
  type DecodeContext,
  type Fields,
  INVALID,
  type InputNode,
  type Leaf,
  nearest,
  type Section,
  unknownKeyText,
} from './schema.js';
import { expandEnvReferences } from './substitute.js';

export const DEFAULT_LAYER_DIR = '/opt/otel-lambda-extension';
/** Extensions do not see LAMBDA_TASK_ROOT; the function package is always here. */
export const DEFAULT_TASK_ROOT = '/var/task';
export const LAYER_CONFIG_FILE = 'config.yaml';
export const FUNCTION_CONFIG_FILES = [
  'otel-lambda-extension.yaml',
  'otel-lambda-extension.yml',
  'otel-lambda-extension.json',
] as const;
export const CONFIG_FILE_ENV = 'LAMBDA_OTEL_CONFIG_FILE';
const ENV_PREFIX = 'LAMBDA_OTEL_';
/** The standard exporter variables, handed to the exporter as they are (see LoadedConfig.otlpEnv). */
const OTLP_ENV_PREFIX = 'OTEL_EXPORTER_OTLP_';

export interface LoadConfigOptions {
  /** Defaults to process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Directory holding the layer's config.yaml; defaults to /opt/otel-lambda-extension. */
  layerDir?: string;
  /** The function package's root; defaults to /var/task. */
  taskRoot?: string;
}

export interface ConfigError {
  /** Dotted key path (`flush.grace_ms`, `additional_exporters[0].endpoint`); '' for a whole file or variable. */
  readonly key: string;
  /** `env NAME`, `path/to/file.yaml:12`, or a file path. */
  readonly where: string;
  /** What is wrong, e.g. `expected an integer between 0 and 2000, got "abc"`. Never contains a secret. */
  readonly problem: string;
  /** `key (where): problem`, ready to log. */
  readonly message: string;
}

export interface LoadedConfig {
  /** Every key present, defaults applied; an invalid value leaves the previous source's value in place. Frozen. */
  readonly config: ExtensionConfig;
  /** Which source set each key's value. */
  readonly sources: Readonly<Record<ConfigKey, ConfigSource>>;
  readonly errors: readonly ConfigError[];
  /** Problems that do not invalidate the configuration (unknown LAMBDA_OTEL_* variables, unset references, …). */
  readonly warnings: readonly string[];
  /** Files read, in precedence order. */
  readonly files: readonly string[];
  /**
   * The standard OTEL_EXPORTER_OTLP_* variables as set. They are the function's too (often pointing at
   * the local receiver), so whether to fall back to them is the exporter's decision.
   */
  readonly otlpEnv: Readonly<Record<string, string>>;
}

interface FlatLeaf {
  readonly path: string;
  readonly leaf: Leaf<unknown>;
  readonly env: readonly string[];
  readonly standardEnv: readonly string[];
}

function flatten(node: Section<Fields>, prefix: string, out: FlatLeaf[]): FlatLeaf[] {
  for (const [key, child] of Object.entries(node.fields)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (child.node === 'section') {
      flatten(child, path, out);
      continue;
    }
    const env =
      child.env === false ? [] : (child.env ?? [ENV_PREFIX + path.toUpperCase().replaceAll('.', '_')]);
    out.push({ path, leaf: child, env, standardEnv: child.standardEnv });
  }
  return out;
}

/** Every setting, in schema order, with its resolved environment variable names. Computed once. */
export const CONFIG_LEAVES: readonly FlatLeaf[] = flatten(CONFIG_SCHEMA, '', []);

/**
 * Set by the layer's launcher or meant for it, or choosing the runtime port (troubleshooting), not
 * settings: never warned about.
 */
const LAUNCHER_ENV = [
  'LAMBDA_OTEL_BUN_OPTIONS',
  'LAMBDA_OTEL_EXTENSION_NAME',
  'LAMBDA_OTEL_LAUNCHER_PID',
  'LAMBDA_OTEL_NODE_OPTIONS',
  'LAMBDA_OTEL_PLATFORM',
  'LAMBDA_OTEL_RUNTIME_NODE',
];
const KNOWN_ENV = new Set<string>([CONFIG_FILE_ENV, ...LAUNCHER_ENV, ...CONFIG_LEAVES.flatMap((l) => l.env)]);
const OWN_ENV_NAMES = [...KNOWN_ENV].filter((name) => name.startsWith(ENV_PREFIX));
const ALL_PATHS = CONFIG_LEAVES.map((l) => l.path);

/** The working state while sources are applied: flat values keyed by path. */
class ConfigBuilder {
  readonly values = new Map<string, unknown>();
  readonly sources: Record<string, ConfigSource> = {};
  readonly where: Record<string, string> = {};
  readonly errors: ConfigError[] = [];
  readonly warnings: string[] = [];
  readonly files: string[] = [];
  readonly otlpEnv: Record<string, string> = {};

  constructor(readonly env: Readonly<Record<string, string | undefined>>) {
    for (const { path, leaf } of CONFIG_LEAVES) {
      this.values.set(path, leaf.default);
      this.sources[path] = 'default';
      this.where[path] = 'default';
    }
  }

  error(key: string, where: string, problem: string): void {
    this.errors.push({
      key,
      where,
      problem,
      message: key ? `${key} (${where}): ${problem}` : `${where}: ${problem}`,
    });
  }

  set(path: string, leaf: Leaf<unknown>, value: unknown, source: ConfigSource, where: string): void {
    const merged =
      leaf.merge === 'keys' && value !== null && typeof value === 'object'
        ? { ...(this.values.get(path) as object), ...value }
        : value;
    this.values.set(path, merged);
    this.sources[path] = source;
    this.where[path] = where;
  }

  /** Reads one file and applies it; `required` files (named by the user) must exist. */
  async applyFile(path: string, source: ConfigSource, required: boolean, requiredBy: string): Promise<void> {
    const read = await readConfigFile(path);
    if (read.status === 'absent') {
      if (required) this.error('', requiredBy, `the configuration file ${path} does not exist`);
      return;
    }
    if (read.status === 'unreadable') {
      this.error('', path, `the configuration file cannot be read: ${read.reason}`);
      return;
    }
    this.files.push(path);
    const parsed = await parseConfigText(read.text, path);
    for (const w of parsed.warnings) this.warnings.push(`${path}:${w.line}:${w.column}: ${w.message}`);
    for (const e of parsed.errors) {
      const problem = e.kind === 'syntax' ? `malformed YAML: ${e.message}` : `refused: ${e.message}`;
      this.error('', `${path}:${e.line}:${e.column}`, problem);
    }
    if (parsed.root === undefined) return;
    const at = (line: number | undefined) => (line === undefined ? path : `${path}:${line}`);
    const cx: DecodeContext = {
      origin: 'file',
      problem: (key, line, text) => this.error(key, at(line), text),
      expand: (text, key, line, secret) =>
        expandEnvReferences(text, this.env, {
          missing: (name) =>
            this.warnings.push(
              `${key} (${at(line)}): \${env:${name}} is not set; it expands to an empty string`,
            ),
          malformed: (problem) =>
            this.error(
              key,
              at(line),
              // biome-ignore lint/suspicious/noTemplateCurlyInString: names the reference syntax
              secret ? 'malformed ${env:NAME} reference (value not shown: secret)' : problem,
            ),
        }),
    };
    this.applySection(CONFIG_SCHEMA, parsed.root, '', source, cx, at);
  }

  private applySection(
    node: Section<Fields>,
    input: InputNode,
    prefix: string,
    source: ConfigSource,
    cx: DecodeContext,
    at: (line: number | undefined) => string,
  ): void {
    if (input.t === 'scalar' && input.value === null) return;
    if (input.t !== 'map') {
      const shape = input.t === 'seq' ? 'a list' : 'a single value';
      cx.problem(prefix, input.line, `expected a mapping of settings, got ${shape}`);
      return;
    }
    for (const entry of input.entries) {
      const path = prefix ? `${prefix}.${entry.key}` : entry.key;
      const child = childOf(node, entry.key);
      if (!child) {
        cx.problem(path, entry.line, unknownKeyHere(entry.key, node));
        continue;
      }
      if (child.node === 'section') {
        this.applySection(child, entry.value, path, source, cx, at);
        continue;
      }
      // An explicit null (`key:` or `key: ~`) puts the built-in default back.
      if (entry.value.t === 'scalar' && entry.value.value === null) {
        this.values.set(path, child.default);
        this.sources[path] = source;
        this.where[path] = at(entry.line);
        continue;
      }
      const value = child.decode(entry.value, cx, path);
      if (value !== INVALID) this.set(path, child, value, source, at(entry.line ?? entry.value.line));
    }
  }

  applyEnv(): void {
    for (const { path, leaf, env, standardEnv } of CONFIG_LEAVES) {
      const own = env.find((name) => isSet(this.env[name]));
      const name = own ?? standardEnv.find((n) => isSet(this.env[n]));
      if (name === undefined) continue;
      const where = `env ${name}`;
      const standard = own === undefined;
      const cx: DecodeContext = {
        origin: 'env',
        // A standard variable is the function's too: a value we cannot use is not our error.
        problem: (key, _line, text) =>
          standard ? this.warnings.push(`${key} (${where}): ${text}; ignored`) : this.error(key, where, text),
        expand: (text) => text,
      };
      const value = leaf.decode({ t: 'scalar', value: this.env[name]! }, cx, path);
      if (value !== INVALID) this.set(path, leaf, value, 'env', where);
    }
    for (const name of Object.keys(this.env)) {
      if (name.startsWith(OTLP_ENV_PREFIX) && this.env[name] !== undefined)
        this.otlpEnv[name] = this.env[name];
      if (!name.startsWith(ENV_PREFIX) || KNOWN_ENV.has(name) || !isSet(this.env[name])) continue;
      const suggestion = nearest(name, OWN_ENV_NAMES);
      this.warnings.push(
        `env ${name}: not a known setting${suggestion ? `; did you mean ${suggestion}?` : ''}; ignored`,
      );
    }
  }

  /** The nested, frozen configuration object. */
  build(): ExtensionConfig {
    const root: Record<string, unknown> = {};
    for (const [path, value] of this.values) {
      const parts = path.split('.');
      let target = root;
      for (const part of parts.slice(0, -1)) {
        target[part] ??= {};
        target = target[part] as Record<string, unknown>;
      }
      target[parts.at(-1)!] = value;
    }
    return root as ExtensionConfig;
  }
}

function isSet(value: string | undefined): value is string {
  // As in the OpenTelemetry specification, an empty variable is an unset one.
  return value !== undefined && value.trim() !== '';
}

/** "unknown key; did you mean …": a sibling first, else a key of the same name in another section. */
function unknownKeyHere(key: string, node: Section<Fields>): string {
  const siblings = Object.keys(node.fields);
  if (nearest(key, siblings) !== undefined) return unknownKeyText(key, siblings);
  const elsewhere = nearest(
    key,
    ALL_PATHS.map((p) => p.slice(p.lastIndexOf('.') + 1)),
  );
  const full = elsewhere && ALL_PATHS.find((p) => p.endsWith(`.${elsewhere}`) || p === elsewhere);
  return full ? `unknown key; did you mean "${full}"?` : unknownKeyText(key, siblings);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Loads and validates the configuration. Never rejects on bad input: problems are in `errors` (the
 * configuration is then invalid) and `warnings`. Asynchronous because files are read through the
 * runtime port and the YAML parser is imported on demand.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const builder = new ConfigBuilder(env);

  await builder.applyFile(
    joinPath(options.layerDir ?? DEFAULT_LAYER_DIR, LAYER_CONFIG_FILE),
    'layer',
    false,
    '',
  );

  const named = env[CONFIG_FILE_ENV];
  if (isSet(named)) {
    const path = named.trim();
    if (isAbsolutePath(path)) {
      await builder.applyFile(path, 'function', true, `env ${CONFIG_FILE_ENV}`);
    } else {
      builder.error(
        '',
        `env ${CONFIG_FILE_ENV}`,
        `expected an absolute path (e.g. /var/task/${FUNCTION_CONFIG_FILES[0]}), got ${JSON.stringify(path.slice(0, 200))}`,
      );
    }
  } else {
    const taskRoot = options.taskRoot ?? DEFAULT_TASK_ROOT;
    const candidates = FUNCTION_CONFIG_FILES.map((name) => joinPath(taskRoot, name));
    const { files } = platform();
    const present = await Promise.all(candidates.map((path) => files.exists(path)));
    const found = candidates.filter((_, i) => present[i]);
    if (found[0] !== undefined) await builder.applyFile(found[0], 'function', false, '');
    if (found.length > 1) {
      builder.warnings.push(
        `${found.slice(1).join(', ')}: ignored; ${found[0]} is read instead (one file only)`,
      );
    }
  }

  builder.applyEnv();

  const config = builder.build();
  const mutable = config as { metrics: { temporality: string } };
  if (isDatadogEnabled(config)) {
    // Datadog's metrics intake takes delta only: default to it, and say so when told otherwise.
    if (builder.sources['metrics.temporality'] === 'default') mutable.metrics.temporality = 'delta';
    else if (config.metrics.temporality === 'cumulative') {
      builder.warnings.push(
        `metrics.temporality (${builder.where['metrics.temporality']}): Datadog's intake accepts delta metrics only; cumulative metrics sent there are rejected`,
      );
    }
  }
  // A batch size left at its default follows a smaller queue bound the user chose, rather than
  // making the combination invalid.
  const batch = config.batch as { max_items: number; max_bytes: number };
  if (builder.sources['batch.max_items'] === 'default') {
    batch.max_items = Math.min(batch.max_items, config.queue.max_items_per_signal);
  }
  if (builder.sources['batch.max_bytes'] === 'default') {
    batch.max_bytes = Math.min(batch.max_bytes, config.queue.max_bytes_per_signal);
  }
  checkAcrossKeys(
    config,
    (key, text) => builder.error(key, builder.where[key] ?? 'default', text),
    (key, text) => builder.warnings.push(`${key} (${builder.where[key] ?? 'default'}): ${text}`),
  );

  return {
    config: deepFreeze(config),
    sources: Object.freeze(builder.sources) as Record<ConfigKey, ConfigSource>,
    errors: builder.errors,
    warnings: builder.warnings,
    files: builder.files,
    otlpEnv: Object.freeze(builder.otlpEnv),
  };
}

/** One log line naming every problem, for the error logged before pass-through mode or init/error. */
export function formatConfigErrors(errors: readonly ConfigError[]): string {
  const count = errors.length === 1 ? '1 problem' : `${errors.length} problems`;
  return `invalid configuration (${count}): ${errors.map((e) => e.message).join('; ')}`;
}
