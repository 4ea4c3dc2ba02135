// One Telemetry API subscription: Lambda's per-subscriber buffer and its delivery loop. Records are
// batched by maxItems / maxBytes / timeoutMs and POSTed as a JSON array; a failed POST (non-2xx or
// connection error) is retried with backoff, in order; a subscriber that falls behind loses new log
// records and is told so with platform.logsDropped.
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { nowMs } from './clock.js';
import { envelope, LOGS_DROPPED_REASON, platform, recordForSchema } from './events.js';
import type { Timeline } from './timeline.js';
import type { TelemetryEnvelope } from './types.js';

export type TelemetryCategory = 'platform' | 'function' | 'extension';

export interface Buffering {
  maxItems: number;
  maxBytes: number;
  timeoutMs: number;
}

export interface SubscriberConfig {
  name: string;
  schemaVersion: string;
  types: TelemetryCategory[];
  buffering: Buffering;
  destination: URL;
  maxQueuedBytes: number;
  retryInitialMs: number;
  retryMaxMs: number;
  deliveryTimeoutMs: number;
  keepDeliveredRecords: boolean;
  /** Connects to the destination's port inside the environment's own network namespace. */
  connect?: (port: number) => Socket | undefined;
}

interface Queued {
  seq: number;
  atMs: number;
  json: string;
  bytes: number;
  envelope: TelemetryEnvelope;
}

export function categoryOf(type: string): TelemetryCategory {
  if (type === 'function') return 'function';
  if (type === 'extension') return 'extension';
  return 'platform';
}

/** sandbox.localdomain only resolves inside Lambda; here it is this machine. */
function connectHost(hostname: string): string {
  return hostname === 'sandbox.localdomain' || hostname === 'localhost' ? '127.0.0.1' : hostname;
}

export class TelemetrySubscriber {
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private nextSeq = 0;
  private forceUntilSeq = 0;
  private inFlight: Promise<void> | null = null;
  private batchTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryAttempt = 0;
  /** A batch that failed: resent as it was, before anything else. */
  private retryBatch: Queued[] | null = null;
  private attempt = 0;
  private paused = false;
  private closed = false;
  private dropped = { records: 0, bytes: 0 };
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly waiters: Array<{ seq: number; resolve: () => void }> = [];
  private readonly types: Set<TelemetryCategory>;
  /** Records delivered with a 2xx answer. */
  deliveredRecords = 0;

  constructor(
    readonly config: SubscriberConfig,
    private readonly timeline: Timeline,
  ) {
    this.types = new Set(config.types);
    const connectInside = config.connect;
    if (connectInside) {
      const port = Number(config.destination.port || 80);
      // The listener is on the environment's own loopback: reach it through the namespace's forwarder.
      this.agent.createConnection = (() => connectInside(port)) as Agent['createConnection'];
    }
  }

  accepts(type: string): boolean {
    return this.types.has(categoryOf(type));
  }

  get pendingRecords(): number {
    return this.queue.length;
  }

  push(env: TelemetryEnvelope, atMs = nowMs()): void {
    if (this.closed || !this.accepts(env.type)) return;
    const json = JSON.stringify(recordForSchema(env, this.config.schemaVersion));
    const bytes = Buffer.byteLength(json);
    // Under pressure Lambda sheds log lines first; platform records only far beyond the bound.
    const bound =
      categoryOf(env.type) === 'platform' ? 2 * this.config.maxQueuedBytes : this.config.maxQueuedBytes;
    if (this.queuedBytes + bytes > bound) {
      this.dropped.records += 1;
      this.dropped.bytes += bytes;
      return;
    }
    this.enqueue({ seq: this.nextSeq++, atMs, json, bytes, envelope: env });
  }

  /** Delivers everything queued so far without waiting for the batching timeout. */
  flush(): Promise<void> {
    this.forceUntilSeq = this.nextSeq;
    const target = this.nextSeq;
    const done = new Promise<void>((resolve) => {
      if (this.deliveredUpTo() >= target || this.closed) resolve();
      else this.waiters.push({ seq: target, resolve });
    });
    this.pump();
    return done;
  }

