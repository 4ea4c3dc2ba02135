// Persisting the trace context when a durable execution suspends, so the invocation that resumes it
// (possibly in another execution environment) continues the same trace.
//
// A checkpoint is a synthetic top-level STEP operation named `_otel_<N>_<suffix>`, written the way
// the durable SDK stores a step result: START, then SUCCEED with the JSON-serialized result as
// Payload (which the service returns as StepDetails.Result). Its result is the W3C headers
// (traceparent, tracestate, baggage). It goes through the SDK's own checkpoint queue, so it rides
// in the SDK's batch, with the SDK's checkpoint token, before the invocation answers PENDING.
//   - N orders checkpoints; a new one is written only when the context really changed (parent id
//     and Datadog's `p:` in tracestate ignored), and it keeps the execution's original parent.
//   - The random suffix keeps names (and the ids the SDK hashes from them) apart when concurrent
//     branches write at once; readers order equal N by time, then name.
//   - No ParentId: a checkpoint inside a child context would be pruned with it once it completes.
//
// The SDK exposes no public way to add an operation or to act just before suspending, so this file
// reaches two members of its DurableContext (`checkpoint`, the checkpoint manager, and
// `_executionContext`, holding the termination manager and the step data), as Datadog's tracer
// does. Everything is duck-typed and checked: when the SDK changes shape, the outcome is
// `unsupported`, never an exception in the user's function.

import { randomBytes } from 'node:crypto';
import { highestN, latestContext, OTEL_CHECKPOINT_PREFIX, operationsOf } from './operations.js';
import { contextKey, type DurableTraceContext, isCompleteTraceContext, toHeaders } from './trace-context.js';

export type CheckpointOutcome =
  | { written: true; name: string; context: DurableTraceContext }
  | { written: false; reason: 'unchanged' | 'invalid-context' | 'unsupported' | 'terminating' };

export interface CheckpointOptions {
  /**
   * The invocation event, whose InitialExecutionState lists the checkpoints written so far. Not
   * needed with the durable SDK: its step data (every page of the history) is read instead.
   */
  event?: unknown;
}

/** Termination reasons after which the execution resumes later (the SDK answers PENDING). */
const SUSPEND_REASONS = new Set([
  'OPERATION_TERMINATED',
  'RETRY_SCHEDULED',
  'RETRY_INTERRUPTED_STEP',
  'WAIT_SCHEDULED',
  'CALLBACK_PENDING',
]);
/** The SDK's default when terminate() is called without a reason. */
const DEFAULT_REASON = 'OPERATION_TERMINATED';
/** OperationSubType.STEP of the SDK: what its own steps are checkpointed with. */
const STEP_SUBTYPE = 'Step';

interface CheckpointManagerLike {
  checkpoint(stepId: string, update: Record<string, unknown>): Promise<unknown>;
  isTerminating?: unknown;
}

interface TerminationManagerLike {
  terminate(options?: { reason?: unknown }): unknown;
  isTerminated?: unknown;
}

interface SdkParts {
  manager: CheckpointManagerLike;
  stepData: unknown;
  terminationManager: TerminationManagerLike | undefined;
}

/** What this process queued per invocation (the checkpoint manager is per invocation). */
interface Queued {
  n: number;
  context: DurableTraceContext;
}
const queued = new WeakMap<object, Queued>();

/** Hooks armed per termination manager (one per invocation). */
const suspendHooks = new WeakMap<object, Array<() => void>>();

function sdkParts(durableContext: unknown): SdkParts | undefined {
  if (durableContext === null || typeof durableContext !== 'object') return undefined;
  const ctx = durableContext as { checkpoint?: unknown; _executionContext?: unknown };
  const manager = ctx.checkpoint as CheckpointManagerLike | undefined;
  if (manager === null || typeof manager !== 'object' || typeof manager.checkpoint !== 'function')
    return undefined;
  const execution = ctx._executionContext as
    | { _stepData?: unknown; terminationManager?: unknown }
    | undefined;
  const tm = execution?.terminationManager as TerminationManagerLike | undefined;
  return {
    manager,
    stepData: execution?._stepData,
    terminationManager:
      tm !== null && typeof tm === 'object' && typeof tm.terminate === 'function' ? tm : undefined,
  };
}

/**
 * Queues a checkpoint of `trace` when it differs from the latest one; the write itself completes
 * asynchronously (`done`). Synchronous up to the queueing, so it can run just before the SDK stops
 * accepting checkpoints. Never throws.
 */
