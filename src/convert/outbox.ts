// The outbox: finished platform spans waiting to be encoded, and their encoding into trace chunks
// of at most `maxSpansPerChunk` spans. Spans released between collects (evictions, late phase
// spans) wait here; without a sink to hand them to, a stalled pipeline must not grow it forever.

import type { TelemetryChunk } from '../model/chunk.js';
import { encodeSpans } from './chunks.js';
import type { ConverterStats } from './converter-stats.js';
import { type HeldMemory, OUTBOX_SPAN_BYTES } from './held-memory.js';
import type { PlatformResource } from './resource.js';
import type { FinishedSpan } from './spans.js';

/** Outbox bound without a sink, in chunks, and at least this many spans. */
const OUTBOX_CHUNKS = 8;
const OUTBOX_MIN_SPANS = 4096;

export class SpanOutbox {
  private spans: FinishedSpan[] = [];
  private readonly maxSpans: number;
  /** Set during a collect, which drains the outbox whole: no bound applies meanwhile. */
  collecting = false;

  constructor(
    readonly maxSpansPerChunk: number,
    /** Without a sink, nothing drains the outbox between collects: it is bounded. */
    private readonly bounded: boolean,
    private readonly resource: PlatformResource,
    private readonly counters: ConverterStats,
    private readonly fail: (err: unknown) => void,
    private readonly memory: HeldMemory,
  ) {
    this.maxSpans = Math.max(OUTBOX_MIN_SPANS, maxSpansPerChunk * OUTBOX_CHUNKS);
  }

  get size(): number {
    return this.spans.length;
  }

  /** A span the sampler dropped is only counted, and so is one the memory budget cannot hold. */
  push(span: FinishedSpan, sampled: boolean): void {
    if (!sampled) {
      this.counters.spansUnsampled++;
      return;
    }
    if (!this.memory.hold(OUTBOX_SPAN_BYTES)) {
      this.counters.spansOverBudget++;
      return;
    }
    this.spans.push(span);
    if (!this.collecting && this.bounded && this.spans.length > this.maxSpans) {
      const dropped = this.spans.length - this.maxSpans;
      this.spans.splice(0, dropped);
      this.memory.free(dropped * OUTBOX_SPAN_BYTES);
      this.counters.spansDropped += dropped;
    }
  }

  /** A span never assembled because the memory budget refused to hold its invocation. */
  refuse(sampled: boolean, spans = 1): void {
    if (sampled) this.counters.spansOverBudget += spans;
    else this.counters.spansUnsampled += spans;
  }

  /** Everything in the outbox, encoded; a batch that fails to encode is dropped and counted. */
  drain(): TelemetryChunk[] {
    if (this.spans.length === 0) return [];
    const spans = this.spans;
    this.spans = [];
    const resource = this.resource.get();
    const chunks: TelemetryChunk[] = [];
    const per = this.maxSpansPerChunk;
    for (let i = 0; i < spans.length; i += per) {
      const batch = spans.length <= per ? spans : spans.slice(i, i + per);
      let chunk: TelemetryChunk | undefined;
      try {
        chunk = encodeSpans(batch, resource);
      } catch (err) {
        this.fail(err);
      }
      if (chunk === undefined) {
        this.counters.encodeErrors++;
        this.counters.spansDropped += batch.length;
        continue;
      }
      this.counters.traceChunks++;
      this.counters.spansExported += batch.length;
      chunks.push(chunk);
    }
    // Encoded, the spans are the pipeline's to count (its queues), or dropped.
    this.memory.free(spans.length * OUTBOX_SPAN_BYTES);
    return chunks;
  }
}
