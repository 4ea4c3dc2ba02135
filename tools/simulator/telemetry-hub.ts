// Where every telemetry record is emitted: kept in order for assertions and fanned out to the
// subscribers. Records emitted during init before an extension subscribes are handed to it when it
// subscribes, as Lambda does (extensions see platform.initStart although they subscribe after it).
import type { Socket } from 'node:net';
import { nowMs, within } from './clock.js';
import { envelope } from './events.js';
import { type SubscriberConfig, TelemetrySubscriber } from './telemetry-subscriber.js';
import type { Timeline } from './timeline.js';
import type { TelemetryEnvelope } from './types.js';

interface Emitted {
  env: TelemetryEnvelope;
  atMs: number;
}

export class TelemetryHub {
  /** Every record emitted, whether or not anyone subscribed. */
  readonly records: TelemetryEnvelope[] = [];
  /**
   * By extension name and destination: one extension may hold several subscriptions (the
   * OpenTelemetry Collector layer subscribes twice, with two listeners); subscribing again to the
   * same destination replaces that subscription.
   */
  private readonly subscribers = new Map<string, TelemetrySubscriber>();
  private initBacklog: Emitted[] | null = null;
  private paused = false;
  private readonly listeners = new Set<(env: TelemetryEnvelope) => void>();
  /** Opens a connection to a port inside the environment's own network (when it has one). */
  connectInside: ((port: number) => Socket | undefined) | undefined;

  constructor(
    private readonly timeline: Timeline,
    private readonly keepRecords = true,
  ) {}

  emit(type: string, record: unknown, atMs = nowMs()): TelemetryEnvelope {
    const env = envelope(type, record, atMs);
    if (this.keepRecords) this.records.push(env);
    this.initBacklog?.push({ env, atMs });
    for (const subscriber of this.subscribers.values()) subscriber.push(env, atMs);
    for (const listener of this.listeners) listener(env);
    return env;
  }

  onRecord(listener: (env: TelemetryEnvelope) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts keeping this init's records for extensions that subscribe later during the same init. */
  beginInit(): void {
    this.initBacklog = [];
  }

  endInit(): void {
    this.initBacklog = null;
  }

  subscribe(config: SubscriberConfig): TelemetrySubscriber {
    const key = `${config.name} ${config.destination.href}`;
    this.subscribers.get(key)?.close();
    const subscriber = new TelemetrySubscriber({ ...config, connect: this.connectInside }, this.timeline);
    if (this.paused) subscriber.pause();
    this.subscribers.set(key, subscriber);
    for (const { env, atMs } of this.initBacklog ?? []) subscriber.push(env, atMs);
    return subscriber;
  }

  /** The subscriptions an extension holds, in the order it made them. */
  subscriptionsOf(name: string): TelemetrySubscriber[] {
    return this.all.filter((s) => s.config.name === name);
  }

  get all(): TelemetrySubscriber[] {
    return [...this.subscribers.values()];
  }

  /** Delivers what is queued now and waits for the POSTs, at most `boundMs`. */
  async flushAll(boundMs: number): Promise<void> {
    const all = Promise.all(
      this.all.map(async (s) => {
        await s.flush();
        await s.idle();
      }),
    );
    await within(all, boundMs);
  }

  /** Waits for POSTs under way (the freezer must not stop a listener mid-answer), at most `boundMs`. */
  async idle(boundMs: number): Promise<void> {
    await within(Promise.all(this.all.map((s) => s.idle())), boundMs);
  }

  pause(): void {
    this.paused = true;
    for (const s of this.subscribers.values()) s.pause();
  }

  resume(): void {
    this.paused = false;
    for (const s of this.subscribers.values()) s.resume();
  }

  /** Drops every subscription (the environment is gone); returns the undelivered record count. */
  closeAll(): number {
    let undelivered = 0;
    for (const s of this.subscribers.values()) undelivered += s.close();
    this.subscribers.clear();
    this.initBacklog = null;
    return undelivered;
  }
}
