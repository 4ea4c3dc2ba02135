// Span assembly: the OTLP spans of an exported invocation (the SERVER span named after the
// function, with its FaaS attributes) and of an init/restore phase (an INTERNAL span), and the
// phase children both carry (responseLatency, runtimeOverhead, …), each with a fresh span id.

import type { Attributes, Link } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { PlatformSpan } from '../lambda/telemetry-events.js';
import { addDurableExecution } from './durable.js';
import type { IdGenerator } from './ids.js';
import type { Invocation } from './invocations.js';
import type { EnvironmentPhase } from './phases.js';
import { isAmount } from './record-checks.js';
import {
  ATTR_AWS_LAMBDA_DURABLE,
  ATTR_AWS_LAMBDA_INCOMPLETE,
  ATTR_AWS_LAMBDA_INITIALIZATION_TYPE,
  ATTR_AWS_LAMBDA_INVOKED_ARN,
  ATTR_AWS_LAMBDA_PHASE,
  ATTR_AWS_LAMBDA_RUNTIME_VERSION,
  ATTR_CLOUD_RESOURCE_ID,
  ATTR_ERROR_TYPE,
  ATTR_FAAS_COLDSTART,
  ATTR_FAAS_INVOCATION_ID,
  ATTR_FAAS_INVOCATION_ID_LEGACY,
  ATTR_FAAS_TRIGGER,
  FAAS_TRIGGER_OTHER,
} from './semconv.js';
import { type FinishedSpan, internalSpan, linkTo, serverSpan, spanBounds, statusFor } from './spans.js';

export class SpanAssembler {
  constructor(
    private readonly ids: IdGenerator,
    private readonly scope: InstrumentationScope,
    /** Whether the function is known to run durable executions (every span then says so). */
    private readonly durable: { readonly isDurable: boolean },
  ) {}

  /** The invocation's SERVER span; `functionName` names it. */
  invocation(inv: Invocation, functionName: string): FinishedSpan {
    const incomplete = inv.endMs === undefined;
    const [start, end] = spanBounds(inv.startMs, inv.endMs ?? inv.lastSeenMs, inv.firstSeenMs);
    const a: Attributes = {
      [ATTR_FAAS_INVOCATION_ID_LEGACY]: inv.requestId,
      [ATTR_FAAS_INVOCATION_ID]: inv.requestId,
      [ATTR_FAAS_COLDSTART]: inv.coldstart,
      [ATTR_FAAS_TRIGGER]: FAAS_TRIGGER_OTHER,
    };
    if (inv.functionArn !== undefined) a[ATTR_CLOUD_RESOURCE_ID] = inv.functionArn;
    if (inv.invokedArn !== undefined) a[ATTR_AWS_LAMBDA_INVOKED_ARN] = inv.invokedArn;
    if (inv.status !== undefined && inv.status !== 'success')
      a[ATTR_ERROR_TYPE] = inv.errorType || inv.status;
    if (inv.durableExecutionArn !== undefined) addDurableExecution(a, inv.durableExecutionArn);
    if (this.durable.isDurable) a[ATTR_AWS_LAMBDA_DURABLE] = true;
    if (incomplete) a[ATTR_AWS_LAMBDA_INCOMPLETE] = true;
    let links: Link[] | undefined;
    const linked = inv.phaseLink;
    if (linked !== undefined) links = [linkTo(linked.traceId, linked.spanId, true)];
    return serverSpan(
      inv,
      true,
      functionName,
      start,
      end - start,
      a,
      statusFor(inv.status, inv.errorType),
      links,
      this.scope,
    );
  }

  /** The phase's INTERNAL span, a child of `parentSpanId` when it joins an invocation's trace. */
  phase(
    phase: EnvironmentPhase,
    parentSpanId: string | undefined,
    sampled: boolean,
    nowMs: number,
  ): FinishedSpan {
    const incomplete = !phase.ended;
    const [start, end] = spanBounds(phase.startMs, incomplete ? phase.lastSeenMs : phase.endMs, nowMs);
    const a: Attributes = { [ATTR_AWS_LAMBDA_INITIALIZATION_TYPE]: phase.initializationType };
    if (phase.phase) a[ATTR_AWS_LAMBDA_PHASE] = phase.phase;
    if (phase.runtimeVersion) a[ATTR_AWS_LAMBDA_RUNTIME_VERSION] = phase.runtimeVersion;
    if (phase.status !== undefined && phase.status !== 'success')
      a[ATTR_ERROR_TYPE] = phase.errorType || phase.status;
    if (this.durable.isDurable) a[ATTR_AWS_LAMBDA_DURABLE] = true;
    if (incomplete) a[ATTR_AWS_LAMBDA_INCOMPLETE] = true;
    const identity = { traceId: phase.traceId, spanId: phase.spanId, parentSpanId, sampled };
    return internalSpan(
      identity,
      phase.kind,
      start,
      end - start,
      a,
      statusFor(phase.status, phase.errorType),
      undefined,
      this.scope,
    );
  }

  /** One of Lambda's phase spans (responseLatency, …) under the invocation or phase span. */
  child(traceId: string, parentSpanId: string, sampled: boolean, span: PlatformSpan): FinishedSpan {
    const duration = isAmount(span.durationMs) ? span.durationMs : 0;
    return internalSpan(
      { traceId, spanId: this.ids.spanId(), parentSpanId, sampled },
      span.name,
      span.startMs,
      duration,
      undefined,
      undefined,
      undefined,
      this.scope,
    );
  }
}
