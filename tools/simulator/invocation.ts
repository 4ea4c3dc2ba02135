// One invocation: INVOKE to the extensions and the event to the runtime, then the wait for the
// response, the runtimeDone and report records, and what follows (freeze, or a reset after a failure
// or a timeout).
import { nowMs } from './clock.js';
import { platform, type SpanRecord, span, tracingRecord } from './events.js';
import { type Environment, failureOf, maxMemoryUsedMB } from './execution-environment.js';
import { type ActiveInvocation, DELIVERY_SETTLE_MS, type LifecycleParts } from './lifecycle.js';
import { invokedFunctionArn } from './options.js';
import type { RuntimeInvocation } from './runtime-api.js';
import { functionTraceHeader, randomHex, TRACE_HEADER_TYPE, traceValueFor } from './tracing.js';
import type { InitResult, InvocationResult, InvokeOptions } from './types.js';

export interface InvocationRequest {
  requestId: string;
  payload: unknown;
  options: InvokeOptions;
  /** Invocations started so far, this one included (the tracing mode alternates on it). */
  ordinal: number;
}

/** The result of an invocation that never ran because init failed. */
export function failedInit(init: InitResult, requestId: string): InvocationResult {
  const atMs = nowMs();
  return {
    requestId,
    status: 'error',
    errorType: init.errorType,
    coldStart: true,
    init,
    tracing: { value: '', spanId: '', functionHeader: '' },
    timestamps: { startMs: atMs, reportMs: atMs },
    durationMs: 0,
    extensionNextMs: {},
  };
}

