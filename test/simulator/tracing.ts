// X-Ray trace header values as Lambda hands them out: Root=1-<8 hex epoch s>-<24 hex>;Parent=<16 hex>;
// Sampled=0|1. The function sees the same Root with Parent set to the platform invocation span id, so
// the handler's span sits under the span the extension builds from platform.start.
import { randomBytes } from 'node:crypto';

export const TRACE_HEADER_TYPE = 'X-Amzn-Trace-Id';

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

export function newXrayTraceValue(sampled = true): string {
  const epochSeconds = Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0');
  return `Root=1-${epochSeconds}-${randomHex(12)};Parent=${randomHex(8)};Sampled=${sampled ? 1 : 0}`;
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
