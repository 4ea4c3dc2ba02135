// Checks the function's protobuf bytes before they are forwarded unchanged. The receiver's decoder
// (protobufjs) is lenient about wire types: it reads a field by its number whatever its wire type.
// The Collector's is strict and refuses the whole request for one such field, and forwarded bytes
// share requests with the extension's own telemetry. So every field of every message is checked
// against the OTLP schema (wire type, packed encoding, framing, nesting depth, UTF-8 of strings);
// an item (span, metric, log record) that fails is cut out of the bytes and counted, the rest goes
// on. (The decoder refuses invalid UTF-8 for the whole request: cutting the item first keeps that
// to the item too.) Runs on the raw bytes, before decoding, at about a third of the
// cost of that decode (bench/wire-check.bench.ts).

import { isUtf8 } from 'node:buffer';
import type { Type } from 'protobufjs';
import { encodeVarint, WIRE_FIXED32, WIRE_FIXED64, WIRE_LENGTH, WIRE_VARINT } from '../model/otlp-wire.js';

/** Why an item was cut out; self-telemetry counts dropped items by these reasons. */
export type WireProblem = 'malformed_protobuf' | 'invalid_utf8' | 'nested_too_deep';

/** AnyValue nests (arrays, key-value lists); the Collector's own decoder stops at 10,000. */
export const MAX_WIRE_DEPTH = 100;

interface FieldRule {
  readonly wire: number;
  /** Repeated numeric fields may come packed (one length-delimited run) or one by one. */
  readonly packable: boolean;
  readonly utf8: boolean;
  /** Set for message fields, after construction (types may refer to themselves). */
  message: MessageRule | undefined;
}

interface MessageRule {
  readonly name: string;
  /** By field number; OTLP numbers are small. */
  readonly fields: (FieldRule | undefined)[];
}

const SCALAR_WIRE: Record<string, number> = {
  double: WIRE_FIXED64,
  fixed64: WIRE_FIXED64,
  sfixed64: WIRE_FIXED64,
  float: WIRE_FIXED32,
  fixed32: WIRE_FIXED32,
  sfixed32: WIRE_FIXED32,
  int32: WIRE_VARINT,
  int64: WIRE_VARINT,
  uint32: WIRE_VARINT,
  uint64: WIRE_VARINT,
  sint32: WIRE_VARINT,
  sint64: WIRE_VARINT,
  bool: WIRE_VARINT,
  string: WIRE_LENGTH,
  bytes: WIRE_LENGTH,
};

const rules = new WeakMap<Type, MessageRule>();

function ruleFor(type: Type): MessageRule {
  const known = rules.get(type);
  if (known) return known;
  const rule: MessageRule = { name: type.name, fields: [] };
  rules.set(type, rule);
  for (const field of type.fieldsArray) {
    field.resolve();
    const resolved = field.resolvedType;
    const isMessage = resolved !== null && 'fieldsArray' in resolved;
    // Enums (resolved, not a message) are varints.
    const wire = isMessage ? WIRE_LENGTH : (SCALAR_WIRE[field.type] ?? WIRE_VARINT);
    const entry: FieldRule = {
      wire,
      packable: field.repeated && wire !== WIRE_LENGTH,
      utf8: field.type === 'string',
      message: undefined,
    };
    rule.fields[field.id] = entry;
    if (isMessage) entry.message = ruleFor(resolved as Type);
  }
  return rule;
}

class Malformed extends Error {
  constructor(readonly problem: WireProblem) {
    super(problem);
  }
}

const MALFORMED = new Malformed('malformed_protobuf');
const BAD_UTF8 = new Malformed('invalid_utf8');
const TOO_DEEP = new Malformed('nested_too_deep');

/**
 * Cursor over one buffer; throws MALFORMED on truncation. Its own varint rather than otlp-wire's: this
 * walks every field of every request, so it reads one-byte varints inline and allocates nothing.
 */
class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  varint(end: number): number {
    const b = this.bytes;
    // Tags and most lengths are one byte.
    if (this.pos < end && (b[this.pos] as number) < 0x80) return b[this.pos++] as number;
    let value = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw MALFORMED;
      const byte = b[this.pos++] as number;
      // Values past 2^53 lose precision: only lengths and tags are used, and those are small.
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
    throw MALFORMED;
  }

  /** Skips one value of wire type `wire`; returns where a length-delimited value starts. */
  skip(wire: number, end: number): number {
    switch (wire) {
      case WIRE_VARINT:
        this.varint(end);
        return -1;
      case WIRE_FIXED64:
        this.pos += 8;
        break;
      case WIRE_FIXED32:
        this.pos += 4;
        break;
      case WIRE_LENGTH: {
        const length = this.varint(end);
        const start = this.pos;
        this.pos += length;
        if (this.pos > end) throw MALFORMED;
        return start;
      }
      default:
        // Groups (3, 4) are not in proto3; 6 and 7 do not exist.
        throw MALFORMED;
    }
    if (this.pos > end) throw MALFORMED;
    return -1;
  }
}

