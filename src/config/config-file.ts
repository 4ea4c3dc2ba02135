// Reading one configuration file into the schema's input form, with line numbers for error
// messages. Importing and warming the YAML library costs about ten milliseconds of cold start, so
// it is imported only when needed: files with no settings skip parsing, plain files take the
// simple reader (simple-yaml.ts), JSON files take JSON.parse; the library (yaml-document.ts) reads everything else
// and explains syntax errors.

import { platform } from '../platform/index.js';
import type { FileAccess } from '../platform/port.js';
import { CONFIG_LIMITS, findExcessNesting, type ParsedFile } from './config-limits.js';
import type { InputNode } from './schema.js';
import { NOT_SIMPLE, parseSimpleYaml } from './simple-yaml.js';

export type { ParsedFile } from './config-limits.js';

export type FileRead =
  | { readonly status: 'absent' }
  | { readonly status: 'unreadable'; readonly reason: string }
  | { readonly status: 'read'; readonly text: string };

/** UTF-8 as Buffer#toString reads it: invalid sequences replaced, a byte order mark kept. */
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Reads at most CONFIG_LIMITS.maxBytes of a regular file. Anything but a regular file (a FIFO,
 * /dev/zero, a socket) is refused before a byte is read, without waiting for a FIFO's writer, and a
 * file that grows while read stops at the limit.
 */
export async function readConfigFile(path: string, files: FileAccess = platform().files): Promise<FileRead> {
  const limit = CONFIG_LIMITS.maxBytes;
  const read = await files.readRegularFile(path, limit);
  switch (read.kind) {
    case 'read':
      return { status: 'read', text: UTF8.decode(read.bytes) };
    case 'absent':
      return { status: 'absent' };
    case 'directory':
      return { status: 'unreadable', reason: 'it is a directory' };
    case 'not-regular':
      return { status: 'unreadable', reason: `it is not a regular file (${read.what})` };
    case 'too-large':
      return {
        status: 'unreadable',
        reason: `it is larger than ${limit / 1024} KiB, the limit for a configuration file`,
      };
    case 'denied':
      return { status: 'unreadable', reason: 'permission denied' };
    case 'failed':
      return { status: 'unreadable', reason: read.code };
  }
}

/** Any line that is neither blank nor a comment. */
const HAS_CONTENT = /^[ \t]*[^#\s]/m;

const EMPTY: ParsedFile = { root: undefined, errors: [], warnings: [] };

export async function parseConfigText(text: string, path: string): Promise<ParsedFile> {
  // The layer's template is all comments: skip the parser entirely.
  if (!HAS_CONTENT.test(text)) return EMPTY;
  // Before either reader: both recurse on nesting (and so would a JSON file's conversion).
  const tooDeep = findExcessNesting(text);
  if (tooDeep) {
    const message = `nested deeper than ${CONFIG_LIMITS.maxDepth} levels`;
    return { root: undefined, errors: [{ ...tooDeep, message, kind: 'limit' }], warnings: [] };
  }
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
  const { parseWithYamlLibrary } = await import('./yaml-document.js');
  return parseWithYamlLibrary(text, CONFIG_LIMITS);
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
