// What the Telemetry API listener and parser counted, as self-telemetry counters and as a summary for
// the shutdown log line: pushes refused or cut short, bodies and records that could not be used. These
// are the only trace of telemetry Lambda sent but the extension could not convert.

import type { ObservedCounter } from '../pipeline/self-telemetry.js';
import type { ListenerStats } from './telemetry-listener.js';
import type { ParseStats } from './telemetry-parse.js';

const PREFIX = 'otel_lambda_extension.telemetry_api';

const PUSHES = [`${PREFIX}.pushes`, 'Telemetry API pushes received, by outcome', '{push}'] as const;
const BODIES = [`${PREFIX}.bodies.invalid`, 'Pushes dropped whole, by kind', '{push}'] as const;
const RECORDS = [`${PREFIX}.records`, 'Telemetry records received, by outcome', '{record}'] as const;
const FIELDS = [
  `${PREFIX}.fields.invalid`,
  'Optional fields dropped from otherwise valid records, by kind',
  '{field}',
] as const;

function counter(
  [name, description, unit]: readonly [string, string, string],
  attributes: Record<string, string>,
  value: number,
): ObservedCounter {
  return { name, description, unit, attributes, value };
}

/** The listener's and parser's counters, cumulative; zero series are left out. */
export function intakeCounters(parse: ParseStats, listener: ListenerStats): ObservedCounter[] {
  const out: ObservedCounter[] = [];
  const push = (outcome: string, value: number): void => {
    if (value > 0) out.push(counter(PUSHES, { outcome }, value));
  };
  push('accepted', listener.pushes);
  push('too_large', listener.tooLarge);
  push('rejected', listener.rejected);
  push('aborted', listener.aborted);
  push('consumer_failed', listener.callbackErrors);
  push('dropped_over_budget', listener.droppedOverBudget);
  if (listener.droppedRecords > 0) {
    out.push(counter(RECORDS, { outcome: 'dropped', kind: 'memory_budget' }, listener.droppedRecords));
  }
  for (const kind in parse.invalidBodies) out.push(counter(BODIES, { kind }, parse.invalidBodies[kind] ?? 0));
  let malformed = 0;
  for (const kind in parse.malformed) {
    const n = parse.malformed[kind] ?? 0;
    malformed += n;
    out.push(counter(RECORDS, { outcome: 'malformed', kind }, n));
  }
  let unknown = 0;
  for (const type in parse.unknown) {
    const n = parse.unknown[type] ?? 0;
    unknown += n;
    out.push(counter(RECORDS, { outcome: 'unknown_type', kind: type }, n));
  }
  // Unknown types are kept as events too (and counted under parsed); count them once.
  const parsed = parse.received - malformed - unknown;
  if (parsed > 0) out.push(counter(RECORDS, { outcome: 'parsed' }, parsed));
  for (const kind in parse.invalidFields) out.push(counter(FIELDS, { kind }, parse.invalidFields[kind] ?? 0));
  return out;
}

function sum(map: Record<string, number>): number {
  let n = 0;
  for (const key in map) n += map[key] ?? 0;
  return n;
}

/** One clause for the shutdown line, e.g. `telemetry: 12 pushes (1 too large), 340 records, 2 malformed, …`. */
export function intakeSummary(parse: ParseStats, listener: ListenerStats): string {
  const refused: string[] = [];
  if (listener.tooLarge > 0) refused.push(`${listener.tooLarge} too large`);
  if (listener.rejected > 0) refused.push(`${listener.rejected} rejected`);
  if (listener.aborted > 0) refused.push(`${listener.aborted} aborted`);
  if (listener.droppedOverBudget > 0) {
    refused.push(
      `${listener.droppedOverBudget} dropped over the memory budget (${listener.droppedRecords} records, ${listener.droppedBytes} B)`,
    );
  }
  const invalidBodies = sum(parse.invalidBodies);
  return (
    `telemetry: ${listener.pushes} pushes${refused.length > 0 ? ` (+${refused.join(', ')})` : ''}` +
    `, ${invalidBodies} invalid bodies, ${parse.received} records` +
    `, ${sum(parse.malformed)} malformed, ${sum(parse.unknown)} of unknown type` +
    `, ${sum(parse.invalidFields)} invalid fields`
  );
}
