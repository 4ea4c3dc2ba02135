// Reading one configuration file into the schema's input form, with line numbers for error
// messages. Importing and warming the YAML library costs about ten milliseconds of cold start, so
// it is imported only when needed: files with no settings skip parsing, plain files take the
// simple reader (simple-yaml.ts), JSON files take JSON.parse; the library reads everything else
// and explains syntax errors.

import { readFileSync } from 'node:fs';
import type { Node } from 'yaml';
import type { InputNode, MapEntry } from './schema.js';
import { NOT_SIMPLE, parseSimpleYaml } from './simple-yaml.js';

export type FileRead =
  | { readonly status: 'absent' }
  | { readonly status: 'unreadable'; readonly reason: string }
  | { readonly status: 'read'; readonly text: string };

export function readConfigFile(path: string): FileRead {
  try {
    return { status: 'read', text: readFileSync(path, 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'absent' };
    if (code === 'EISDIR') return { status: 'unreadable', reason: 'it is a directory' };
    if (code === 'EACCES' || code === 'EPERM') return { status: 'unreadable', reason: 'permission denied' };
    return { status: 'unreadable', reason: code ?? String(error) };
  }
}

export interface ParsedFile {
  /** Undefined when the file holds no settings (empty, or only comments). */
  readonly root: InputNode | undefined;
  /** Syntax errors with their position; when any, `root` is undefined. */
  readonly errors: readonly { line: number; column: number; message: string }[];
  readonly warnings: readonly { line: number; column: number; message: string }[];
}

/** Any line that is neither blank nor a comment. */
const HAS_CONTENT = /^[ \t]*[^#\s]/m;

const EMPTY: ParsedFile = { root: undefined, errors: [], warnings: [] };

export async function parseConfigText(text: string, path: string): Promise<ParsedFile> {
  // The layer's template is all comments: skip the parser entirely.
  if (!HAS_CONTENT.test(text)) return EMPTY;
  if (path.endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = INVALID_JSON;
    }
    // Not valid JSON: the YAML parser either accepts it (YAML is a superset) or says where it breaks.
    if (value !== INVALID_JSON) {
      const root = fromPlainValue(value);
      return root.t === 'scalar' && root.value === null ? EMPTY : { root, errors: [], warnings: [] };
    }
  }
  const simple = parseSimpleYaml(text);
  if (simple !== NOT_SIMPLE) return simple === undefined ? EMPTY : { root: simple, errors: [], warnings: [] };
  return parseWithYamlLibrary(text);
}

/** The full YAML 1.2 reader, for what the simple one does not take, and for precise syntax errors. */
export async function parseWithYamlLibrary(text: string): Promise<ParsedFile> {
  const { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } = await import('yaml');
  const lineCounter = new LineCounter();
  // prettyErrors off: its code frame would quote the source line, which may hold a secret.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number | undefined) => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { line: pos.line, column: pos.col };
  };
  const describe = (e: { pos: [number, number]; message: string }) => ({
    ...position(e.pos[0]),
    // Keep the first sentence only: later lines may quote the source.
    message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, ''),
  });
  const warnings = doc.warnings.map(describe);
  if (doc.errors.length > 0) return { root: undefined, errors: doc.errors.map(describe), warnings };
  const lineOf = (node: Node | null | undefined) =>
    node?.range ? lineCounter.linePos(node.range[0]).line : undefined;

  const convert = (value: unknown, depth: number): InputNode => {
    // Aliases are resolved; a self-referencing structure is cut off rather than followed forever.
    let node = value as Node | null | undefined;
    if (isAlias(node)) node = node.resolve(doc) as Node | undefined;
    if (depth > 32) return { t: 'scalar', value: null, line: lineOf(node) };
    if (isMap(node)) {
      const entries: MapEntry[] = [];
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        entries.push({ key, line: lineOf(keyNode), value: convert(pair.value, depth + 1) });
      }
      return { t: 'map', entries, line: lineOf(node) };
    }
    if (isSeq(node)) {
      return { t: 'seq', items: node.items.map((item) => convert(item, depth + 1)), line: lineOf(node) };
    }
    if (isScalar(node)) {
      const v = node.value;
      const scalar =
        v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
          ? v
          : String(v);
      return { t: 'scalar', value: scalar, line: lineOf(node) };
    }
    return { t: 'scalar', value: null, line: lineOf(node) };
  };
  const root = convert(doc.contents, 0);
  return { root: root.t === 'scalar' && root.value === null ? undefined : root, errors: [], warnings };
}

const INVALID_JSON = Symbol('invalid JSON');

/** A value from JSON.parse, without line numbers. */
function fromPlainValue(value: unknown): InputNode {
  if (Array.isArray(value)) return { t: 'seq', items: value.map(fromPlainValue) };
  if (value !== null && typeof value === 'object') {
    return {
      t: 'map',
      entries: Object.entries(value).map(([key, v]) => ({ key, value: fromPlainValue(v) })),
    };
  }
  if (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean'
  ) {
    return { t: 'scalar', value };
  }
  return { t: 'scalar', value: null };
}
