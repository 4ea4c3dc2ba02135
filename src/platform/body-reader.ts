// The one reader of HTTP request bodies (Telemetry API pushes, OTLP/HTTP exports). It reserves the
// body's cost from the memory budget BEFORE reading a byte, grows the reservation as a longer or
// compressed body arrives, enforces the size limits (a compressed bomb stops inflating as soon as
// it passes them), and, when the budget refuses, either stops at once (the caller answers 503) or
// reads the body to its end holding nothing of it (a push Lambda cannot be asked to resend).

import type { Decompressor, RequestBody } from './port.js';

/** Memory held for a body until released (the memory budget's Reservation satisfies it). */
export interface BodyReservation {
  /** Grows to `totalBytes`; false (and unchanged) when that does not fit. */
  grow(totalBytes: number): boolean;
  release(): void;
}

export interface BodyBudget {
  /** Reserves `bytes`, or undefined when they do not fit now. */
  reserve(bytes: number): BodyReservation | undefined;
  /** Peak memory of handling one body byte (decoded). */
  costPerByte: number;
  /** Body size assumed while the real one is unknown (no Content-Length, or compressed). */
  unknownBytes: number;
}

export interface ReadBodyOptions {
  /** Largest body as received. */
  maxBytes: number;
  /** Largest body after decompression (default maxBytes). */
  maxDecodedBytes?: number;
  decompressor?: Decompressor;
  budget?: BodyBudget;
  /** What a refused reservation means: stop now, or read to the end and keep nothing. */
  overBudget: 'refuse' | 'discard';
  /** Sees every piece of a discarded body (to count what was lost) before it is dropped. */
  onDiscarded?: (chunk: Uint8Array) => void;
  /** Told of every discarded piece's size (Platform.reclaimDiscarded), which frees them promptly. */
  reclaim?: (bytes: number) => void;
}

export type BodyOutcome =
  /** The whole body; its reservation (if any) is the caller's to release or hand over. */
  | { kind: 'read'; body: Buffer; reservation: BodyReservation | undefined }
  | { kind: 'too-large'; decoded: boolean; limit: number }
  /** `overBudget: 'refuse'`: nothing more is read. */
  | { kind: 'over-budget' }
  /** `overBudget: 'discard'`: read to its end, nothing held; `bytes` as received. */
  | { kind: 'discarded'; bytes: number }
  | { kind: 'bad-encoding'; message: string }
  | { kind: 'aborted'; message: string };

export function readBody(body: RequestBody, options: ReadBodyOptions): Promise<BodyOutcome> {
  const { maxBytes, decompressor, budget, onDiscarded, reclaim } = options;
  const maxDecoded = options.maxDecodedBytes ?? maxBytes;
  let reservation: BodyReservation | undefined;
  let discarding = false;
  if (budget) {
    // The body's size is known up front only when it is announced and not compressed.
    const known = decompressor === undefined ? body.declaredLength : undefined;
    reservation = budget.reserve((known ?? budget.unknownBytes) * budget.costPerByte);
    if (!reservation) {
      if (options.overBudget === 'refuse') {
        decompressor?.destroy();
        return Promise.resolve({ kind: 'over-budget' });
      }
      discarding = true;
    }
  }
  return new Promise<BodyOutcome>((resolve) => {
    const parts: Buffer[] = [];
    let raw = 0;
    let decoded = 0;
    let settled = false;
    let stop: (() => void) | undefined;
    const settle = (outcome: BodyOutcome): void => {
      if (settled) return;
      settled = true;
      if (outcome.kind !== 'read') {
        reservation?.release();
        reservation = undefined;
        parts.length = 0;
        decompressor?.destroy();
      }
      if (outcome.kind !== 'read' && outcome.kind !== 'discarded' && outcome.kind !== 'aborted') stop?.();
      resolve(outcome);
    };
    const discard = (chunk: Uint8Array): void => {
      onDiscarded?.(chunk);
      reclaim?.(chunk.length);
    };
    const startDiscarding = (): void => {
      discarding = true;
      reservation?.release();
      reservation = undefined;
      for (const held of parts) onDiscarded?.(held);
      parts.length = 0;
      decompressor?.destroy();
    };
    const output = (chunk: Uint8Array): void => {
      if (settled || discarding) return;
      decoded += chunk.length;
      if (decoded > maxDecoded) {
        settle({ kind: 'too-large', decoded: true, limit: maxDecoded });
        return;
      }
      if (budget && reservation && !reservation.grow(decoded * budget.costPerByte)) {
        if (options.overBudget === 'refuse') {
          settle({ kind: 'over-budget' });
          return;
        }
        startDiscarding();
        // The piece that did not fit is dropped too, counted like the rest.
        discard(chunk);
        return;
      }
      parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    };
    const finish = (): void => {
      if (discarding) {
        settle({ kind: 'discarded', bytes: raw });
        return;
      }
      const whole = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, decoded);
      settle({ kind: 'read', body: whole, reservation });
    };
    decompressor?.pipe(
      output,
      () => {
        if (!discarding) finish();
      },
      (error) => {
        if (!discarding) settle({ kind: 'bad-encoding', message: error.message });
      },
    );
    stop = body.read({
      data(chunk) {
        if (settled) return;
        raw += chunk.length;
        if (raw > maxBytes) {
          settle({ kind: 'too-large', decoded: false, limit: maxBytes });
          return;
        }
        if (discarding) discard(chunk);
        else if (decompressor) decompressor.write(chunk);
        else output(chunk);
      },
      end() {
        if (settled) return;
        if (decompressor && !discarding) decompressor.end();
        else finish();
      },
      abort(error) {
        settle({ kind: 'aborted', message: error.message });
      },
    });
  });
}