/** Checks one message in [r.pos, end); throws a Malformed on the first problem. */
function checkMessage(r: Reader, end: number, rule: MessageRule, depth: number): void {
  if (depth > MAX_WIRE_DEPTH) throw TOO_DEEP;
  while (r.pos < end) checkField(r, end, rule, depth);
  if (r.pos !== end) throw MALFORMED;
}

/** Checks the field at r.pos (a field of `rule`) and moves past it. */
function checkField(r: Reader, end: number, rule: MessageRule, depth: number): void {
  const tag = r.varint(end);
  const number = tag > 0xffffffff ? -1 : tag >>> 3;
  const wire = tag & 7;
  if (number <= 0) throw MALFORMED;
  const field = rule.fields[number];
  if (field === undefined) {
    // An unknown field: framing only, as every decoder skips it.
    r.skip(wire, end);
    return;
  }
  if (wire !== field.wire) {
    if (!(field.packable && wire === WIRE_LENGTH)) throw MALFORMED;
    const start = r.skip(WIRE_LENGTH, end);
    checkPacked(r.bytes, start, r.pos, field.wire);
    return;
  }
  const start = r.skip(wire, end);
  if (wire !== WIRE_LENGTH) return;
  if (field.message) {
    const fieldEnd = r.pos;
    r.pos = start;
    checkMessage(r, fieldEnd, field.message, depth + 1);
  } else if (field.utf8 && !isAsciiOrUtf8(r.bytes, start, r.pos)) {
    throw BAD_UTF8;
  }
}

/** Most strings are short ASCII: a loop is cheaper than a native call for those. */
function isAsciiOrUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    if ((bytes[i] as number) >= 0x80) return isUtf8(bytes.subarray(start, end));
  }
  return true;
}

function checkPacked(bytes: Uint8Array, start: number, end: number, wire: number): void {
  if (wire === WIRE_FIXED64 || wire === WIRE_FIXED32) {
    if ((end - start) % (wire === WIRE_FIXED64 ? 8 : 4) !== 0) throw MALFORMED;
    return;
  }
  // Varints: the run must end on a final byte.
  if (end > start && (bytes[end - 1] as number) >= 0x80) throw MALFORMED;
}

export interface WireCheckResult {
  /** The bytes to forward: the input itself when nothing was cut. */
  readonly bytes: Uint8Array;
  /** Items cut out, by problem. */
  readonly rejected: Partial<Record<WireProblem, number>>;
  readonly rejectedItems: number;
  /** The first problem, for the message to the sender (`wrong wire type …`); undefined when clean. */
  readonly firstProblem: string | undefined;
}

/**
 * Checks an Export{Trace,Metrics,Logs}ServiceRequest: request → ResourceX (field 1) → ScopeX
 * (field 2) → items (field 2). A bad item is cut out; a bad field of a resource or scope (its
 * attributes, say) costs that resource or scope with its items. Throws an Error when the request's
 * own framing is broken (nothing in it can be trusted).
 */
