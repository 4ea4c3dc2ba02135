// Joins the function's own spans (received over OTLP) and the platform invocation span (built from
// Telemetry API records) into one trace.
//
// The function's handler span is found by an invocation id attribute (faas.invocation_id, the older
// faas.execution, aws.lambda.request_id, aws.request_id) on a SERVER or parentless span, or, failing
// that, as a parentless span whose trace id is an invocation's X-Ray trace id. Then:
//  (i)   handler in the invocation's trace with a parent already: nothing to do (X-Ray propagation
//        made the platform span, or a span below it, its parent);
//  (ii)  handler is a root span: it becomes a child of the platform span (parentSpanId rewritten);
//        when its trace differs, the invocation adopts the function's trace id, so the platform
//        span is emitted in that trace;
//  (iii) handler has a parent in another trace (an upstream caller): the platform span joins that
//        trace as the handler's sibling, under the same parent.
// Every decision is reported to the directory (adoptFunctionTrace), which then releases the platform
// span it was holding back for this moment. Adoption may be refused (the platform span already
// left in another trace); the function's spans are then left untouched rather than pointing at a
// parent that lives in another trace.

import type { ChunkProducer, ChunkSink, TelemetryChunk } from '../model/chunk.js';
import type {
  InvocationDirectory as Directory,
  InvocationTraceContext,
} from '../model/invocation-directory.js';

/** The converter's invocation directory, as far as correlation needs it. */
export type InvocationDirectory = Directory<InvocationTraceContext>;
import type { WireResourceSpans, WireSpan } from './otlp-messages.js';
import { idToHex, stringAttribute } from './otlp-messages.js';

export type { InvocationTraceContext } from '../model/invocation-directory.js';

/** The hook the receiver calls with every decoded traces request before making its chunk. */
export interface SpanCorrelator {
  /**
   * May rewrite spans in place; `modified` tells the receiver to re-encode the request. `waiting`:
   * a handler span names an invocation not known yet (its platform.start is still to come).
   */
  observeResourceSpans(resourceSpans: readonly WireResourceSpans[]): { modified: boolean; waiting?: boolean };
  /**
   * Takes a `waiting` request to join later: `makeChunks(modified)` encodes it then. False when it
   * cannot be held (holding off, or the bound is reached): the receiver delivers it now.
   */
  hold?(
    resourceSpans: readonly WireResourceSpans[],
    spans: number,
    makeChunks: (modified: boolean) => TelemetryChunk[],
  ): boolean;
}

export const NO_CORRELATION: SpanCorrelator = {
  observeResourceSpans: () => ({ modified: false }),
};

/**
 * Attributes that name an invocation for sure: worth holding a request for when the invocation is
 * not known yet (aws.request_id also names AWS service calls, so it never makes a request wait).
 */
const HOLD_ATTRIBUTES: readonly string[] = ['faas.invocation_id', 'faas.execution', 'aws.lambda.request_id'];

const FAAS_INSTANCE_KEYS: readonly string[] = ['faas.instance'];

/** Span attributes that carry the Lambda request id, most specific first. */
export const INVOCATION_ID_ATTRIBUTES: readonly string[] = [
  'faas.invocation_id',
  'faas.execution',
  'aws.lambda.request_id',
  'aws.request_id',
];

/**
 * Set on the handler span by the function-side durable module: the invocation ran this durable
 * execution, whose invocations all join one trace (the handler continues the execution's context).
 */
export const DURABLE_EXECUTION_ARN_ATTRIBUTE = 'aws.lambda.durable_execution.arn';
const DURABLE_ARN_KEYS: readonly string[] = [DURABLE_EXECUTION_ARN_ATTRIBUTE];

const SPAN_KIND_SERVER = 2;

export type CorrelationOutcome =
  | 'already-joined'
  | 'parented'
  | 'adopted-root'
  | 'adopted-sibling'
  | 'refused';

export interface CorrelationCounters {
  readonly outcomes: Readonly<Record<CorrelationOutcome, number>>;
}

/** The bounded hold for requests whose invocation is not known yet (Managed Instances send no INVOKE). */
export interface CorrelationHold {
  /** How long a request waits for its invocation's platform.start, ms. */
  maxHoldMs: number;
  /** Requests held at once; beyond it requests are delivered as they are. Default 256. */
  maxRequests?: number;
  /** Spans held at once. Default 16384. */
  maxSpans?: number;
  /** Where requests go when they are released outside a flush (as soon as their invocation is known). */
  sink: ChunkSink;
  now?: () => number;
}