/** Runs one invocation in `env` (initialised successfully); resolves once it is over. */
export async function runInvocation(
  parts: LifecycleParts,
  env: Environment,
  request: InvocationRequest,
): Promise<InvocationResult> {
  const { options: o, timeline, hub, runtimeApi, extensionsApi, conditions } = parts;
  const { requestId, payload, options } = request;
  const managed = o.mode === 'managed-instances';
  const functionArn = invokedFunctionArn(o);
  const cold = env.coldPending;
  env.coldPending = false;
  parts.thaw();

  const tracingValue = options.tracing ?? traceValueFor(options.tracingMode ?? o.tracing, request.ordinal);
  const spanId = randomHex(8);
  const tracing = tracingRecord(spanId, tracingValue);
  const functionHeader = functionTraceHeader(tracingValue, spanId);
  const startMs = nowMs();
  const deadlineMs = startMs + (options.timeoutMs ?? o.timeoutMs);
  const active: ActiveInvocation = { requestId };
  parts.active.set(requestId, active);
  timeline.record({ kind: 'invoke-start', requestId, atMs: startMs });
  hub.emit('platform.start', platform.start({ requestId, version: o.functionVersion, tracing }), startMs);

  const invokeExtensions = managed
    ? []
    : extensionsApi.registrations().filter((r) => r.events.includes('INVOKE') && !r.reportedError);
  for (const reg of invokeExtensions) {
    extensionsApi.dispatch(reg, {
      eventType: 'INVOKE',
      deadlineMs: Math.round(deadlineMs),
      requestId,
      invokedFunctionArn: functionArn,
      tracing: { type: TRACE_HEADER_TYPE, value: tracingValue },
    });
  }
  const invocation: RuntimeInvocation = {
    requestId,
    payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload ?? null)),
    deadlineMs,
    invokedFunctionArn: functionArn,
    traceHeader: functionHeader,
  };
  runtimeApi.enqueue(invocation);

  let outOfMemory = false;
  if (options.outOfMemory) {
    await conditions.waitUntil(
      () => invocation.deliveredAtMs !== undefined || env.failure !== undefined,
      deadlineMs,
    );
    if (!env.failure && env.functionProcess) {
      outOfMemory = true;
      parts.fail(env, 'Runtime.OutOfMemory');
      parts.supervisor.signal(env.functionProcess, 'SIGKILL');
    }
  }

  // The function answers, fails, or runs out of time.
  await conditions.waitUntil(() => active.outcome !== undefined || env.failure !== undefined, deadlineMs);
  // One turn of the event loop lets the function's last lines, written before it answered, in.
  await new Promise((r) => setImmediate(r));
  const outcome = active.outcome;
  let status: InvocationResult['status'];
  let errorType: string | undefined;
  if (outcome) {
    status = outcome.kind === 'response' ? 'success' : 'error';
    errorType = outcome.errorType;
  } else if (env.failure) {
    status = 'error';
    errorType = env.failure.errorType;
  } else {
    status = 'timeout';
    errorType = 'Sandbox.Timedout';
  }
  if (!outcome) runtimeApi.abandon(requestId);
  const responseEndMs = outcome?.endMs ?? nowMs();
  const responseSpans: SpanRecord[] = outcome
    ? [
        span('responseLatency', startMs, outcome.startMs),
        span('responseDuration', outcome.startMs, outcome.endMs),
      ]
    : [];
  if (!managed) {
    hub.emit(
      'platform.runtimeDone',
      platform.runtimeDone({
        requestId,
        status,
        errorType,
        durationMs: responseEndMs - startMs,
        producedBytes: outcome?.body.length ?? 0,
        spans: responseSpans,
        tracing,
      }),
    );
  }

  // The invocation ends when the runtime and every INVOKE extension are back on next.
  let extensionsNextMs: number | undefined;
  const extensionNextMs: Record<string, number> = {};
  if (!managed && outcome) {
    // Already failed (an extension died while the function ran): nothing to wait for.
    const done = await conditions.waitUntil(
      () =>
        env.failure !== undefined ||
        (runtimeApi.parkedCount > 0 &&
          invokeExtensions.every((r) => extensionsApi.isParked(r) && (r.lastNextAtMs ?? 0) >= startMs)),
      deadlineMs,
    );
    const failure = failureOf(env);
    if (failure) {
      status = 'error';
      errorType = failure.errorType;
    } else if (!done) {
      status = 'timeout';
      errorType = 'Sandbox.Timedout';
    } else {
      for (const reg of invokeExtensions) extensionNextMs[reg.name] = reg.lastNextAtMs!;
      extensionsNextMs = Math.max(responseEndMs, ...Object.values(extensionNextMs));
    }
  }
  const endMs = extensionsNextMs ?? responseEndMs;
  const durationMs = endMs - startMs;
  const postRuntimeExtensionsDurationMs =
    extensionsNextMs === undefined ? undefined : Math.max(0, extensionsNextMs - responseEndMs);
  const maxMemoryUsedMBValue =
    outOfMemory || errorType === 'Runtime.OutOfMemory'
      ? o.memorySizeMB
      : maxMemoryUsedMB(env, o.memorySizeMB);
  const reportSpans: SpanRecord[] = [];
  if (invokeExtensions.length > 0 && extensionsNextMs !== undefined) {
    reportSpans.push(span('extensionOverhead', responseEndMs, extensionsNextMs));
  }
  const report = managed
    ? platform.report({
        requestId,
        status,
        errorType,
        metrics: { durationMs },
        spans: responseSpans,
        tracing,
      })
    : platform.report({
        requestId,
        status,
        errorType,
        metrics: {
          durationMs,
          billedDurationMs: Math.ceil(durationMs),
          memorySizeMB: o.memorySizeMB,
          maxMemoryUsedMB: maxMemoryUsedMBValue,
          initDurationMs: cold && o.mode !== 'snap-start' ? env.initResult?.durationMs : undefined,
          restoreDurationMs: cold && o.mode === 'snap-start' ? env.restoreDurationMs : undefined,
        },
        spans: reportSpans,
        tracing,
      });

  const needsReset = env.failure !== undefined || (status === 'timeout' && !managed);
  const freezeNow = !needsReset && o.freeze && parts.active.size === 1;
  if (freezeNow) await hub.flushAll(DELIVERY_SETTLE_MS);
  const reportMs = nowMs();
  hub.emit('platform.report', report, reportMs);
  parts.active.delete(requestId);
  timeline.record({ kind: 'invoke-end', requestId, status, errorType, atMs: reportMs });

  const result: InvocationResult = {
    requestId,
    status,
    errorType,
    responseText: outcome?.body.toString('utf8'),
    response: outcome ? parseResponse(outcome.body) : undefined,
    coldStart: cold,
    init: cold ? env.initResult : undefined,
    tracing: { value: tracingValue, spanId, functionHeader },
    timestamps: {
      startMs,
      responseStartMs: outcome?.startMs,
      runtimeResponseMs: outcome?.endMs,
      runtimeNextMs: outcome ? runtimeApi.lastNextAtMs : undefined,
      extensionsNextMs,
      reportMs,
    },
    durationMs,
    billedDurationMs: managed ? undefined : Math.ceil(durationMs),
    maxMemoryUsedMB: managed ? undefined : maxMemoryUsedMBValue,
    postRuntimeExtensionsDurationMs,
    extensionNextMs,
  };

  if (needsReset) {
    result.reset = await parts.teardown(env, status === 'timeout' ? 'timeout' : 'failure');
  } else if (freezeNow) {
    if (o.telemetry?.reportDelivery === 'before-freeze') await hub.flushAll(DELIVERY_SETTLE_MS);
    else await hub.idle(DELIVERY_SETTLE_MS);
    await parts.freeze();
  }
  return result;
}

function parseResponse(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
