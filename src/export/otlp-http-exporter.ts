// Sends batches of chunks to one destination over OTLP/HTTP and applies the OTLP retry rules:
//  - 2xx (200, 202, …): delivered; a partialSuccess is logged and counted, never retried.
//  - 429, 502, 503, 504, connection failures, timeouts: retried with exponential backoff and full
//    jitter, or after Retry-After (which also holds back later flushes of that signal until then).
//  - 413: the batch is split in halves (by chunks) and each half resent; a single chunk still too large
//    is dropped (payload_too_large).
//  - 400 for a batch of several items: bisected the same way, by chunks, then within a chunk by its
//    items, so that one malformed item (the function's, say) costs only itself and the platform's
//    telemetry beside it is delivered; a single item refused is dropped (http_400). A bound on the
//    extra requests keeps a backend that refuses everything from multiplying them.
//  - any other status: dropped and counted (http_<status>).
// Every attempt fits the flush budget: timeout = min(configured, time left); no retry starts that
// could not finish in time. What the budget cuts off comes back as retry-later, never dropped.

import type { Signal, TelemetryChunk } from '../model/chunk.js';
import { splitChunkInHalves } from '../pipeline/chunk-split.js';
import { redactUrl } from '../extension-log.js';
import type { Scheduler } from '../model/time.js';
import { type DeadlineBudget, sleep, THAW_GRACE_MS, THAW_LATE_MS } from './deadline.js';
import type { DestinationConfig, SignalTarget } from './destination.js';
import { type Log, logOnce } from '../model/log.js';
import { readPartialSuccess } from './export-response.js';
import { platform } from '../platform/index.js';
import type { ExportClient, HttpResponse, PostResult } from '../platform/port.js';
import { EXTENSION_NAME, EXTENSION_VERSION } from '../convert/version.js';
import { encodeRequestBody, type RequestBody } from './request-body.js';
import type { RequestLimiter } from './request-limiter.js';
import { SigV4Signer } from './sigv4-signer.js';
import {
  type BackoffPolicy,
  DEFAULT_BACKOFF,
  backoffDelayMs,
  isRetryableStatus,
  parseRetryAfterMs,
} from './retry-policy.js';

export interface DroppedChunk {
  chunk: TelemetryChunk;
  /** queue_full, payload_too_large, http_<status>, encoding_error, … */
  reason: string;
}

export interface BatchOutcome {
  delivered: TelemetryChunk[];
  retryLater: TelemetryChunk[];
  dropped: DroppedChunk[];
  /** HTTP requests sent, stale-connection resends included. */
  requests: number;
  /** Backoff retries (the stale-connection resend is not one). */
  retries: number;
  /** Attempts that ended in a retryable failure (429, 5xx, timeout, connection error). */
  failedAttempts: number;
  staleConnectionRetries: number;
  /** Items the backend refused in a partialSuccess. */
  rejectedItems: number;
  /** Uncompressed bytes delivered, and bytes put on the wire for them. */
  deliveredBytes: number;
  wireBytes: number;
  /** True when the budget, not the destination, stopped delivery. */
  deadlineHit: boolean;
}

/**
 * Shared by the batches of one signal of one destination during one flush: once a batch gives up
 * (destination unhealthy or out of time), the rest do not start, they go back to the queue.
 */
export interface FlushGate {
  stopped: boolean;
  deadlineHit: boolean;
  /** The flush holds the invocation: connection failures are not retried with backoff, they wait for the next flush. */
  noRetryWait?: boolean;
  /** Told of every attempt that ends in a retryable failure. */
  onRetryableFailure?: () => void;
}

