// The plain subset of YAML that configuration files are written in, read without the YAML library:
// importing and warming that library costs about ten milliseconds of cold start, this reader a
// fraction of one. It accepts block mappings and sequences, single-line plain and quoted scalars,
// one-line flow lists of words, and comments. On anything else (anchors, tags, block scalars, flow
// mappings, multi-line values, escapes, floats, duplicate keys, syntax errors) it gives up and the
// YAML library reads the file, so results never differ and errors keep their precise positions.
// A property test holds the two readers to identical output on everything this one accepts.

import { CONFIG_LIMITS } from './config-limits.js';
import type { InputNode, MapEntry } from './schema.js';

/** Returned when the text is outside the subset. */
export const NOT_SIMPLE: unique symbol = Symbol('not simple YAML');

interface Line {
  /** 1-based line number. */
  readonly number: number;
  /** Column of the first content character. */
  indent: number;
  /** The line from `indent` on (comments included; scalars strip their own). */
  text: string;
}

class GiveUp extends Error {}

/**
 * No control characters, byte order mark or exotic white space: JavaScript's trim() and YAML's
 * white space differ on those, so such text goes to the library.
 */
function onlyOrdinaryCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 ? c !== 0x09 && c !== 0x0a && c !== 0x0d : c === 0x7f || c === 0x85) return false;
    if (c >= 0xa0 && /\s|\ufeff/.test(text[i]!)) return false;
  }
  return true;
}

const giveUp = (): never => {
  throw new GiveUp();
};

