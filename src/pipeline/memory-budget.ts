// One memory budget for everything the extension holds on behalf of others: request bodies being
// read and decoded by the local receiver, Telemetry API pushes being parsed, and the export queues
// (including batches being sent). It is derived from the function's memory, because the extension
// shares the execution environment's memory with the function: past it, Lambda kills the whole
// environment, function included.
//
// Work reserves its estimated peak cost BEFORE it reads a body; a reservation that does not fit is
// refused, and the caller answers for it (the function's SDK gets 503 + Retry-After and retries;
// a Telemetry API push is dropped and counted, as Lambda itself drops logs it cannot deliver).
// Queued chunks count at their encoded size; the pipeline reports them through `queuedBytes`.

/** Share of the function's memory the extension allows itself by default. */
export const DEFAULT_BUDGET_PERCENT = 10;
/** Upper bound of the derived budget: past this, larger functions gain nothing from more. */
export const DEFAULT_MAX_BUDGET_BYTES = 64 * 1024 * 1024;
/** Lower bound: below it not even one SDK batch could be received. */
export const MIN_BUDGET_BYTES = 2 * 1024 * 1024;
/** When the function's memory is unknown (local runs), the function is assumed this large (MiB). */
export const ASSUMED_FUNCTION_MEMORY_MB = 128;

/**
 * Peak memory of receiving one OTLP request, per byte of (decompressed) body: the body, its decoded
 * protobuf messages, the re-encoded chunks. Measured at 6–15× for real SDK spans (bench/).
 */
export const RECEIVE_COST_PER_BYTE = 8;
/** Peak memory of parsing one Telemetry API push, per body byte (JSON objects, events): ~9× measured. */
export const PUSH_COST_PER_BYTE = 8;
/**
 * The receiver may fill the budget only up to this share: the function's SDK can retry a refused
 * export, Lambda's own telemetry cannot be asked again, so its pushes keep the rest.
 */
export const RECEIVER_SHARE = 0.75;

export interface MemoryBudgetSettings {
  /** AWS_LAMBDA_FUNCTION_MEMORY_SIZE, MiB; undefined when unknown. */
  functionMemoryMb: number | undefined;
  /** Percent of the function's memory (default 10). */
  percent?: number;
  /** Cap of the derived budget, bytes (default 64 MiB). */
  maxBytes?: number;
  /** An explicit budget in bytes: overrides percent and cap. */
  bytes?: number;
}

/** The budget in bytes for these settings. */
export function budgetBytes(settings: MemoryBudgetSettings): number {
  if (settings.bytes !== undefined && settings.bytes > 0) return Math.floor(settings.bytes);
  const memoryMb =
    settings.functionMemoryMb !== undefined && settings.functionMemoryMb > 0
      ? settings.functionMemoryMb
      : ASSUMED_FUNCTION_MEMORY_MB;
  const percent = settings.percent ?? DEFAULT_BUDGET_PERCENT;
  const derived = Math.floor((memoryMb * 1024 * 1024 * percent) / 100);
  return Math.max(MIN_BUDGET_BYTES, Math.min(settings.maxBytes ?? DEFAULT_MAX_BUDGET_BYTES, derived));
}

/** `converter`: telemetry the converters hold between collects (invocations, log records, metric series). */
export type BudgetUser = 'receiver' | 'telemetry_api' | 'converter';

/** Memory held for one piece of work until released; it may grow (a body longer than announced). */
export interface Reservation {
  readonly bytes: number;
  /** Grows to `bytes` in total; false (and unchanged) when that does not fit. */
  grow(bytes: number): boolean;
  /** Gives back what is above `bytes` in total (what was held was handed on). */
  shrink(bytes: number): void;
  /** Gives the memory back; idempotent. */
  release(): void;
}

/** Refusals by user; the converters' appear once they refused (the converters count their drops too). */
export type Refusals = Record<'receiver' | 'telemetry_api', number> & { converter?: number };

export interface MemoryBudgetSnapshot {
  limitBytes: number;
  reservedBytes: number;
  queuedBytes: number;
  /** Highest reserved + queued seen. */
  highWaterBytes: number;
  /** Reservations refused, by user. */
  refused: Refusals;
}

export class MemoryBudget {
  private reserved = 0;
  private highWater = 0;
  private readonly refusals: Refusals = { receiver: 0, telemetry_api: 0 };
  private queued: () => number = () => 0;

  constructor(readonly limitBytes: number) {}

  /** Where the bytes held in export queues are read (the pipeline, once it exists). */
  setQueuedBytes(read: () => number): void {
    this.queued = read;
  }

  /** Reserved plus queued bytes now. */
  used(): number {
    return this.reserved + this.queued();
  }

  /** The most one piece of work of `user` could ever be given (when nothing else is held). */
  maxFor(user: BudgetUser): number {
    return user === 'receiver' ? Math.floor(this.limitBytes * RECEIVER_SHARE) : this.limitBytes;
  }

  /** Reserves `bytes` for `user`, or returns undefined (counted) when that would pass its limit. */
  tryReserve(user: BudgetUser, bytes: number): Reservation | undefined {
    const amount = Math.max(0, Math.ceil(bytes));
    if (!this.fits(user, amount)) {
      this.refusals[user] = (this.refusals[user] ?? 0) + 1;
      return undefined;
    }
    this.take(amount);
    let held = amount;
    let released = false;
    const budget = this;
    return {
      get bytes() {
        return held;
      },
      grow(total: number): boolean {
        if (released) return false;
        const extra = Math.ceil(total) - held;
        if (extra <= 0) return true;
        if (!budget.fits(user, extra)) {
          budget.refusals[user] = (budget.refusals[user] ?? 0) + 1;
          return false;
        }
        budget.take(extra);
        held += extra;
        return true;
      },
      shrink(total: number): void {
        const target = Math.max(0, Math.ceil(total));
        if (released || target >= held) return;
        budget.reserved -= held - target;
        held = target;
      },
      release(): void {
        if (released) return;
        released = true;
        budget.reserved -= held;
      },
    };
  }

  /** Notes the current use for the high-water mark (the pipeline calls it after enqueuing). */
  observe(): void {
    const used = this.used();
    if (used > this.highWater) this.highWater = used;
  }

  snapshot(): MemoryBudgetSnapshot {
    this.observe();
    return {
      limitBytes: this.limitBytes,
      reservedBytes: this.reserved,
      queuedBytes: this.queued(),
      highWaterBytes: this.highWater,
      refused: { ...this.refusals },
    };
  }

  private fits(user: BudgetUser, extra: number): boolean {
    return this.used() + extra <= this.maxFor(user);
  }

  private take(amount: number): void {
    this.reserved += amount;
    this.observe();
  }
}