export interface ExporterOptions {
  limiter: RequestLimiter;
  log: Log;
  backoff?: BackoffPolicy;
  /** Backoff retries per batch within one flush (default 5); then the batch waits for the next flush. */
  maxRetries?: number;
  /** No attempt starts with less time left than this (default 50 ms). */
  minAttemptMs?: number;
  freeSocketTimeoutMs?: number;
  random?: () => number;
  now?: () => number;
  /** Timers for backoff waits and request timeouts (default real ones): virtual time in tests. */
  scheduler?: Scheduler;
  /** Where SigV4 credentials are read from (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

export function emptyOutcome(): BatchOutcome {
  return {
    delivered: [],
    retryLater: [],
    dropped: [],
    requests: 0,
    retries: 0,
    failedAttempts: 0,
    staleConnectionRetries: 0,
    rejectedItems: 0,
    deliveredBytes: 0,
    wireBytes: 0,
    deadlineHit: false,
  };
}

type SendResult =
  | { kind: 'delivered'; wireBytes: number }
  | { kind: 'retry-later' }
  | { kind: 'dropped'; reason: string }
  | { kind: 'too-large' }
  | { kind: 'bad-request'; reason: string };

/** Extra requests one batch may spend bisecting 400s: finds one bad chunk among 2^11. */
const MAX_BAD_REQUEST_SPLITS = 22;

function sumItems(chunks: readonly TelemetryChunk[]): number {
  let n = 0;
  for (const c of chunks) n += c.items;
  return n;
}

function sumBytes(chunks: readonly TelemetryChunk[]): number {
  let n = 0;
  for (const c of chunks) n += c.bytes;
  return n;
}

/** A short, secret-free description of an error answer for the log. */
function describeErrorBody(response: HttpResponse): string {
  const type = String(response.headers['content-type'] ?? '');
  if (response.body.length === 0 || !/json|text/i.test(type)) return '';
  return ': ' + response.body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim();
}

export class OtlpHttpExporter {
  readonly name: string;
  private readonly pool: ExportClient;
  private readonly urls = new Map<Signal, URL>();
  /** Retry-After holds a signal back until this epoch ms, across flushes. */
  private readonly notBeforeMs = new Map<Signal, number>();
  private readonly backoff: BackoffPolicy;
  private readonly maxRetries: number;
  private readonly minAttemptMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly signers = new Map<Signal, SigV4Signer>();

  constructor(
    readonly destination: DestinationConfig,
    private readonly options: ExporterOptions,
  ) {
    this.name = destination.name;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.maxRetries = options.maxRetries ?? 5;
    this.minAttemptMs = options.minAttemptMs ?? 50;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.pool = platform().exportClient({
      userAgent: `${EXTENSION_NAME}/${EXTENSION_VERSION}`,
      thawLateMs: THAW_LATE_MS,
      thawGraceMs: THAW_GRACE_MS,
      freeSocketTimeoutMs: options.freeSocketTimeoutMs,
      now: this.now,
      ...(options.scheduler && { scheduler: options.scheduler }),
    });
    for (const [signal, target] of Object.entries(destination.signals) as [Signal, SignalTarget][]) {
      this.urls.set(signal, new URL(target.url));
      if (target.sigv4) this.signers.set(signal, new SigV4Signer(target.sigv4, { env: options.env }));
    }
  }

  target(signal: Signal): SignalTarget | undefined {
    return this.destination.signals[signal];
  }

  /** Exports one batch (chunks of `signal`, in order). Never rejects. */
  async exportBatch(
    signal: Signal,
    chunks: readonly TelemetryChunk[],
    budget: DeadlineBudget,
    gate: FlushGate,
  ): Promise<BatchOutcome> {
    const out = emptyOutcome();
    const target = this.target(signal);
    if (!target) {
      for (const chunk of chunks) out.dropped.push({ chunk, reason: 'no_destination' });
      return out;
    }
    try {
      await this.sendSplitting(signal, target, chunks, budget, gate, out, { splits: 0 });
    } catch (error) {
      // A bug must not lose data silently: keep the chunks for the next flush and say why.
      this.options.log.error(`export to ${this.name} (${signal}) failed unexpectedly`, error);
      const settled = new Set([...out.delivered, ...out.retryLater, ...out.dropped.map((d) => d.chunk)]);
      for (const chunk of chunks) if (!settled.has(chunk)) out.retryLater.push(chunk);
    }
    out.deadlineHit ||= gate.deadlineHit;
    return out;
  }

  /** Closes idle keep-alive connections (e.g. when the environment resumes after a long freeze). */
  closeIdleConnections(): void {
    this.pool.closeIdleConnections();
  }

  shutdown(): void {
    this.pool.destroy();
  }

