// Field checks shared by the record handlers: the Telemetry API's records are parsed leniently, so
// every field is checked where it is used, and an unusable one costs only its record.

import type { PlatformSpan } from '../lambda/telemetry-events.js';

export function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

export function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

export function isAmount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function nonNegative(v: number | undefined, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fallback;
}

export function isPlatformSpan(s: unknown): s is PlatformSpan {
  if (s === null || typeof s !== 'object') return false;
  const span = s as PlatformSpan;
  return typeof span.name === 'string' && isTime(span.startMs) && typeof span.durationMs === 'number';
}

export function findSpan(spans: readonly PlatformSpan[] | undefined, name: string): PlatformSpan | undefined {
  if (!Array.isArray(spans)) return undefined;
  for (const s of spans)
    if (s !== null && typeof s === 'object' && s.name === name && isAmount(s.durationMs)) return s;
  return undefined;
}

export function earliestStart(spans: readonly PlatformSpan[] | undefined): number | undefined {
  if (!Array.isArray(spans)) return undefined;
  let min: number | undefined;
  for (const s of spans) if (isPlatformSpan(s) && (min === undefined || s.startMs < min)) min = s.startMs;
  return min;
}
