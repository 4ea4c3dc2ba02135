// Per-request state: one Invocation per requestId from its first sighting (INVOKE, platform.start or
// any later record) until it is fully reported, and the directory the local receiver and the log
// converter use to correlate the function's own telemetry with the platform's invocation span.
//
// Ids are assigned at first sighting so the function's spans can be re-parented under the
// invocation span before that span is exported. An invocation is `active` while its span is held,
// then `finished` (span exported) until its report came; both maps are bounded.

import { isDurableExecutionArn } from '../durable/execution-arn.js';
import type { PlatformSpan } from '../lambda/telemetry-events.js';
import type { EnvironmentPhase } from './phases.js';
import type {
  FunctionTrace,
  InvocationDirectory,
  InvocationIdentity,
} from '../model/invocation-directory.js';

export type {
  FunctionTrace,
  InvocationDirectory,
  InvocationIdentity,
} from '../model/invocation-directory.js';

/** Where the invocation's trace id came from. */
export enum TraceSource {
  /** Nothing from Lambda yet: random ids, replaced by Lambda's context if it comes before a lease. */
  Generated = 0,
  /** The X-Ray (or W3C) value on INVOKE / platform records. */
  Lambda = 1,
  /** The function's own trace, adopted. */
  Function = 2,
}

export class Invocation {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined = undefined;
  sampled = true;
  traceSource = TraceSource.Generated;
  /** The span id came from Lambda's tracing.spanId. */
  spanIdFromLambda = false;
  /** Handed out by the directory: the ids are now fixed. */
  leased = false;
  /** The last tracing value applied, to skip re-parsing the same string on every record. */
  tracingValue: string | undefined = undefined;

  coldstart = false;
  lastSeenMs: number;
  startMs: number | undefined = undefined;
  endMs: number | undefined = undefined;
  deadlineMs: number | undefined = undefined;
  invokedArn: string | undefined = undefined;
  /** The durable execution this invocation ran (from the function's spans or log lines). */
  durableExecutionArn: string | undefined = undefined;
  functionArn: string | undefined = undefined;
  status: string | undefined = undefined;
  errorType: string | undefined = undefined;
  runtimeDurationMs: number | undefined = undefined;
  /** runtimeDone's phase spans, until the report (which may repeat some) came. */
  runtimeDoneSpans: readonly PlatformSpan[] | undefined = undefined;
  /** Phase spans not yet exported. */
  children: PlatformSpan[] = [];
  /** The init/restore phase that belongs to this (first) invocation's trace. */
  phase: EnvironmentPhase | undefined = undefined;
  /** A phase in its own trace this invocation links to. */
  phaseLink: EnvironmentPhase | undefined = undefined;

  runtimeDoneSeen = false;
  reportSeen = false;
  /** The record times, to tell a redelivered record (same time) from a retry's (later time). */
  runtimeDoneMs: number | undefined = undefined;
  reportMs: number | undefined = undefined;
  /** The earlier attempt under the same requestId, for its late records. */
  previousAttempt: Invocation | undefined = undefined;
  invocationCounted = false;
  errorCounted = false;
  oomCounted = false;
  released = false;
  exported = false;
  /** Exported as dropped by the sampler: nothing of it reached a backend. */
  dropped = false;
  /** Bytes this invocation holds against the memory budget (its object and phase spans). */
  heldBytes = 0;
  /** The memory budget refused to hold it: tracked for its metrics only, its spans are dropped. */
  overBudget = false;

  constructor(
    readonly requestId: string,
    readonly firstSeenMs: number,
    traceId: string,
    spanId: string,
  ) {
    this.lastSeenMs = firstSeenMs;
    this.traceId = traceId;
    this.spanId = spanId;
  }
}

export class InvocationTable implements InvocationDirectory {
  readonly active = new Map<string, Invocation>();
  readonly finished = new Map<string, Invocation>();
  private readonly byTrace = new Map<string, string>();
  adoptions = 0;
  /** Adoptions that overrode the sampler's drop (the function's spans need their parent). */
  keptForFunction = 0;

  constructor(private readonly maxEntries: number) {}

  get(requestId: string): Invocation | undefined {
    return this.active.get(requestId) ?? this.finished.get(requestId);
  }

  /** Adds a new active invocation; returns the oldest active one when the bound forces it out. */
  addActive(inv: Invocation): Invocation | undefined {
    let evicted: Invocation | undefined;
    if (this.active.size >= this.maxEntries) {
      const oldest = this.active.values().next().value as Invocation;
      this.active.delete(oldest.requestId);
      evicted = oldest;
    }
    this.active.set(inv.requestId, inv);
    this.byTrace.set(inv.traceId, inv.requestId);
    return evicted;
  }