  /** Resolves when no POST is under way. */
  async idle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  pause(): void {
    this.paused = true;
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Stops delivering; returns how many records were never delivered. */
  close(): number {
    if (this.closed) return 0;
    this.closed = true;
    if (this.batchTimer) clearTimeout(this.batchTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.agent.destroy();
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    return this.queue.length;
  }

  private enqueue(item: Queued): void {
    this.queue.push(item);
    this.queuedBytes += item.bytes;
    this.pump();
  }

  private deliveredUpTo(): number {
    return this.queue[0]?.seq ?? this.nextSeq;
  }

  private batchDue(head: Queued): boolean {
    const { maxItems, maxBytes, timeoutMs } = this.config.buffering;
    return (
      head.seq < this.forceUntilSeq ||
      this.queue.length >= maxItems ||
      this.queuedBytes + this.queue.length + 1 >= maxBytes ||
      nowMs() - head.atMs >= timeoutMs
    );
  }

  private pump(): void {
    if (this.closed || this.paused || this.inFlight || this.retryTimer) return;
    const head = this.queue[0];
    if (!head) return;
    if (!this.retryBatch && !this.batchDue(head)) {
      if (!this.batchTimer) {
        const wait = Math.max(0, head.atMs + this.config.buffering.timeoutMs - nowMs());
        this.batchTimer = setTimeout(() => {
          this.batchTimer = null;
          this.pump();
        }, Math.ceil(wait));
      }
      return;
    }
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    const batch = this.retryBatch ?? this.takeBatch();
    this.retryBatch = null;
    this.inFlight = this.deliver(batch).then((ok) => {
      this.inFlight = null;
      this.settle(batch, ok);
      this.pump();
    });
  }

  /** Head records within maxItems and maxBytes (the JSON array included); at least one. */
  private takeBatch(): Queued[] {
    const { maxItems, maxBytes } = this.config.buffering;
    const batch: Queued[] = [];
    let size = 2;
    for (const item of this.queue) {
      if (batch.length >= maxItems) break;
      const added = item.bytes + (batch.length > 0 ? 1 : 0);
      if (batch.length > 0 && size + added > maxBytes) break;
      batch.push(item);
      size += added;
    }
    return batch;
  }

  private settle(batch: Queued[], ok: boolean): void {
    if (this.closed) return;
    if (!ok) {
      this.retryBatch = batch;
      this.retryAttempt += 1;
      const wait = Math.min(
        this.config.retryMaxMs,
        this.config.retryInitialMs * 2 ** (this.retryAttempt - 1),
      );
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.pump();
      }, wait);
      return;
    }
    this.retryAttempt = 0;
    this.queue.splice(0, batch.length);
    for (const item of batch) this.queuedBytes -= item.bytes;
    this.deliveredRecords += batch.length;
    if (this.dropped.records > 0) this.reportDrops();
    const upTo = this.deliveredUpTo();
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (upTo >= waiter.seq) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  private reportDrops(): void {
    const { records, bytes } = this.dropped;
    this.dropped = { records: 0, bytes: 0 };
    const atMs = nowMs();
    this.timeline.record({
      kind: 'logs-dropped',
      subscriber: this.config.name,
      droppedRecords: records,
      droppedBytes: bytes,
      atMs,
    });
    const record = platform.logsDropped({
      droppedBytes: bytes,
      droppedRecords: records,
      reason: LOGS_DROPPED_REASON,
    });
    const env = envelope('platform.logsDropped', record, atMs);
    const json = JSON.stringify(env);
    // Reported even to subscribers without 'platform': it is about their own stream.
    this.enqueue({ seq: this.nextSeq++, atMs, json, bytes: Buffer.byteLength(json), envelope: env });
  }

  private deliver(batch: Queued[]): Promise<boolean> {
    const body = `[${batch.map((b) => b.json).join(',')}]`;
    const url = this.config.destination;
    const startedMs = nowMs();
    const attempt = ++this.attempt;
    return new Promise<boolean>((resolve) => {
      let finished = false;
      const finish = (status: number | null, error?: string) => {
        if (finished) return;
        finished = true;
        if (!this.closed || status !== null) {
          this.timeline.record({
            kind: 'telemetry-delivery',
            subscriber: this.config.name,
            attempt,
            status,
            error,
            recordCount: batch.length,
            bytes: Buffer.byteLength(body),
            durationMs: nowMs() - startedMs,
            records: this.config.keepDeliveredRecords ? batch.map((b) => b.envelope) : undefined,
          });
        }
        resolve(status !== null && status >= 200 && status < 300);
      };
      const req = request(
        {
          host: connectHost(url.hostname),
          port: url.port || 80,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          agent: this.agent,
          timeout: this.config.deliveryTimeoutMs,
          headers: {
            host: url.host,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => finish(res.statusCode ?? null));
          res.on('error', (error) => finish(null, error.message));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.config.deliveryTimeoutMs} ms`)));
      req.on('error', (error) => finish(null, error.message));
      req.end(body);
    });
  }
}
