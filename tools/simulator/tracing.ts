// X-Ray trace header values as Lambda hands them out. Under PassThrough tracing (Lambda's default)
// the header is `Root=…;Parent=…;Sampled=0;Lineage=…` or, when a caller's header carried no decision,
// only `Root=…;Lineage=…`; under Active tracing (or an upstream caller that sampled) `Sampled=1`.
// The function sees the same Root with Parent set to the platform invocation span id, so the
// handler's span sits under the span the extension builds from platform.start.
import { randomBytes } from 'node:crypto';
import type { TracingMode } from './types.js';

export const TRACE_HEADER_TYPE = 'X-Amzn-Trace-Id';

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

function xrayRoot(epochMs = Date.now()): string {
  const epochSeconds = Math.floor(epochMs / 1000)
    .toString(16)
    .padStart(8, '0');
  return `Root=1-${epochSeconds}-${randomHex(12)}`;
}

/** Lambda's loop-detection key: `<8 hex>:<count>`. */
function lineage(): string {
  return `Lineage=${randomHex(4)}:0`;
}

/** A header with an explicit decision (Sampled=1 or 0), as Active or PassThrough tracing send it. */
export function newXrayTraceValue(sampled = true): string {
  return `${xrayRoot()};Parent=${randomHex(8)};Sampled=${sampled ? 1 : 0};${lineage()}`;
}

/**
 * The header of one invocation under a tracing mode. `pass-through` (the default) alternates its two
 * forms by invocation number: odd ones `Root;Parent;Sampled=0;Lineage`, even ones `Root;Lineage`.
 */
export function traceValueFor(mode: TracingMode, invocationNumber: number): string {
  switch (mode) {
    case 'active':
      return newXrayTraceValue(true);
    case 'upstream-sampled':
      // A caller that traced itself (its segment is the Parent, started a moment ago) and sampled.
      return `${xrayRoot(Date.now() - 250)};Parent=${randomHex(8)};Sampled=1;${lineage()}`;
    case 'pass-through-sampled-0':
      return newXrayTraceValue(false);
    case 'pass-through-undecided':
      return `${xrayRoot()};${lineage()}`;
    case 'pass-through':
      return invocationNumber % 2 === 1 ? newXrayTraceValue(false) : `${xrayRoot()};${lineage()}`;
  }
}

/** Splits `K=V;K2=V2` keeping the key order (extra keys such as Lineage are preserved). */
export function parseTraceValue(value: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    pairs.push([part.slice(0, eq).trim(), part.slice(eq + 1).trim()]);
  }
  return pairs;
}

/** The header the function receives: same Root and Sampled (and extra keys), Parent = `spanId`. */
export function functionTraceHeader(platformValue: string, spanId: string): string {
  const pairs = parseTraceValue(platformValue);
  const parent = pairs.find(([k]) => k === 'Parent');
  if (parent) parent[1] = spanId;
  else {
    const rootAt = pairs.findIndex(([k]) => k === 'Root');
    pairs.splice(rootAt + 1, 0, ['Parent', spanId]);
  }
  return pairs.map(([k, v]) => `${k}=${v}`).join(';');
}