export function checkExportRequest(requestType: Type, bytes: Uint8Array): WireCheckResult {
  const request = ruleFor(requestType);
  const resourceRule = request.fields[1]?.message;
  const scopeRule = resourceRule?.fields[2]?.message;
  const itemRule = scopeRule?.fields[2]?.message;
  if (!resourceRule || !scopeRule || !itemRule)
    throw new Error(`${requestType.name} is not an OTLP export request`);

  const cuts: { start: number; end: number }[] = [];
  const rejected: Partial<Record<WireProblem, number>> = {};
  let rejectedItems = 0;
  let firstProblem: string | undefined;
  const reject = (problem: WireProblem, items: number, what: string) => {
    rejected[problem] = (rejected[problem] ?? 0) + items;
    rejectedItems += items;
    firstProblem ??= `${what}: ${PROBLEM_TEXT[problem]}`;
  };

  const r = new Reader(bytes);
  const levels = [resourceRule, scopeRule] as const;
  /** Checks a container at `level` (0 resource, 1 scope) in [r.pos, end); cuts bad children. */
  const container = (end: number, level: 0 | 1, depth: number): void => {
    const rule = levels[level];
    while (r.pos < end) {
      const fieldStart = r.pos;
      const tag = r.varint(end);
      const number = Math.floor(tag / 8);
      const wire = tag & 7;
      if (number === 2 && wire === WIRE_LENGTH) {
        const start = r.skip(WIRE_LENGTH, end);
        const childEnd = r.pos;
        r.pos = start;
        try {
          if (level === 0) container(childEnd, 1, depth + 1);
          else checkMessage(r, childEnd, itemRule, depth + 1);
        } catch (error) {
          if (!(error instanceof Malformed)) throw error;
          cuts.push({ start: fieldStart, end: childEnd });
          const items = level === 0 ? countChildren(bytes, start, childEnd) : 1;
          reject(error.problem, items, level === 0 ? scopeRule.name : itemRule.name);
        }
        r.pos = childEnd;
        continue;
      }
      // Any other field of the container (resource, scope, schema URL, …), checked by the schema.
      r.pos = fieldStart;
      checkField(r, end, rule, depth);
    }
    if (r.pos !== end) throw MALFORMED;
  };

  while (r.pos < bytes.length) {
    const fieldStart = r.pos;
    let tag: number;
    let start: number;
    try {
      tag = r.varint(bytes.length);
      start = r.skip(tag & 7, bytes.length);
    } catch {
      throw new Error(`${requestType.name}: malformed protobuf framing at byte ${fieldStart}`);
    }
    if (tag !== ((1 << 3) | WIRE_LENGTH)) continue;
    const end = r.pos;
    r.pos = start;
    try {
      container(end, 0, 1);
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
      cuts.push({ start: fieldStart, end });
      reject(error.problem, countGrandchildren(bytes, start, end), resourceRule.name);
    }
    r.pos = end;
  }
  if (cuts.length === 0) return { bytes, rejected, rejectedItems, firstProblem };
  return { bytes: cutOut(bytes, cuts), rejected, rejectedItems, firstProblem };
}

const PROBLEM_TEXT: Record<WireProblem, string> = {
  malformed_protobuf: 'malformed protobuf (a field with the wrong wire type, or truncated)',
  invalid_utf8: 'a string field that is not valid UTF-8',
  nested_too_deep: `values nested deeper than ${MAX_WIRE_DEPTH} levels`,
};

/** Field-2 entries in [start, end), as far as the framing can be read (at least 1). */
function countChildren(bytes: Uint8Array, start: number, end: number): number {
  const r = new Reader(bytes);
  r.pos = start;
  let n = 0;
  try {
    while (r.pos < end) {
      const tag = r.varint(end);
      r.skip(tag & 7, end);
      if (tag === ((2 << 3) | WIRE_LENGTH)) n++;
    }
  } catch {
    // Count what was readable.
  }
  return Math.max(1, n);
}

/** Items of a resource record (its scopes' field-2 entries), as far as readable (at least 1). */
function countGrandchildren(bytes: Uint8Array, start: number, end: number): number {
  const r = new Reader(bytes);
  r.pos = start;
  let n = 0;
  try {
    while (r.pos < end) {
      const tag = r.varint(end);
      const at = r.skip(tag & 7, end);
      if (tag === ((2 << 3) | WIRE_LENGTH)) n += countChildren(bytes, at, r.pos);
    }
  } catch {
    // Count what was readable.
  }
  return Math.max(1, n);
}

/**
 * The request without the byte ranges `cuts` (whole fields, each inside one record), with the
 * length prefixes of the enclosing resource and scope records rewritten.
 */
function cutOut(bytes: Uint8Array, cuts: readonly { start: number; end: number }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  /** Copies [start, end) as a field body, minus cuts, re-framing records at `level` < 2. */
  const copy = (start: number, end: number, level: number): Uint8Array[] => {
    const out: Uint8Array[] = [];
    const r = new Reader(bytes);
    r.pos = start;
    while (r.pos < end) {
      const fieldStart = r.pos;
      const tag = r.varint(end);
      const valueStart = r.skip(tag & 7, end);
      const fieldEnd = r.pos;
      if (cuts.some((c) => c.start === fieldStart)) continue;
      const container =
        level === 0 ? tag === ((1 << 3) | WIRE_LENGTH) : level === 1 && tag === ((2 << 3) | WIRE_LENGTH);
      if (!container || !cuts.some((c) => c.start > fieldStart && c.end <= fieldEnd)) {
        out.push(bytes.subarray(fieldStart, fieldEnd));
        continue;
      }
      const inner = copy(valueStart, fieldEnd, level + 1);
      const length = inner.reduce((n, p) => n + p.byteLength, 0);
      out.push(encodeVarint(tag), encodeVarint(length), ...inner);
    }
    return out;
  };
  parts.push(...copy(0, bytes.length, 0));
  return Buffer.concat(parts);
}