interface HeldRequest {
  resourceSpans: readonly WireResourceSpans[];
  spans: number;
  heldAtMs: number;
  makeChunks: (modified: boolean) => TelemetryChunk[];
}

export interface HoldCounters {
  /** Requests held for an invocation not known yet. */
  held: number;
  /** Held requests whose invocation became known in time (then joined). */
  released: number;
  /** Held requests delivered as they were: the hold ran out, or the final flush came. */
  expired: number;
  /** Requests not held because the bound was reached. */
  overflow: number;
}

export class TraceCorrelator implements SpanCorrelator, CorrelationCounters, ChunkProducer {
  readonly outcomes: Record<CorrelationOutcome, number> = {
    'already-joined': 0,
    parented: 0,
    'adopted-root': 0,
    'adopted-sibling': 0,
    refused: 0,
  };

  private readonly find: (requestId: string) => InvocationTraceContext | undefined;
  private holdOptions: CorrelationHold | undefined;
  private readonly heldRequests: HeldRequest[] = [];
  private heldSpans = 0;
  readonly holds: HoldCounters = { held: 0, released: 0, expired: 0, overflow: 0 };

  private functionInstanceSeen = false;

  /**
   * `onFunctionInstance`: the function's resource names its faas.instance (its SDK's Lambda
   * detector); called once, with the first value seen.
   */
  constructor(
    private readonly directory: InvocationDirectory,
    private readonly onFunctionInstance?: (instance: string) => void,
  ) {
    // Deciding must not fix the platform span's id: when the function's first export arrives before
    // platform.start, Lambda's span id (the function's X-Ray Parent) is still to come.
    this.find = directory.peekByRequestId
      ? (id) => directory.peekByRequestId?.(id)
      : (id) => directory.lookupByRequestId(id);
  }

  /**
   * Holds requests whose handler span names an invocation not known yet, for at most
   * `maxHoldMs`: where no INVOKE comes (Managed Instances), platform.start is the first word of a
   * request id and arrives in a telemetry batch, after the function's SDK exported.
   */
  enableHold(options: CorrelationHold): void {
    this.holdOptions = options;
  }

  /** Requests held now. */
  get heldRequestCount(): number {
    return this.heldRequests.length;
  }

  hold(
    resourceSpans: readonly WireResourceSpans[],
    spans: number,
    makeChunks: (modified: boolean) => TelemetryChunk[],
  ): boolean {
    const o = this.holdOptions;
    if (o === undefined || !(o.maxHoldMs > 0)) return false;
    if (
      this.heldRequests.length >= (o.maxRequests ?? 256) ||
      this.heldSpans + spans > (o.maxSpans ?? 16_384)
    ) {
      this.holds.overflow++;
      return false;
    }
    this.heldRequests.push({ resourceSpans, spans, heldAtMs: (o.now ?? Date.now)(), makeChunks });
    this.heldSpans += spans;
    this.holds.held++;
    return true;
  }

  /**
   * Joins and delivers (to the hold's sink) every held request whose invocations are all known now.
   * Call after new platform records were read.
   */
  retryHeld(): void {
    if (this.heldRequests.length === 0) return;
    const sink = this.holdOptions?.sink;
    for (const chunk of this.release((r) => !this.waiting(r.resourceSpans), 'released')) sink?.enqueue(chunk);
  }

  /** At a flush: requests held past their time (all of them when `final`) go out as they are. */
  collect(nowMs: number, final: boolean): TelemetryChunk[] {
    if (this.heldRequests.length === 0) return [];
    const ready = this.release((r) => !this.waiting(r.resourceSpans), 'released');
    const maxHoldMs = this.holdOptions?.maxHoldMs ?? 0;
    const expired = this.release((r) => final || nowMs - r.heldAtMs >= maxHoldMs, 'expired');
    return [...ready, ...expired];
  }

  private release(which: (r: HeldRequest) => boolean, outcome: 'released' | 'expired'): TelemetryChunk[] {
    const chunks: TelemetryChunk[] = [];
    for (let i = 0; i < this.heldRequests.length; ) {
      const r = this.heldRequests[i] as HeldRequest;
      if (!which(r)) {
        i++;
        continue;
      }
      this.heldRequests.splice(i, 1);
      this.heldSpans -= r.spans;
      this.holds[outcome]++;
      const { modified } = this.joinRequest(r.resourceSpans);
      try {
        for (const chunk of r.makeChunks(modified)) chunks.push(chunk);
      } catch {
        // Encoding a request that decoded once does not fail; were it to, only this request is lost.
      }
    }
    return chunks;
  }

