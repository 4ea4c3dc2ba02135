// The `function` and `extension` records of the Telemetry API: a text line, or a JSON log format
// record whose keys are open-ended (known ones become fields of the event, the rest are kept).

import { parseIsoTimeMs } from './iso-time.js';
import type { LogLineEvent } from './telemetry-events.js';

type Rec = Record<string, unknown>;

function isObject(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The event, or undefined when the record is neither a string nor an object (counted as `<type>.record`). */
export function decodeLogLine(
  type: 'function' | 'extension',
  timeMs: number,
  record: unknown,
): LogLineEvent | undefined {
  if (typeof record === 'string') {
    // JSON log format delivered as text (AWS's emulator, schema 2022-07-01): read like the object.
    const object = lambdaJsonRecord(record);
    if (object === undefined) return { type, timeMs, message: record, structured: false };
    record = object;
  }
  if (!isObject(record)) return undefined;
  const event: LogLineEvent = { type, timeMs, message: '', structured: true };
  let fields: Rec | undefined;
  for (const key in record) {
    const v = record[key];
    switch (key) {
      case 'message':
        event.message = typeof v === 'string' ? v : stringifyMessage(v);
        continue;
      case 'level':
        if (typeof v === 'string') {
          event.level = v;
          continue;
        }
        break;
      case 'requestId':
        if (typeof v === 'string') {
          event.requestId = v;
          continue;
        }
        break;
      case 'timestamp':
        if (typeof v === 'string') {
          const ms = parseIsoTimeMs(v);
          if (!Number.isNaN(ms)) {
            event.recordTimeMs = ms;
            continue;
          }
        }
        break;
    }
    // Unrecognised (or oddly typed well-known) keys stay as fields: nothing is silently lost.
    fields ??= {};
    if (key === '__proto__') {
      Object.defineProperty(fields, key, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      fields[key] = v;
    }
  }
  if (fields !== undefined) event.fields = fields;
  return event;
}

function stringifyMessage(v: unknown): string {
  if (v === undefined) return '';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Longer strings are not tried as JSON records (one parse per line is the cost). */
const MAX_JSON_RECORD_CHARS = 1024 * 1024;

/**
 * A string holding one JSON-format log record (`{"timestamp", "level", "requestId", "message", …}`),
 * as an object; undefined for any other line. A JSON line without `message` stays text: it is the
 * function's own output (a text-format line), not a record Lambda's JSON format made.
 */
function lambdaJsonRecord(text: string): Record<string, unknown> | undefined {
  if (text.length < 2 || text.length > MAX_JSON_RECORD_CHARS) return undefined;
  const first = text.charCodeAt(0) === 0x7b ? 0 : text.search(/\S/);
  if (first < 0 || text[first] !== '{' || !text.trimEnd().endsWith('}')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const o = parsed as Record<string, unknown>;
  return 'message' in o && ('level' in o || 'timestamp' in o) ? o : undefined;
}
