// What the converters hold between collects — invocations waiting for their end or for the
// function's trace, spans in the outbox, log records not yet batched — counted against the
// extension's memory budget. A hold the budget refuses is not taken: the caller drops the item and
// counts it (never growth past the budget).
//
// Sizes are estimates per item (no re-encoding just to measure), and the budget is asked in steps,
// not per item: holding and freeing is arithmetic until the held total crosses a step.

import type { MemoryBudget, Reservation } from '../pipeline/memory-budget.js';

/** Estimated heap of one held invocation: the object, its ids and its entries in the table's maps. */
export const HELD_INVOCATION_BYTES = 512;
/** One of Lambda's phase spans kept with an invocation until it is exported. */
export const HELD_PLATFORM_SPAN_BYTES = 128;
/** One finished span in the outbox (times, ids, attributes), until it is encoded. */
export const OUTBOX_SPAN_BYTES = 768;

/** Budget is reserved in steps of this much (or less when the budget is small). */
const MAX_STEP_BYTES = 16 * 1024;

export class HeldMemory {
  private held = 0;
  private reservation: Reservation | undefined;
  private readonly step: number;

  /** Without a budget every hold succeeds (and is still counted, for `bytes`). */
  constructor(private readonly budget: Pick<MemoryBudget, 'tryReserve' | 'limitBytes'> | undefined) {
    this.step =
      budget === undefined
        ? MAX_STEP_BYTES
        : Math.max(1, Math.min(MAX_STEP_BYTES, Math.floor(budget.limitBytes / 64)));
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  /** Bytes reserved from the budget now (held plus at most a few steps). */
  get reservedBytes(): number {
    return this.reservation?.bytes ?? 0;
  }

  /** Holds `bytes` more; false (nothing held) when the budget refuses. */
  hold(bytes: number): boolean {
    const total = this.held + bytes;
    const budget = this.budget;
    if (budget !== undefined && total > (this.reservation?.bytes ?? 0)) {
      // Ask for a step ahead; when that does not fit, for exactly what is needed.
      const ahead = Math.ceil(total / this.step) * this.step;
      if (this.reservation === undefined) {
        this.reservation = budget.tryReserve('converter', ahead) ?? budget.tryReserve('converter', total);
        if (this.reservation === undefined) return false;
      } else if (!this.reservation.grow(ahead) && !this.reservation.grow(total)) {
        return false;
      }
    }
    this.held = total;
    return true;
  }

  /** Gives back `bytes` (handed on, or dropped). */
  free(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
    const reservation = this.reservation;
    // Keep up to two steps of slack so holds and frees around a step boundary stay arithmetic.
    if (reservation !== undefined && reservation.bytes - this.held > 2 * this.step) {
      reservation.shrink(Math.ceil(this.held / this.step) * this.step);
    }
  }
}
