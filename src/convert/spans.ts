// Platform spans as plain ReadableSpan objects (what the OTLP serializers take), built without an
// SDK tracer: the invocation span (SERVER, named after the function), its phase children
// (responseLatency, responseDuration, runtimeOverhead, extensionOverhead, …) and the init/restore
// span. The resource is set on each batch right before encoding, so a batch shares one Resource.

import {
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type SpanStatus,
  TraceFlags,
} from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import { hrTimeAfter, msToHrTime } from './time.js';

const NO_EVENTS: TimedEvent[] = [];
const NO_LINKS: Link[] = [];
const NO_ATTRIBUTES: Attributes = Object.freeze({});
const STATUS_UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });

export interface SpanIdentity {
  traceId: string;
  spanId: string;
  /** Absent for a root span. */
  parentSpanId?: string | undefined;
  sampled: boolean;
}

export class FinishedSpan implements ReadableSpan {
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime;
  readonly ended = true;
  readonly events = NO_EVENTS;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly parentSpanContext: SpanContext | undefined;
  /** Epoch ms, for the chunk's createdAtMs. */
  readonly endMs: number;
  /** Assigned by the encoder for the batch the span goes out in. */
  resource!: Resource;
  private readonly context: SpanContext;

  constructor(
    identity: SpanIdentity,
    /** Whether the parent came from outside this process (the caller's X-Ray/W3C context). */
    parentIsRemote: boolean,
    readonly name: string,
    readonly kind: SpanKind,
    readonly startMs: number,
    /** Passed as a duration, not an end time: start + duration as epoch-ms doubles would lose precision. */
    durationMs: number,
    readonly attributes: Attributes,
    readonly status: SpanStatus,
    readonly links: Link[],
    readonly instrumentationScope: InstrumentationScope,
  ) {
    const flags = identity.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE;
    this.context = { traceId: identity.traceId, spanId: identity.spanId, traceFlags: flags };
    this.parentSpanContext =
      identity.parentSpanId === undefined
        ? undefined
        : {
            traceId: identity.traceId,
            spanId: identity.parentSpanId,
            traceFlags: flags,
            isRemote: parentIsRemote,
          };
    this.startTime = msToHrTime(startMs);
    this.endTime = hrTimeAfter(this.startTime, durationMs);
    this.duration = hrTimeAfter([0, 0], durationMs);
    this.endMs = startMs + Math.max(0, durationMs);
  }

  spanContext(): SpanContext {
    return this.context;
  }
}

/** Start and end that make a valid span: finite, end ≥ start. */
export function spanBounds(
  startMs: number | undefined,
  endMs: number | undefined,
  fallbackMs: number,
): [number, number] {
  let start = startMs !== undefined && Number.isFinite(startMs) ? startMs : undefined;
  let end = endMs !== undefined && Number.isFinite(endMs) ? endMs : undefined;
  if (start === undefined) start = end ?? fallbackMs;
  if (end === undefined || end < start) end = start;
  return [start, end];
}

export function errorStatus(message: string): SpanStatus {
  return { code: SpanStatusCode.ERROR, message };
}

export function statusFor(status: string | undefined, errorType: string | undefined): SpanStatus {
  if (status === undefined || status === 'success') return STATUS_UNSET;
  return errorStatus(errorType ?? status);
}

export function serverSpan(
  identity: SpanIdentity,
  parentIsRemote: boolean,
  name: string,
  startMs: number,
  durationMs: number,
  attributes: Attributes,
  status: SpanStatus,
  links: Link[] | undefined,
  scope: InstrumentationScope,
): FinishedSpan {
  return new FinishedSpan(
    identity,
    parentIsRemote,
    name,
    SpanKind.SERVER,
    startMs,
    durationMs,
    attributes,
    status,
    links ?? NO_LINKS,
    scope,
  );
}

export function internalSpan(
  identity: SpanIdentity,
  name: string,
  startMs: number,
  durationMs: number,
  attributes: Attributes | undefined,
  status: SpanStatus | undefined,
  links: Link[] | undefined,
  scope: InstrumentationScope,
): FinishedSpan {
  return new FinishedSpan(
    identity,
    false,
    name,
    SpanKind.INTERNAL,
    startMs,
    durationMs,
    attributes ?? NO_ATTRIBUTES,
    status ?? STATUS_UNSET,
    links ?? NO_LINKS,
    scope,
  );
}

export function linkTo(traceId: string, spanId: string, sampled: boolean, attributes?: Attributes): Link {
  const link: Link = {
    context: { traceId, spanId, traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE },
  };
  if (attributes) link.attributes = attributes;
  return link;
}