  private async sendSplitting(
    signal: Signal,
    target: SignalTarget,
    chunks: readonly TelemetryChunk[],
    budget: DeadlineBudget,
    gate: FlushGate,
    out: BatchOutcome,
    bisect: { splits: number },
  ): Promise<void> {
    const result = await this.sendWithRetries(signal, target, chunks, budget, gate, out);
    switch (result.kind) {
      case 'delivered':
        out.delivered.push(...chunks);
        out.deliveredBytes += sumBytes(chunks);
        out.wireBytes += result.wireBytes;
        return;
      case 'retry-later':
        out.retryLater.push(...chunks);
        return;
      case 'dropped':
        for (const chunk of chunks) out.dropped.push({ chunk, reason: result.reason });
        return;
      case 'too-large': {
        if (chunks.length === 1) {
          logOnce(
            this.options.log,
            `export:${this.name}:${signal}:too-large`,
            'warn',
            `export to ${this.name} (${signal}): a single chunk of ${sumBytes(chunks)} bytes is too large for the destination (413); dropped`,
          );
          out.dropped.push({ chunk: chunks[0] as TelemetryChunk, reason: 'payload_too_large' });
          return;
        }
        const half = Math.ceil(chunks.length / 2);
        await this.sendSplitting(signal, target, chunks.slice(0, half), budget, gate, out, bisect);
        await this.sendSplitting(signal, target, chunks.slice(half), budget, gate, out, bisect);
        return;
      }
      case 'bad-request': {
        // Below one chunk, by its items.
        const halves = chunks.length === 1 ? splitChunkInHalves(chunks[0] as TelemetryChunk) : undefined;
        if ((chunks.length === 1 && !halves) || bisect.splits + 2 > MAX_BAD_REQUEST_SPLITS) {
          logOnce(
            this.options.log,
            `export:${this.name}:${signal}:${result.reason}`,
            'warn',
            `export to ${this.name} (${signal}) refused with HTTP 400 after splitting the batch; ${sumItems(chunks)} items dropped`,
          );
          for (const chunk of chunks) out.dropped.push({ chunk, reason: result.reason });
          return;
        }
        bisect.splits += 2;
        const half = Math.ceil(chunks.length / 2);
        const [first, second] = halves
          ? [[halves[0]], [halves[1]]]
          : [chunks.slice(0, half), chunks.slice(half)];
        this.options.log.debug(
          `export to ${this.name} (${signal}): HTTP 400 for ${sumItems(chunks)} items; resending them in halves`,
        );
        await this.sendSplitting(signal, target, first, budget, gate, out, bisect);
        await this.sendSplitting(signal, target, second, budget, gate, out, bisect);
        return;
      }
    }
  }

  private giveUp(gate: FlushGate, deadline: boolean): SendResult {
    gate.stopped = true;
    if (deadline) gate.deadlineHit = true;
    return { kind: 'retry-later' };
  }