const KEY = /^([A-Za-z0-9_][A-Za-z0-9_.-]*):(?:[ ]+|$)/;
const DECIMAL_INT = /^-?(?:0|[1-9][0-9]*)$/;
/** Plain scalars YAML 1.2 might read as numbers (other than plain decimal integers) or specials. */
const NUMBER_LIKE = /^[-+]?(?:[0-9]|\.[0-9]|\.(?:inf|Inf|INF|nan|NaN|NAN)$)/;
const PLAIN_START_FORBIDDEN = /^[-?:,[\]{}#&*!|>'"%@`]/;
const FLOW_WORD = /^[A-Za-z0-9_./-]+$/;

export function parseSimpleYaml(text: string): InputNode | undefined | typeof NOT_SIMPLE {
  if (!onlyOrdinaryCharacters(text) || /\r(?!\n)/.test(text)) return NOT_SIMPLE;
  const lines: Line[] = [];
  const raw = text.split(/\r?\n/);
  for (let i = 0; i < raw.length; i++) {
    const line = raw[i]!;
    const content = line.trimStart();
    if (content === '' || content.startsWith('#')) continue;
    const indent = line.length - content.length;
    // Tabs in indentation, directives and document markers are for the full parser.
    if (line.slice(0, indent).includes('\t')) return NOT_SIMPLE;
    if (indent === 0 && (content.startsWith('---') || content.startsWith('...') || content.startsWith('%'))) {
      return NOT_SIMPLE;
    }
    lines.push({ number: i + 1, indent, text: content.trimEnd() });
  }
  if (lines.length === 0) return undefined;
  try {
    const reader = new Reader(lines);
    const root = reader.block(lines[0]!.indent, 1);
    if (reader.position !== lines.length) return NOT_SIMPLE;
    return root;
  } catch (error) {
    if (error instanceof GiveUp) return NOT_SIMPLE;
    throw error;
  }
}

class Reader {
  position = 0;
  constructor(private readonly lines: Line[]) {}

  private peek(): Line | undefined {
    return this.lines[this.position];
  }

  /** A mapping or a sequence whose lines start at `indent`, `depth` levels down. */
  block(indent: number, depth: number): InputNode {
    // Deeper than any configuration: the library path refuses it with its position (no recursion
    // here on a hostile file).
    if (depth > CONFIG_LIMITS.maxDepth) giveUp();
    const first = this.peek()!;
    return isSequenceItem(first.text) ? this.sequence(indent, depth) : this.mapping(indent, depth);
  }

  private mapping(indent: number, depth: number): InputNode {
    const entries: MapEntry[] = [];
    const seen = new Set<string>();
    const line = this.peek()!.number;
    for (let current = this.peek(); current && current.indent === indent; current = this.peek()) {
      if (isSequenceItem(current.text)) break;
      const match = KEY.exec(current.text) ?? giveUp();
      const key = match[1]!;
      // Keys YAML reads as something else (`True`, `01`) would be spelled differently by the parser.
      const resolved = plainValue(key);
      if (String(resolved) !== key) giveUp();
      // Duplicates are an error the full parser reports with its position.
      if (seen.has(key)) giveUp();
      seen.add(key);
      const rest = current.text.slice(match[0].length);
      this.position++;
      entries.push({
        key,
        line: current.number,
        value: this.valueAfter(rest, current, indent, true, depth),
      });
    }
    const next = this.peek();
    if (next && next.indent > indent) giveUp();
    return { t: 'map', entries, line };
  }

  private sequence(indent: number, depth: number): InputNode {
    const items: InputNode[] = [];
    const line = this.peek()!.number;
    for (let current = this.peek(); current && current.indent === indent; current = this.peek()) {
      if (!isSequenceItem(current.text)) break;
      const after = current.text.slice(1);
      const rest = after.trimStart();
      if (rest !== '' && !rest.startsWith('#') && KEY.test(rest)) {
        // `- key: value`: a mapping whose column is where `key` starts; re-read this line as its first.
        current.indent = indent + 1 + (after.length - rest.length);
        current.text = rest;
        items.push(this.mapping(current.indent, depth + 1));
        continue;
      }
      if (rest.startsWith('-')) giveUp(); // nested `- - x`
      this.position++;
      items.push(this.valueAfter(rest, current, indent, false, depth));
    }
    const next = this.peek();
    if (next && next.indent > indent) giveUp();
    return { t: 'seq', items, line };
  }

  /** The value after `key:` or `-`: inline on the same line, or a block on the following lines. */
  private valueAfter(rest: string, at: Line, indent: number, inMapping: boolean, depth: number): InputNode {
    if (rest === '' || rest.startsWith('#')) {
      const next = this.peek();
      if (next && next.indent > indent) return this.block(next.indent, depth + 1);
      // A sequence may sit at its key's own column: `key:` then `- item`.
      if (inMapping && next && next.indent === indent && isSequenceItem(next.text))
        return this.block(indent, depth + 1);
      return { t: 'scalar', value: null, line: at.number };
    }
    return inlineValue(rest, at.number);
  }
}

function isSequenceItem(text: string): boolean {
  return text === '-' || text.startsWith('- ');
}

/** The text after a value: nothing, or a comment. */
function expectEnd(after: string): void {
  if (after !== '' && !/^[ ]+#/.test(after) && after.trim() !== '') giveUp();
}

function inlineValue(text: string, line: number): InputNode {
  const first = text[0];
  if (first === "'") {
    const close = findSingleQuoteEnd(text);
    expectEnd(text.slice(close + 1));
    return { t: 'scalar', value: text.slice(1, close).replaceAll("''", "'"), line };
  }
  if (first === '"') {
    const close = text.indexOf('"', 1);
    if (close < 0) giveUp();
    const inner = text.slice(1, close);
    if (inner.includes('\\')) giveUp(); // escapes are for the full parser
    expectEnd(text.slice(close + 1));
    return { t: 'scalar', value: inner, line };
  }
  if (first === '[') {
    const close = text.indexOf(']');
    if (close < 0) giveUp();
    expectEnd(text.slice(close + 1));
    const inner = text.slice(1, close).trim();
    if (inner === '') return { t: 'seq', items: [], line };
    const items = inner.split(',').map((word) => {
      const trimmed = word.trim();
      if (!FLOW_WORD.test(trimmed) || trimmed.startsWith('-')) giveUp();
      return { t: 'scalar' as const, value: plainValue(trimmed), line };
    });
    return { t: 'seq', items, line };
  }
  if (PLAIN_START_FORBIDDEN.test(text) && !DECIMAL_INT.test(text.split(' ')[0]!)) giveUp();
  // A plain scalar ends at a comment.
  const comment = text.search(/[ \t]#/);
  const value = (comment < 0 ? text : text.slice(0, comment)).trimEnd();
  // `: ` or a trailing `:` would make it a mapping; tabs are left to the parser. (Flow indicators
  // inside a block-context plain scalar are ordinary characters: `Bearer ${env:TOKEN}` is one string.)
  if (value.includes(': ') || value.endsWith(':') || value.includes('\t')) giveUp();
  return { t: 'scalar', value: plainValue(value), line };
}

function findSingleQuoteEnd(text: string): number {
  let i = 1;
  for (;;) {
    const quote = text.indexOf("'", i);
    if (quote < 0) return giveUp();
    if (text[quote + 1] === "'") {
      i = quote + 2;
      continue;
    }
    return quote;
  }
}

/** YAML 1.2 core schema resolution of a plain scalar, for the forms this reader accepts. */
function plainValue(value: string): string | number | boolean | null {
  switch (value) {
    case '~':
    case 'null':
    case 'Null':
    case 'NULL':
      return null;
    case 'true':
    case 'True':
    case 'TRUE':
      return true;
    case 'false':
    case 'False':
    case 'FALSE':
      return false;
  }
  if (DECIMAL_INT.test(value)) {
    const n = Number(value);
    return Number.isSafeInteger(n) && value !== '-0' ? n : giveUp();
  }
  if (NUMBER_LIKE.test(value) || /^0[xo]/.test(value)) giveUp();
  return value;
}