  /** Moves an exported invocation to `finished` (kept for late records and correlation). */
  finish(inv: Invocation): void {
    this.active.delete(inv.requestId);
    const earlier = this.finished.get(inv.requestId);
    if (earlier !== undefined && earlier !== inv) {
      // A retry under the same requestId replaces its earlier attempt here (still reachable from it).
      this.finished.delete(inv.requestId);
      if (earlier.traceId !== inv.traceId && this.byTrace.get(earlier.traceId) === inv.requestId) {
        this.byTrace.delete(earlier.traceId);
      }
    }
    if (this.finished.size >= this.maxEntries) {
      const oldest = this.finished.values().next().value as Invocation;
      this.forget(oldest);
    }
    // Drop what is no longer needed; the entry stays small.
    inv.children = [];
    if (inv.reportSeen) inv.runtimeDoneSpans = undefined;
    inv.phase = undefined;
    inv.phaseLink = undefined;
    this.finished.set(inv.requestId, inv);
  }

  forget(inv: Invocation): void {
    this.finished.delete(inv.requestId);
    this.active.delete(inv.requestId);
    if (this.byTrace.get(inv.traceId) === inv.requestId) this.byTrace.delete(inv.traceId);
  }

  /** Records a trace id change of an invocation. */
  retrace(inv: Invocation, previousTraceId: string): void {
    if (this.byTrace.get(previousTraceId) === inv.requestId) this.byTrace.delete(previousTraceId);
    this.byTrace.set(inv.traceId, inv.requestId);
  }

  clear(): void {
    this.active.clear();
    this.finished.clear();
    this.byTrace.clear();
  }

  lookupByRequestId(requestId: string): InvocationIdentity | undefined {
    const inv = this.get(requestId);
    // An invocation whose span is never exported must not become the function's spans' parent.
    if (inv === undefined || inv.overBudget) return undefined;
    inv.leased = true;
    return identityOf(inv);
  }

  peekByRequestId(requestId: string): InvocationIdentity | undefined {
    const inv = this.get(requestId);
    return inv === undefined || inv.overBudget ? undefined : identityOf(inv);
  }

  lookupByTraceId(traceId: string): string | undefined {
    return this.byTrace.get(traceId);
  }

  /** Records the durable execution an invocation ran, when only its log lines name it. */
  noteDurableExecution(requestId: string, arn: string): void {
    const inv = this.get(requestId);
    if (inv !== undefined && inv.durableExecutionArn === undefined && isDurableExecutionArn(arn)) {
      inv.durableExecutionArn = arn;
    }
  }

  adoptFunctionTrace(requestId: string, trace: FunctionTrace): boolean {
    const inv = this.get(requestId);
    if (inv === undefined || inv.overBudget || typeof trace?.traceId !== 'string') return false;
    if (isDurableExecutionArn(trace.durableExecutionArn)) inv.durableExecutionArn = trace.durableExecutionArn;
    const traceId = trace.traceId.toLowerCase();
    // A dropped span never left: the function's spans must not be made its children.
    if (inv.exported) return !inv.dropped && inv.traceId === traceId;
    if (!/^[0-9a-f]{32}$/.test(traceId) || /^0+$/.test(traceId)) return false;
    const parent = typeof trace.parentSpanId === 'string' ? trace.parentSpanId.toLowerCase() : undefined;
    const validParent = parent !== undefined && /^[0-9a-f]{16}$/.test(parent) && !/^0+$/.test(parent);
    if (traceId !== inv.traceId) {
      const previous = inv.traceId;
      inv.traceId = traceId;
      inv.parentSpanId = validParent && parent !== inv.spanId ? parent : undefined;
      this.retrace(inv, previous);
    } else if (validParent && parent !== inv.spanId && inv.parentSpanId === undefined) {
      inv.parentSpanId = parent;
    }
    inv.traceSource = TraceSource.Function;
    // Never an orphan: the function exports this trace, so its platform spans go too.
    const sampled = trace.sampled ?? true;
    if (sampled && !inv.sampled) this.keptForFunction++;
    inv.sampled = sampled;
    if (trace.parentsFunctionSpan === true) inv.leased = true;
    inv.released = true;
    this.adoptions++;
    return true;
  }
}

function identityOf(inv: Invocation): InvocationIdentity {
  const identity: InvocationIdentity = { traceId: inv.traceId, spanId: inv.spanId, sampled: inv.sampled };
  if (inv.parentSpanId !== undefined) identity.parentSpanId = inv.parentSpanId;
  if (inv.durableExecutionArn !== undefined) identity.durableExecutionArn = inv.durableExecutionArn;
  return identity;
}