  private async sendWithRetries(
    signal: Signal,
    target: SignalTarget,
    chunks: readonly TelemetryChunk[],
    budget: DeadlineBudget,
    gate: FlushGate,
    out: BatchOutcome,
  ): Promise<SendResult> {
    const url = this.urls.get(signal) as URL;
    let body: RequestBody | undefined;
    for (let retry = 0; ; retry++) {
      if (gate.stopped) return { kind: 'retry-later' };
      const notBefore = this.notBeforeMs.get(signal) ?? 0;
      const waitMs = notBefore - this.now();
      if (waitMs > 0) {
        // The server asked for a pause (Retry-After) that is still running.
        if (this.now() + waitMs + this.minAttemptMs > budget.usableEndMs) return this.giveUp(gate, false);
        if (!(await sleep(waitMs, budget.signal, this.options.scheduler))) return this.giveUp(gate, true);
      }
      if (budget.remainingMs() < this.minAttemptMs) return this.giveUp(gate, true);

      if (!body) {
        try {
          body = await encodeRequestBody(signal, chunks, target.protocol, target.compression);
        } catch (error) {
          this.options.log.error(
            `export to ${this.name} (${signal}): cannot encode the request; dropped`,
            error,
          );
          return { kind: 'dropped', reason: 'encoding_error' };
        }
      }
      const encoded = body;
      let headers: Record<string, string> = { ...target.headers, 'content-type': encoded.contentType };
      if (encoded.contentEncoding) headers['content-encoding'] = encoded.contentEncoding;
      const signer = this.signers.get(signal);
      if (signer) {
        // Signed per attempt, over the compressed body as sent; a fresh date each time.
        try {
          headers = await signer.sign({ url, headers, body: encoded.body });
        } catch (error) {
          logOnce(
            this.options.log,
            `export:${this.name}:${signal}:sigv4`,
            'warn',
            `export to ${this.name} (${signal}): cannot sign the request (${error instanceof Error ? error.message : String(error)}); kept for the next flush`,
          );
          return this.giveUp(gate, false);
        }
      }

      let result: PostResult | 'no-time' | 'stopped';
      try {
        result = await this.options.limiter.run(
          this.name,
          async () => {
            // Another batch gave up while this one waited for a slot.
            if (gate.stopped) return 'stopped' as const;
            // Measured when the slot is granted: waiting for it used part of the budget.
            const timeoutMs = Math.min(target.timeoutMs, budget.remainingMs());
            if (timeoutMs < this.minAttemptMs) return 'no-time' as const;
            return this.pool.post({ url, headers, body: encoded.body, timeoutMs, signal: budget.signal });
          },
          budget.signal,
        );
      } catch {
        // Aborted while waiting for a request slot: the budget is over.
        return this.giveUp(gate, true);
      }
      if (result === 'stopped') return { kind: 'retry-later' };
      if (result === 'no-time') return this.giveUp(gate, true);
      out.requests += 1 + result.staleRetries;
      out.staleConnectionRetries += result.staleRetries;

      let retryAfterMs: number | undefined;
      let cause: string;
      if (result.kind === 'response') {
        const { status } = result.response;
        if (status >= 200 && status < 300) {
          await this.notePartialSuccess(signal, result.response, out);
          return { kind: 'delivered', wireBytes: encoded.body.length };
        }
        if (status === 413) return { kind: 'too-large' };
        if (status === 400 && sumItems(chunks) > 1) return { kind: 'bad-request', reason: 'http_400' };
        if (!isRetryableStatus(status)) {
          logOnce(
            this.options.log,
            `export:${this.name}:${signal}:http_${status}`,
            'warn',
            `export to ${this.name} (${signal}, ${redactUrl(url.href)}) refused with HTTP ${status}${describeErrorBody(result.response)}; ${sumItems(chunks)} items dropped`,
          );
          return { kind: 'dropped', reason: `http_${status}` };
        }
        retryAfterMs = parseRetryAfterMs(result.response.headers['retry-after'], this.now());
        cause = `HTTP ${status}`;
      } else if (result.kind === 'aborted') {
        return this.giveUp(gate, true);
      } else if (result.kind === 'timeout') {
        // Cut by the budget rather than by the destination's own timeout: out of time.
        if (budget.remainingMs() < this.minAttemptMs) return this.giveUp(gate, true);
        cause = 'timeout';
      } else {
        cause = result.code;
      }

      out.failedAttempts++;
      gate.onRetryableFailure?.();
      if (retryAfterMs !== undefined) this.notBeforeMs.set(signal, this.now() + retryAfterMs);
      // A destination that answers is alive: a short backoff before the freeze is worth it. One that
      // cannot be reached is not worth holding the invocation for; a later flush tries again.
      if (gate.noRetryWait && result.kind !== 'response') {
        this.options.log.debug(
          `export to ${this.name} (${signal}): ${cause}; not retried while the invocation waits, kept for the next flush`,
        );
        return this.giveUp(gate, false);
      }
      if (retry >= this.maxRetries) {
        logOnce(
          this.options.log,
          `export:${this.name}:${signal}:exhausted`,
          'warn',
          `export to ${this.name} (${signal}) still failing after ${retry + 1} attempts (${cause}); kept for the next flush`,
        );
        return this.giveUp(gate, false);
      }
      const delayMs = retryAfterMs ?? backoffDelayMs(retry, this.backoff, this.random);
      if (this.now() + delayMs + this.minAttemptMs > budget.usableEndMs) {
        this.options.log.debug(
          `export to ${this.name} (${signal}): ${cause}; no time left to retry, kept for the next flush`,
        );
        return this.giveUp(gate, retryAfterMs === undefined);
      }
      this.options.log.debug(`export to ${this.name} (${signal}): ${cause}; retrying in ${delayMs} ms`);
      out.retries++;
      if (!(await sleep(delayMs, budget.signal, this.options.scheduler))) return this.giveUp(gate, true);
    }
  }

  private async notePartialSuccess(signal: Signal, response: HttpResponse, out: BatchOutcome): Promise<void> {
    try {
      const partial = await readPartialSuccess(
        signal,
        String(response.headers['content-type'] ?? ''),
        response.body,
      );
      if (!partial) return;
      out.rejectedItems += partial.rejected;
      logOnce(
        this.options.log,
        `export:${this.name}:${signal}:partial`,
        'warn',
        `export to ${this.name} (${signal}): the backend rejected ${partial.rejected} items${partial.message ? `: ${partial.message.slice(0, 300)}` : ''}`,
      );
    } catch (error) {
      this.options.log.debug(`export to ${this.name} (${signal}): unreadable success response`, error);
    }
  }
}