  private readInstance(resourceSpans: readonly WireResourceSpans[]): void {
    for (const rs of resourceSpans) {
      const attributes = rs.resource?.attributes;
      if (!attributes) continue;
      const instance = stringAttribute(attributes, FAAS_INSTANCE_KEYS);
      if (instance !== undefined && instance !== '') {
        this.functionInstanceSeen = true;
        this.onFunctionInstance?.(instance);
        return;
      }
    }
  }

  /** True when a handler span names an invocation (for sure) that the directory does not know. */
  private waiting(resourceSpans: readonly WireResourceSpans[]): boolean {
    for (const rs of resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          if (span.parentSpanId.length !== 0 && span.kind !== SPAN_KIND_SERVER) continue;
          const requestId = stringAttribute(span.attributes, HOLD_ATTRIBUTES);
          if (requestId !== undefined && this.find(requestId) === undefined) return true;
        }
      }
    }
    return false;
  }

  observeResourceSpans(resourceSpans: readonly WireResourceSpans[]): {
    modified: boolean;
    waiting?: boolean;
  } {
    if (!this.functionInstanceSeen && this.onFunctionInstance !== undefined) this.readInstance(resourceSpans);
    const holding = this.holdOptions !== undefined && this.holdOptions.maxHoldMs > 0;
    if (holding && this.waiting(resourceSpans)) return { modified: false, waiting: true };
    return this.joinRequest(resourceSpans);
  }

  private joinRequest(resourceSpans: readonly WireResourceSpans[]): { modified: boolean } {
    let modified = false;
    // One decision per invocation per request: later candidates are other spans of the same handler.
    const decided = new Set<string>();
    for (const rs of resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          const found = this.invocationOf(span);
          if (!found || decided.has(found.requestId)) continue;
          decided.add(found.requestId);
          if (this.join(span, found.requestId, found.invocation)) modified = true;
        }
      }
    }
    return { modified };
  }

  private invocationOf(
    span: WireSpan,
  ): { requestId: string; invocation: InvocationTraceContext } | undefined {
    const isRoot = span.parentSpanId.length === 0;
    if (isRoot || span.kind === SPAN_KIND_SERVER) {
      const requestId = stringAttribute(span.attributes, INVOCATION_ID_ATTRIBUTES);
      if (requestId !== undefined) {
        // aws.request_id also names AWS service request ids; only a known invocation counts.
        const invocation = this.find(requestId);
        if (invocation) return { requestId, invocation };
      }
    }
    if (isRoot) {
      const requestId = this.directory.lookupByTraceId(idToHex(span.traceId));
      const invocation = requestId === undefined ? undefined : this.find(requestId);
      if (requestId !== undefined && invocation) return { requestId, invocation };
    }
    return undefined;
  }

  /** Applies rules (i)-(iii); true when the span was rewritten. */
  private join(handler: WireSpan, requestId: string, invocation: InvocationTraceContext): boolean {
    if (handler.spanId.length !== 8 || handler.traceId.length !== 16) return false;
    const traceId = idToHex(handler.traceId);
    const parentSpanId = idToHex(handler.parentSpanId);
    const durableExecutionArn = stringAttribute(handler.attributes, DURABLE_ARN_KEYS);
    const durable = durableExecutionArn === undefined ? {} : { durableExecutionArn };
    if (parentSpanId !== '' && traceId === invocation.traceId) {
      // Same trace: releasing the held platform span is all that is left to do.
      this.directory.adoptFunctionTrace(requestId, { traceId, ...durable });
      this.outcomes['already-joined']++;
      return false;
    }
    if (parentSpanId === '') {
      if (!this.directory.adoptFunctionTrace(requestId, { traceId, parentsFunctionSpan: true, ...durable })) {
        this.outcomes.refused++;
        return false;
      }
      // The adoption fixed the span id; it is the one read above (nothing ran in between).
      handler.parentSpanId = Buffer.from(invocation.spanId, 'hex');
      this.outcomes[traceId === invocation.traceId ? 'parented' : 'adopted-root']++;
      return true;
    }
    // (iii) also joins every invocation of a durable execution: each handler continues the
    // execution's restored context under its original parent, and its platform span follows.
    if (this.directory.adoptFunctionTrace(requestId, { traceId, parentSpanId, ...durable })) {
      this.outcomes['adopted-sibling']++;
    } else {
      this.outcomes.refused++;
    }
    return false;
  }
}
