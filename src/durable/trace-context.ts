// The trace context a durable execution carries from one invocation to the next, in W3C terms, and
// the comparisons checkpointing needs. Pure functions: no OpenTelemetry API, no SDK.

/** A W3C trace context: what the next invocation's handler span continues. */
export interface DurableTraceContext {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /**
   * 16 lowercase hex digits, not all zero: the parent of the handler span. Across an execution this
   * is the first invocation's parent, so every invocation of the execution becomes its sibling.
   */
  spanId: string;
  /** W3C trace flags; bit 0 is "sampled". */
  traceFlags: number;
  /** The W3C `tracestate` header value. */
  traceState?: string;
  /** The W3C `baggage` header value. */
  baggage?: string;
}

/** Where an extracted context came from. */
export type TraceContextSource = 'extractor' | 'checkpoint' | 'datadog-checkpoint' | 'input';

export interface ExtractedTraceContext extends DurableTraceContext {
  source: TraceContextSource;
  /** The checkpoint operation's name, when the context came from one. */
  checkpoint?: string;
}

export const TRACE_FLAG_SAMPLED = 0x01;

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ALL_ZERO = /^0+$/;
// version-traceid-parentid-flags; future versions may append fields after the flags.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
/** Header values longer than this are not trace context (W3C caps tracestate at 512 bytes). */
const MAX_HEADER_CHARS = 8192;

export function isValidTraceId(id: unknown): id is string {
  return typeof id === 'string' && TRACE_ID.test(id) && !ALL_ZERO.test(id);
}

export function isValidSpanId(id: unknown): id is string {
  return typeof id === 'string' && SPAN_ID.test(id) && !ALL_ZERO.test(id);
}

/** True when `value` is a complete, usable context (ids valid, flags a byte). */
export function isCompleteTraceContext(value: unknown): value is DurableTraceContext {
  if (value === null || typeof value !== 'object') return false;
  const c = value as Partial<DurableTraceContext>;
  return (
    isValidTraceId(c.traceId) &&
    isValidSpanId(c.spanId) &&
    typeof c.traceFlags === 'number' &&
    Number.isInteger(c.traceFlags) &&
    c.traceFlags >= 0 &&
    c.traceFlags <= 0xff &&
    (c.traceState === undefined || typeof c.traceState === 'string') &&
    (c.baggage === undefined || typeof c.baggage === 'string')
  );
}

/** A W3C `traceparent` value, or undefined when it is not one (version ff, zero ids, bad shape). */
export function parseTraceparent(
  value: unknown,
): Pick<DurableTraceContext, 'traceId' | 'spanId' | 'traceFlags'> | undefined {
  if (typeof value !== 'string' || value.length > MAX_HEADER_CHARS) return undefined;
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (!isValidTraceId(traceId) || !isValidSpanId(spanId)) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) };
}

export function formatTraceparent(c: Pick<DurableTraceContext, 'traceId' | 'spanId' | 'traceFlags'>): string {
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A header value worth carrying (a non-empty string of sane length), trimmed. */
export function headerValue(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_HEADER_CHARS) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/**
 * The tracestate without what changes on every hop: Datadog's `p:` (its last parent id) inside the
 * `dd=` member. Members keep their order; whitespace around them is dropped.
 */
export function stableTraceState(traceState: string | undefined): string {
  if (traceState === undefined) return '';
  const members: string[] = [];
  for (const raw of traceState.split(',')) {
    const member = raw.trim();
    if (member === '') continue;
    if (member.startsWith('dd=')) {
      const kept = member
        .slice(3)
        .split(';')
        .filter((entry) => entry !== '' && !entry.startsWith('p:'));
      if (kept.length > 0) members.push(`dd=${kept.join(';')}`);
      continue;
    }
    members.push(member);
  }
  return members.join(',');
}

/**
 * What identifies a context for checkpointing: everything but the parent id (it changes with every
 * span) and Datadog's `p:` in tracestate. Two contexts with the same key need no new checkpoint.
 */
export function contextKey(c: DurableTraceContext): string {
  const baggage = (c.baggage ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '')
    .join(',');
  return `${c.traceId}|${(c.traceFlags & 0xff).toString(16)}|${stableTraceState(c.traceState)}|${baggage}`;
}

/** The payload a checkpoint stores: W3C headers, the way a propagator would inject them. */
export function toHeaders(c: DurableTraceContext): Record<string, string> {
  const headers: Record<string, string> = { traceparent: formatTraceparent(c) };
  if (c.traceState !== undefined && c.traceState !== '') headers['tracestate'] = c.traceState;
  if (c.baggage !== undefined && c.baggage !== '') headers['baggage'] = c.baggage;
  return headers;
}

/** A context from W3C headers (keys already lowercase), or undefined without a valid traceparent. */
export function fromW3cHeaders(headers: Readonly<Record<string, unknown>>): DurableTraceContext | undefined {
  const parent = parseTraceparent(headers['traceparent']);
  if (parent === undefined) return undefined;
  const context: DurableTraceContext = { ...parent };
  const traceState = headerValue(headers['tracestate']);
  if (traceState !== undefined) context.traceState = traceState;
  const baggage = headerValue(headers['baggage']);
  if (baggage !== undefined) context.baggage = baggage;
  return context;
}
