// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configuration text with literal ${env:NAME} references
// The simple YAML reader must never disagree with the YAML library: on every text it accepts, the
// result (values, types, line numbers) is the library's. These properties generate configuration-
// shaped documents in many spellings, plus corrupted ones, and compare the two readers.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CONFIG_LIMITS } from '../../src/config/config-limits.js';
import { parseWithYamlLibrary } from '../../src/config/yaml-document.js';
import type { InputNode } from '../../src/config/schema.js';
import { NOT_SIMPLE, parseSimpleYaml } from '../../src/config/simple-yaml.js';

type Tree =
  | { kind: 'map'; entries: [string, Tree][] }
  | { kind: 'seq'; items: Tree[] }
  | { kind: 'scalar'; text: string };

const KEYS = [
  'log_level',
  'exporter',
  'endpoint',
  'headers',
  'x-api-key',
  'a.b',
  'max_items',
  'true',
  'null',
  '1',
  'True',
  '01',
  'on',
  'Null',
  'k',
];
const PLAIN_WORDS = [
  'info',
  'http/protobuf',
  'https://otlp.example.com:4318/v1',
  'Bearer ${env:TOKEN}',
  'a b  c',
  'a#b',
  'end,500',
  '-5',
  '0',
  '42',
  '007',
  '+3',
  '1.5',
  '1e3',
  '.inf',
  '.5',
  '0x1F',
  '0o17',
  '~',
  'null',
  'NULL',
  'true',
  'False',
  'yes',
  'x:y',
  '9007199254740993',
  '-0',
  'café',
  '${env:A:-b}',
  'text/html, application/json',
];
/** Characters that mean something to YAML, to build hostile scalars from. */
const SIGNIFICANT = [
  'a',
  'b',
  ' ',
  ':',
  '#',
  '-',
  "'",
  '"',
  '[',
  ']',
  '{',
  '}',
  ',',
  '$',
  '\\',
  '\t',
  '0',
  '1',
  '.',
  '!',
  '&',
  '*',
  '|',
  '>',
  '%',
  '@',
  '?',
  '~',
  '`',
  '\u00a0',
  '\u2028',
  '\u0085',
  '\f',
  '\v',
  '\ufeff',
  '\r',
];

const hostileScalar = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...PLAIN_WORDS) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.constantFrom(...SIGNIFICANT), { minLength: 0, maxLength: 8 })
      .map((c) => c.join('')),
  },
  { weight: 1, arbitrary: fc.integer().map(String) },
);
/** What configuration files mostly hold. */
const FRIENDLY_KEYS = [
  'log_level',
  'exporter',
  'endpoint',
  'headers',
  'x-api-key',
  'max_items',
  'name',
  'signals',
];
const friendlyScalar = fc.oneof(
  fc.constantFrom(
    'info',
    'http/protobuf',
    'https://otlp.example.com:4318/v1',
    'Bearer ${env:TOKEN}',
    'end,500',
    'true',
  ),
  fc.integer({ min: -1000, max: 100_000 }).map(String),
);

function trees(keys: readonly string[], scalar: fc.Arbitrary<string>): fc.Arbitrary<Tree> {
  return fc.letrec<{ node: Tree; map: Tree; seq: Tree; scalar: Tree }>((tie) => ({
    scalar: scalar.map((text) => ({ kind: 'scalar' as const, text })),
    map: fc
      .uniqueArray(fc.tuple(fc.constantFrom(...keys), tie('node')), {
        minLength: 1,
        maxLength: 4,
        selector: ([k]) => k,
      })
      .map((entries) => ({ kind: 'map' as const, entries })),
    seq: fc
      .array(tie('node'), { minLength: 1, maxLength: 3 })
      .map((items) => ({ kind: 'seq' as const, items })),
    node: fc.oneof({ maxDepth: 3, depthIdentifier: 'tree' }, tie('scalar'), tie('map'), tie('seq')),
  })).map;
}

interface Style {
  indent: number;
  quote: 'plain' | 'single' | 'double' | 'mixed';
  flowLists: boolean;
  compactItems: boolean;
  seqAtKeyColumn: boolean;
  comments: boolean;
}

const style: fc.Arbitrary<Style> = fc.record({
  indent: fc.constantFrom(1, 2, 4),
  quote: fc.constantFrom('plain', 'single', 'double', 'mixed'),
  flowLists: fc.boolean(),
  compactItems: fc.boolean(),
  seqAtKeyColumn: fc.boolean(),
  comments: fc.boolean(),
});

function renderScalar(text: string, s: Style, salt: number): string {
  const quote = s.quote === 'mixed' ? (['plain', 'single', 'double'] as const)[salt % 3]! : s.quote;
  const body =
    quote === 'single' ? `'${text.replaceAll("'", "''")}'` : quote === 'double' ? JSON.stringify(text) : text;
  return s.comments && salt % 2 === 0 ? `${body} # note` : body;
}