export function queueTraceCheckpoint(
  durableContext: unknown,
  trace: DurableTraceContext,
  options: CheckpointOptions = {},
): { outcome: CheckpointOutcome; done: Promise<void> } {
  const nothing = (reason: 'unchanged' | 'invalid-context' | 'unsupported' | 'terminating') => ({
    outcome: { written: false as const, reason },
    done: Promise.resolve(),
  });
  try {
    if (!isCompleteTraceContext(trace)) return nothing('invalid-context');
    const sdk = sdkParts(durableContext);
    if (sdk === undefined) return nothing('unsupported');
    // After termination started the SDK drops new checkpoints (their promises never settle).
    if (sdk.manager.isTerminating === true) return nothing('terminating');
    const operations = operationsOf(sdk.stepData);
    if (options.event !== undefined) operations.push(...operationsOf(options.event));
    const mine = queued.get(sdk.manager);
    const latest = mine?.context ?? latestContext(operations, 'otel')?.context;
    if (latest !== undefined && contextKey(latest) === contextKey(trace)) return nothing('unchanged');

    // The execution's original parent stays the parent for as long as the trace is the same one.
    const spanId = latest !== undefined && latest.traceId === trace.traceId ? latest.spanId : trace.spanId;
    const context: DurableTraceContext = { ...trace, spanId };
    const n = Math.max(highestN(operations, 'otel'), mine?.n ?? -1) + 1;
    const name = `${OTEL_CHECKPOINT_PREFIX}${n}_${randomBytes(4).toString('hex')}`;
    const update = { Id: name, Type: 'STEP', SubType: STEP_SUBTYPE, Name: name };
    // Both queued back to back before anything awaits, as the SDK does for a step (START is not
    // awaited): they go out in the same batch.
    const started = sdk.manager.checkpoint(name, { ...update, Action: 'START' });
    const succeeded = sdk.manager.checkpoint(name, {
      ...update,
      Action: 'SUCCEED',
      Payload: JSON.stringify(toHeaders(context)),
    });
    queued.set(sdk.manager, { n, context });
    const done = Promise.all([started, succeeded]).then(
      () => undefined,
      () => undefined,
    );
    return { outcome: { written: true, name, context }, done };
  } catch {
    return nothing('unsupported');
  }
}

/**
 * Checkpoints the trace context when it changed since the latest checkpoint, and resolves once the
 * SDK has written it. `durableContext` is the durable SDK's DurableContext (the root one or a
 * branch's); `trace` the context the next invocations continue (its spanId is used only for the
 * first checkpoint of a trace: later ones keep the original parent).
 */
export async function checkpointTraceContext(
  durableContext: unknown,
  trace: DurableTraceContext,
  options: CheckpointOptions = {},
): Promise<CheckpointOutcome> {
  const { outcome, done } = queueTraceCheckpoint(durableContext, trace, options);
  await done;
  return outcome;
}

/**
 * Arms a checkpoint of the trace context for the moment the invocation suspends (a wait, a
 * callback, a retry delay): just before the SDK stops taking checkpoints, `trace` (or what the
 * function returns then) is queued by queueTraceCheckpoint, and the SDK writes it before it
 * answers PENDING. Nothing is written for an invocation that completes or fails. Returns false
 * when the SDK does not offer what this needs (the outcome is then: no checkpoint, no error).
 */
export function checkpointTraceContextOnSuspend(
  durableContext: unknown,
  trace: DurableTraceContext | (() => DurableTraceContext | undefined),
  options: CheckpointOptions & { onCheckpoint?: (outcome: CheckpointOutcome) => void } = {},
): boolean {
  try {
    const sdk = sdkParts(durableContext);
    const tm = sdk?.terminationManager;
    if (sdk === undefined || tm === undefined) return false;
    let hooks = suspendHooks.get(tm);
    if (hooks === undefined) {
      const list: Array<() => void> = [];
      hooks = list;
      suspendHooks.set(tm, list);
      const original = tm.terminate;
      tm.terminate = function terminateAfterTraceCheckpoint(
        this: unknown,
        terminateOptions?: { reason?: unknown },
      ) {
        const reason = terminateOptions?.reason ?? DEFAULT_REASON;
        if (tm.isTerminated !== true && typeof reason === 'string' && SUSPEND_REASONS.has(reason)) {
          for (const hook of list) hook();
        }
        return original.call(this, terminateOptions);
      };
    }
    hooks.push(() => {
      try {
        const current = typeof trace === 'function' ? trace() : trace;
        if (current === undefined) return;
        const { outcome } = queueTraceCheckpoint(durableContext, current, options);
        options.onCheckpoint?.(outcome);
      } catch {
        // A failing callback costs the checkpoint, never the suspension.
      }
    });
    return true;
  } catch {
    return false;
  }
}
