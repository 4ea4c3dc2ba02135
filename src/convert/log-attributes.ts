// A log record's attributes and body within limits: JSON fields flattened one level deep, strings
// cut to a byte limit on a character boundary.

import type { AnyValue } from '@opentelemetry/api';

export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Cuts `text` to at most `maxBytes` UTF-8 bytes, on a character boundary. */
export function cutUtf8(text: string, maxBytes: number): string {
  if (text.length <= maxBytes / 3) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

/**
 * JSON fields as attributes, one level deep: {a: 1, b: {c: 2}} gives a=1 and b.c=2; deeper values
 * and mixed arrays become JSON text.
 */
export function flattenFields(
  fields: Record<string, unknown>,
  put: (key: string, value: AnyValue) => void,
): void {
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const inner of Object.keys(value)) {
        const attr = attributeValue((value as Record<string, unknown>)[inner]);
        if (attr !== undefined) put(`${key}.${inner}`, attr);
      }
    } else {
      const attr = attributeValue(value);
      if (attr !== undefined) put(key, attr);
    }
  }
}

/** A JSON value as an attribute value; undefined for null/undefined. */
function attributeValue(value: unknown): AnyValue | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value.toString();
    case 'object': {
      if (value === null) return undefined;
      if (Array.isArray(value)) {
        const first = value[0];
        const kind = typeof first;
        if (
          (kind === 'string' || kind === 'number' || kind === 'boolean') &&
          value.every((v) => typeof v === kind && (kind !== 'number' || Number.isFinite(v)))
        ) {
          return value as AnyValue;
        }
      }
      try {
        return JSON.stringify(value);
      } catch {
        return String(value);
      }
    }
    default:
      return undefined;
  }
}