function render(t: Tree, s: Style, depth: number, out: string[], salt = 0): void {
  const pad = ' '.repeat(depth * s.indent);
  if (s.comments && salt % 3 === 0) out.push(`${pad}# a comment`, '');
  if (t.kind === 'map') {
    t.entries.forEach(([key, value], i) => {
      if (value.kind === 'scalar') {
        out.push(`${pad}${key}: ${renderScalar(value.text, s, salt + i)}`);
      } else if (value.kind === 'seq' && s.flowLists && value.items.every((v) => v.kind === 'scalar')) {
        out.push(`${pad}${key}: [${value.items.map((v) => (v as { text: string }).text).join(', ')}]`);
      } else {
        out.push(`${pad}${key}:${s.comments ? ' # section' : ''}`);
        render(value, s, value.kind === 'seq' && s.seqAtKeyColumn ? depth : depth + 1, out, salt + i + 1);
      }
    });
  } else if (t.kind === 'seq') {
    t.items.forEach((item, i) => {
      if (item.kind === 'scalar') {
        out.push(`${pad}- ${renderScalar(item.text, s, salt + i)}`);
      } else if (item.kind === 'map' && s.compactItems) {
        const nested: string[] = [];
        render(item, s, 0, nested, salt + i);
        const lines = nested.filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
        lines.forEach((line, j) => {
          out.push(j === 0 ? `${pad}- ${line}` : `${pad}  ${line}`);
        });
      } else {
        out.push(`${pad}-`);
        render(item, s, depth + 1, out, salt + i);
      }
    });
  } else {
    out.push(`${pad}${renderScalar(t.text, s, salt)}`);
  }
}

/** The simple reader's answer must be NOT_SIMPLE or exactly the library's. Returns whether it answered. */
async function agree(text: string): Promise<boolean> {
  const simple = parseSimpleYaml(text);
  if (simple === NOT_SIMPLE) return false;
  const full = await parseWithYamlLibrary(text, CONFIG_LIMITS);
  assert.deepEqual(full.errors, [], `the simple reader accepted text the library rejects:\n${text}`);
  assert.deepEqual(full.warnings, [], `the simple reader accepted text the library warns about:\n${text}`);
  assert.deepEqual(simple as InputNode | undefined, full.root, `the readers disagree on:\n${text}`);
  return true;
}

describe('simple YAML reader', () => {
  it('agrees with the YAML library on hostile generated files', async () => {
    await fc.assert(
      fc.asyncProperty(trees(KEYS, hostileScalar), style, async (t, s) => {
        const lines: string[] = [];
        render(t, s, 0, lines);
        await agree(`${lines.join('\n')}\n`);
      }),
      { numRuns: 400 },
    );
  });

  it('agrees with the YAML library on ordinary files, and reads most of them itself', async () => {
    let answered = 0;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(trees(FRIENDLY_KEYS, friendlyScalar), style, async (t, s) => {
        const lines: string[] = [];
        render(t, s, 0, lines);
        runs++;
        if (await agree(`${lines.join('\n')}\n`)) answered++;
      }),
      { numRuns: 300 },
    );
    // The fast path must take most ordinary files, or it saves nothing.
    assert.ok(answered > runs / 2, `answered ${answered} of ${runs}`);
  });

  it('agrees with the YAML library on corrupted files', async () => {
    const base = [
      'log_level: info',
      'exporter:',
      '  endpoint: https://otlp.example.com',
      '  headers:',
      "    authorization: 'Bearer ${env:TOKEN}'",
      'additional_exporters:',
      '  - name: a',
      '    signals: [traces, logs]',
      '  -',
      '    name: b # second',
      'flush:',
      '  grace_ms: 10',
    ].join('\n');
    const edit = fc.oneof(
      fc.record({ at: fc.nat(), insert: fc.constantFrom(...SIGNIFICANT, '\n', '  ', '\n  ', '- ', ': ') }),
      fc.record({ at: fc.nat(), remove: fc.integer({ min: 1, max: 3 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 4 }), async (edits) => {
        let text = base;
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          text =
            'insert' in e
              ? text.slice(0, at) + e.insert + text.slice(at)
              : text.slice(0, at) + text.slice(at + e.remove);
        }
        await agree(text);
      }),
      { numRuns: 600 },
    );
  });

  it('reads a typical configuration file without the library', async () => {
    const text = [
      '# Function configuration',
      'log_level: info',
      'exporter:',
      '  endpoint: https://otlp.example.com',
      '  headers:',
      '    authorization: Bearer ${env:OTLP_TOKEN}',
      'additional_exporters:',
      '- name: archive',
      '  traces_endpoint: "https://archive.example.com/v1/traces"',
      '  signals: [traces]',
      'flush:',
      '  strategy: end,500 # flush every half second',
      '  grace_ms: 20',
    ].join('\n');
    assert.notEqual(parseSimpleYaml(text), NOT_SIMPLE);
    assert.ok(await agree(text));
  });

  it('leaves anchors, tags, block scalars, flow mappings and escapes to the library', () => {
    for (const text of [
      'a: &x 1\nb: *x',
      'a: !!str 1',
      'a: |\n  text',
      'a: {b: 1}',
      'a: "line\\nbreak"',
      '---\na: 1',
      'a: 1\na: 2',
      'a:\n\tb: 1',
      'a: 1.5',
      'a: b\n  c',
    ]) {
      assert.equal(parseSimpleYaml(text), NOT_SIMPLE, text);
    }
  });
});
