// Datadog's propagation headers ↔ a W3C trace context.
//
// x-datadog-trace-id and x-datadog-parent-id are unsigned 64-bit decimals; a 128-bit trace id
// keeps its upper 64 bits in x-datadog-tags as `_dd.p.tid=<16 hex>`. x-datadog-sampling-priority
// is an integer: above 0 keeps the trace (1 auto, 2 user), 0 or below drops it.

import {
  type DurableTraceContext,
  fromW3cHeaders,
  headerValue,
  isValidSpanId,
  isValidTraceId,
  TRACE_FLAG_SAMPLED,
} from './trace-context.js';

export const DATADOG_TRACE_ID = 'x-datadog-trace-id';
export const DATADOG_PARENT_ID = 'x-datadog-parent-id';
export const DATADOG_SAMPLING_PRIORITY = 'x-datadog-sampling-priority';
export const DATADOG_TAGS = 'x-datadog-tags';

const UINT64_MAX = (1n << 64n) - 1n;
const DECIMAL = /^\d{1,20}$/;
const UPPER_TRACE_ID = /^[0-9a-f]{16}$/;
const SAMPLING_PRIORITY = /^-?\d{1,3}$/;

/** An unsigned 64-bit decimal as 16 hex digits; undefined when it is not one or is zero. */
export function decimalToHex64(value: unknown): string | undefined {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !DECIMAL.test(text.trim())) return undefined;
  const n = BigInt(text.trim());
  if (n === 0n || n > UINT64_MAX) return undefined;
  return n.toString(16).padStart(16, '0');
}

export function hex64ToDecimal(hex: string): string {
  return BigInt(`0x${hex}`).toString(10);
}

/** The `_dd.p.tid` tag (upper 64 bits of the trace id), lowercase, when present and well formed. */
export function upperTraceId(tags: unknown): string | undefined {
  const text = headerValue(tags);
  if (text === undefined) return undefined;
  for (const tag of text.split(',')) {
    const eq = tag.indexOf('=');
    if (eq <= 0 || tag.slice(0, eq).trim() !== '_dd.p.tid') continue;
    const value = tag
      .slice(eq + 1)
      .trim()
      .toLowerCase();
    return UPPER_TRACE_ID.test(value) ? value : undefined;
  }
  return undefined;
}

/** Sampled unless a priority of 0 or below says the trace was dropped; no priority means no decision, kept. */
function sampledFlag(priority: unknown): number {
  const text = typeof priority === 'number' ? String(priority) : headerValue(priority);
  if (text === undefined || !SAMPLING_PRIORITY.test(text)) return TRACE_FLAG_SAMPLED;
  return Number(text) > 0 ? TRACE_FLAG_SAMPLED : 0;
}

/**
 * A W3C context from Datadog headers (keys lowercase). A valid `traceparent` in the same headers is
 * used when the Datadog ids are incomplete; when both are complete the Datadog ids win (Datadog's
 * own extraction order), taking tracestate and baggage from the W3C headers of the same trace.
 */
export function fromDatadogHeaders(
  headers: Readonly<Record<string, unknown>>,
): DurableTraceContext | undefined {
  const w3c = fromW3cHeaders(headers);
  const lower = decimalToHex64(headers[DATADOG_TRACE_ID]);
  const parent = decimalToHex64(headers[DATADOG_PARENT_ID]);
  if (lower === undefined || parent === undefined) return w3c;
  const traceId = (upperTraceId(headers[DATADOG_TAGS]) ?? '0000000000000000') + lower;
  if (!isValidTraceId(traceId) || !isValidSpanId(parent)) return w3c;
  const context: DurableTraceContext = {
    traceId,
    spanId: parent,
    traceFlags: sampledFlag(headers[DATADOG_SAMPLING_PRIORITY]),
  };
  if (w3c !== undefined && w3c.traceId === traceId) {
    if (w3c.traceState !== undefined) context.traceState = w3c.traceState;
    if (w3c.baggage !== undefined) context.baggage = w3c.baggage;
  } else {
    const baggage = headerValue(headers['baggage']);
    if (baggage !== undefined) context.baggage = baggage;
  }
  return context;
}

/**
 * Datadog headers for a W3C context, as Datadog's tracers inject them (for tests and for writing a
 * checkpoint Datadog's libraries can read).
 */
export function toDatadogHeaders(c: DurableTraceContext): Record<string, string> {
  const upper = c.traceId.slice(0, 16);
  const headers: Record<string, string> = {
    [DATADOG_TRACE_ID]: hex64ToDecimal(c.traceId.slice(16)),
    [DATADOG_PARENT_ID]: hex64ToDecimal(c.spanId),
    [DATADOG_SAMPLING_PRIORITY]: c.traceFlags & TRACE_FLAG_SAMPLED ? '1' : '0',
  };
  if (upper !== '0000000000000000') headers[DATADOG_TAGS] = `_dd.p.tid=${upper}`;
  return headers;
}
