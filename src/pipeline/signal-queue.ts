// One destination's queue for one signal: chunks in arrival order, bounded by bytes and items. When
// full, the oldest chunks go first (recent telemetry is worth more than stale) and the caller counts
// them. Chunks that could not be delivered yet return to the front, so order and age are kept.

import type { BatchLimits } from '../export/destination.js';
import type { TelemetryChunk } from '../model/chunk.js';

export interface QueueBounds {
  maxBytes: number;
  maxItems: number;
}

export class SignalQueue {
  private chunks: TelemetryChunk[] = [];
  /** Index of the first live chunk; the array is compacted lazily so shifting stays O(1). */
  private head = 0;
  private itemCount = 0;
  private byteCount = 0;
  /** Cached minimum createdAtMs; undefined = recompute. */
  private oldest: number | undefined;
  private oldestValid = true;

  constructor(readonly bounds: QueueBounds) {}

  get items(): number {
    return this.itemCount;
  }

  get bytes(): number {
    return this.byteCount;
  }

  get length(): number {
    return this.chunks.length - this.head;
  }

  oldestCreatedAtMs(): number | undefined {
    if (!this.oldestValid) {
      let min: number | undefined;
      for (let i = this.head; i < this.chunks.length; i++) {
        const t = (this.chunks[i] as TelemetryChunk).createdAtMs;
        if (min === undefined || t < min) min = t;
      }
      this.oldest = min;
      this.oldestValid = true;
    }
    return this.oldest;
  }

  /** Appends; returns the chunks dropped (oldest first) to stay within bounds. */
  push(chunk: TelemetryChunk): TelemetryChunk[] {
    this.chunks.push(chunk);
    this.added(chunk);
    return this.enforceBounds();
  }

  /** Removes and returns the oldest chunk (to make room under a shared memory budget). */
  dropOldest(): TelemetryChunk | undefined {
    if (this.length === 0) return undefined;
    const c = this.chunks[this.head] as TelemetryChunk;
    this.chunks[this.head] = undefined as unknown as TelemetryChunk;
    this.head++;
    this.itemCount -= c.items;
    this.byteCount -= c.bytes;
    if (c.createdAtMs === this.oldest) this.oldestValid = false;
    // Compacts the array and resets an empty queue.
    this.enforceBounds();
    return c;
  }

  /** Puts chunks back at the front in their order (undelivered retries); returns what had to be dropped. */
  requeueFront(chunks: readonly TelemetryChunk[]): TelemetryChunk[] {
    if (chunks.length === 0) return [];
    this.chunks = [...chunks, ...this.chunks.slice(this.head)];
    this.head = 0;
    for (const c of chunks) this.added(c);
    return this.enforceBounds();
  }

  /**
   * Removes everything, cut into batches within `limits`, in order. A chunk larger than the limits
   * on its own travels alone (the destination decides; 413 is handled by the exporter).
   */
  takeBatches(limits: BatchLimits): TelemetryChunk[][] {
    const batches: TelemetryChunk[][] = [];
    let current: TelemetryChunk[] = [];
    let items = 0;
    let bytes = 0;
    for (let i = this.head; i < this.chunks.length; i++) {
      const c = this.chunks[i] as TelemetryChunk;
      if (current.length > 0 && (items + c.items > limits.maxItems || bytes + c.bytes > limits.maxBytes)) {
        batches.push(current);
        current = [];
        items = 0;
        bytes = 0;
      }
      current.push(c);
      items += c.items;
      bytes += c.bytes;
    }
    if (current.length > 0) batches.push(current);
    this.chunks = [];
    this.head = 0;
    this.itemCount = 0;
    this.byteCount = 0;
    this.oldest = undefined;
    this.oldestValid = true;
    return batches;
  }

  private added(chunk: TelemetryChunk): void {
    this.itemCount += chunk.items;
    this.byteCount += chunk.bytes;
    if (this.oldestValid && (this.oldest === undefined || chunk.createdAtMs < this.oldest)) {
      this.oldest = chunk.createdAtMs;
    }
  }

  private enforceBounds(): TelemetryChunk[] {
    const dropped: TelemetryChunk[] = [];
    while (
      this.head < this.chunks.length &&
      (this.itemCount > this.bounds.maxItems || this.byteCount > this.bounds.maxBytes)
    ) {
      const c = this.chunks[this.head] as TelemetryChunk;
      this.chunks[this.head] = undefined as unknown as TelemetryChunk; // release the reference
      this.head++;
      this.itemCount -= c.items;
      this.byteCount -= c.bytes;
      dropped.push(c);
      if (c.createdAtMs === this.oldest) this.oldestValid = false;
    }
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    if (this.length === 0) {
      this.chunks = [];
      this.head = 0;
      this.oldest = undefined;
      this.oldestValid = true;
    }
    return dropped;
  }
}
