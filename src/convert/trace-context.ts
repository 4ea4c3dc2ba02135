// Reads the trace context Lambda hands over: the X-Ray header value
// (`Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=0|1;…`) and, should Lambda ever send one, a W3C
// `traceparent`. Unknown keys (Lineage, …) are ignored; malformed parts are left out, never thrown.

import { isValidSpanId, isValidTraceId } from './ids.js';

export interface ParsedTraceContext {
  /** W3C form: 32 lowercase hex digits. */
  traceId: string;
  parentSpanId?: string;
  /** undefined when the value leaves the decision open (no Sampled key, or `Sampled=?`). */
  sampled?: boolean;
}

const XRAY_ROOT_LENGTH = 35; // 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx

/** The X-Ray header value's context, or undefined without a valid Root. */
export function parseXRayTraceHeader(value: string): ParsedTraceContext | undefined {
  let traceId: string | undefined;
  let parentSpanId: string | undefined;
  let sampled: boolean | undefined;
  let from = 0;
  while (from <= value.length) {
    let to = value.indexOf(';', from);
    if (to < 0) to = value.length;
    const eq = value.indexOf('=', from);
    if (eq > from && eq < to) {
      const key = value.slice(from, eq).trim();
      const v = value.slice(eq + 1, to).trim();
      if (key === 'Root') traceId = xrayRootToTraceId(v);
      else if (key === 'Parent') {
        const p = v.toLowerCase();
        if (isValidSpanId(p)) parentSpanId = p;
      } else if (key === 'Sampled') {
        if (v === '1') sampled = true;
        else if (v === '0') sampled = false;
      }
    }
    from = to + 1;
  }
  if (traceId === undefined) return undefined;
  const ctx: ParsedTraceContext = { traceId };
  if (parentSpanId !== undefined) ctx.parentSpanId = parentSpanId;
  if (sampled !== undefined) ctx.sampled = sampled;
  return ctx;
}

function xrayRootToTraceId(root: string): string | undefined {
  if (root.length !== XRAY_ROOT_LENGTH || root[0] !== '1' || root[1] !== '-' || root[10] !== '-') {
    return undefined;
  }
  const id = (root.slice(2, 10) + root.slice(11)).toLowerCase();
  return isValidTraceId(id) ? id : undefined;
}

/** A W3C traceparent (`00-<32 hex>-<16 hex>-<2 hex>`), or undefined when malformed. */
export function parseTraceparent(value: string): ParsedTraceContext | undefined {
  const v = value.trim().toLowerCase();
  if (v.length < 55 || v[2] !== '-' || v[35] !== '-' || v[52] !== '-' || v.startsWith('ff')) return undefined;
  const traceId = v.slice(3, 35);
  const parentSpanId = v.slice(36, 52);
  const flags = Number.parseInt(v.slice(53, 55), 16);
  if (!isValidTraceId(traceId) || !isValidSpanId(parentSpanId) || Number.isNaN(flags)) return undefined;
  return { traceId, parentSpanId, sampled: (flags & 1) === 1 };
}

/** Reads a `tracing` object of any type Lambda sends; X-Ray unless the type says otherwise. */
export function parseTracing(type: string | undefined, value: string): ParsedTraceContext | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  if (type !== undefined && type.toLowerCase() === 'traceparent') return parseTraceparent(value);
  return parseXRayTraceHeader(value);
}
