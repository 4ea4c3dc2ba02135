// Runs a telemetry fixture (a JSON event sequence) through a PlatformConverter.
//
// A fixture is { description, env, options?, steps[] }; each step is one of
//   { "register": RegisterResponse }
//   { "invoke": { at, requestId, deadline, invokedFunctionArn, tracing? } }   (times ISO-8601)
//   { "telemetry": [ typed TelemetryEvent with `time` (ISO) for timeMs and `start` (ISO) for span startMs ] }
//   { "noteOutOfMemory": { at, requestId? } }
//   { "collect": { at, final } }
// Typed events keep the fields of src/lambda/telemetry-events.ts so fixtures stay independent of
// the wire parser; only times are written as ISO strings for readability.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PlatformConverter, type PlatformConverterOptions } from '../../src/convert/index.js';
import type { IdGenerator } from '../../src/convert/ids.js';
import type { InvokeEvent, RegisterResponse, TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import type { TelemetryChunk } from '../../src/model/chunk.js';

type Json = Record<string, unknown>;

export interface Fixture {
  description: string;
  env: Record<string, string>;
  options?: Omit<PlatformConverterOptions, 'env' | 'now' | 'idGenerator'>;
  steps: Json[];
}

export interface CollectResult {
  /** The collect step's position among the fixture's collect steps. */
  index: number;
  atMs: number;
  final: boolean;
  chunks: TelemetryChunk[];
}

export interface FixtureRun {
  converter: PlatformConverter;
  collects: CollectResult[];
}

/** Ids 0…01, 0…02, … so runs are reproducible. */
export class SequentialIds implements IdGenerator {
  private n = 0;
  traceId(): string {
    this.n++;
    return `f0${this.n.toString(16).padStart(30, '0')}`;
  }
  spanId(): string {
    this.n++;
    return `e0${this.n.toString(16).padStart(14, '0')}`;
  }
}

export function loadFixture(name: string): Fixture {
  const path = fileURLToPath(new URL(`../fixtures/telemetry/${name}.json`, import.meta.url));
  return JSON.parse(readFileSync(path, 'utf8')) as Fixture;
}

export function ms(iso: unknown): number {
  if (typeof iso !== 'string') throw new Error(`fixture time must be an ISO string, got ${String(iso)}`);
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new Error(`fixture time "${iso}" does not parse`);
  return t;
}

/** Fixture event (ISO times) → typed TelemetryEvent (epoch ms). */
export function toEvent(raw: Json): TelemetryEvent {
  const { time, spans, ...rest } = raw;
  const event: Json = { ...rest, timeMs: ms(time) };
  if (Array.isArray(spans)) {
    event.spans = spans.map((s: Json) => {
      const { start, ...span } = s;
      return { ...span, startMs: ms(start) };
    });
  } else if (raw.type !== undefined && String(raw.type).startsWith('platform.') && 'status' in raw) {
    event.spans = [];
  }
  return event as unknown as TelemetryEvent;
}

/** The fixture's first time, so the converter's clock starts there (as Date.now() would). */
function firstTime(fixture: Fixture): number {
  for (const step of fixture.steps) {
    const body = Object.values(step)[0];
    if (Array.isArray(body) && body.length > 0) return ms((body[0] as Json).time);
    if (body !== null && typeof body === 'object' && 'at' in body) return ms((body as Json).at);
  }
  return 0;
}

export function runFixture(fixture: Fixture, extra: Partial<PlatformConverterOptions> = {}): FixtureRun {
  let clock = firstTime(fixture);
  const converter = new PlatformConverter({
    ...fixture.options,
    ...extra,
    env: fixture.env,
    now: () => clock,
    idGenerator: extra.idGenerator ?? new SequentialIds(),
  });
  const collects: CollectResult[] = [];
  for (const step of fixture.steps) {
    if ('register' in step) converter.onRegistered(step.register as RegisterResponse);
    else if ('invoke' in step) {
      const { at, deadline, ...invoke } = step.invoke as Json;
      clock = ms(at);
      converter.onInvoke({ eventType: 'INVOKE', deadlineMs: ms(deadline), ...invoke } as InvokeEvent);
    } else if ('telemetry' in step) {
      const events = (step.telemetry as Json[]).map(toEvent);
      const last = events[events.length - 1];
      if (last !== undefined) clock = Math.max(clock, last.timeMs);
      converter.ingest(events);
    } else if ('noteOutOfMemory' in step) {
      const { at, requestId } = step.noteOutOfMemory as Json;
      clock = ms(at);
      converter.noteOutOfMemory(requestId as string | undefined);
    } else if ('collect' in step) {
      const { at, final } = step.collect as Json;
      clock = ms(at);
      collects.push({
        index: collects.length,
        atMs: clock,
        final: final === true,
        chunks: converter.collect(clock, final === true),
      });
    } else {
      throw new Error(`unknown fixture step ${JSON.stringify(step)}`);
    }
  }
  return { converter, collects };
}
