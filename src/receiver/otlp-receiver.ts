// The local OTLP receiver the function's OpenTelemetry SDK exports to: OTLP/HTTP (default
// http://localhost:4318, otlp-http-server.ts) and optionally OTLP/gRPC (otlp-grpc-server.ts) share
// this intake. It accepts traces, metrics and logs, screens and counts them, lets the trace
// correlator join the function's spans with the platform invocation span, and hands the pipeline
// protobuf chunks; both transports answer from its verdicts (partial success when something was
// rejected, 413 past the size limits, 429/503 with Retry-After when the pipeline is full).
//
// Besides the three signal paths, POST /v1/flush asks for an immediate flush (onForceFlush) and
// answers once it has finished: a function can call it before returning when it wants its telemetry
// out before the environment may freeze.

import type { Message } from 'protobufjs';
import type { Signal } from '../model/chunk.js';
import { type Log, logOnce, NO_LOG } from '../model/log.js';
import { type MemoryBudget, RECEIVE_COST_PER_BYTE, type Reservation } from '../pipeline/memory-budget.js';
import { platform } from '../platform/index.js';
import { messageFromOtlpJson } from './otlp-json.js';
import { OtlpHttpServer } from './otlp-http-server.js';
import type { WireResourceSpans } from './otlp-messages.js';
import type { OtlpSchema } from './otlp-schema.js';
import { makeChunks } from './received-chunks.js';
import {
  type AcceptedExport,
  DEFAULT_RECEIVER_HOSTS,
  DEFAULT_RECEIVER_LIMITS,
  DEFAULT_RECEIVER_PORT,
  type Encoding,
  GRPC_INVALID_ARGUMENT,
  GRPC_RESOURCE_EXHAUSTED,
  GRPC_UNAVAILABLE,
  GRPC_UNIMPLEMENTED,
  type OtlpReceiverOptions,
  type ReceiverLimits,
  type ReceiverStats,
  Refusal,
  type SignalStats,
} from './receiver-contract.js';
import { screenRequest } from './request-screening.js';
import { NO_CORRELATION } from './trace-correlation.js';
import { checkExportRequest, type WireCheckResult } from './wire-check.js';

export * from './receiver-contract.js';

const REJECTED_FIELD: Record<Signal, string> = {
  traces: 'rejectedSpans',
  metrics: 'rejectedDataPoints',
  logs: 'rejectedLogRecords',
};

function emptyStats(): SignalStats {
  return { requests: 0, acceptedItems: 0, rejectedItems: 0, repairedItems: 0, chunks: 0, bytes: 0 };
}

/** Reserved up front for a body of unknown decompressed size; the reservation grows as it arrives. */
const INITIAL_UNKNOWN_BYTES = 64 * 1024;

export class OtlpReceiver {
  private readonly limits: ReceiverLimits;
  private httpServer: OtlpHttpServer | undefined;
  private readonly log: Log;
  private readonly now: () => number;
  private boundPort = 0;
  private readonly counters: ReceiverStats = {
    signals: { traces: emptyStats(), metrics: emptyStats(), logs: emptyStats() },
    refused: {
      'not-found': 0,
      'method-not-allowed': 0,
      'unsupported-media-type': 0,
      'too-large': 0,
      'bad-data': 0,
      throttled: 0,
      'over-budget': 0,
      aborted: 0,
      internal: 0,
    },
    forceFlushes: 0,
    grpcRequests: 0,
  };
  private grpcServer: { stop(): Promise<void> } | undefined;

  constructor(private readonly options: OtlpReceiverOptions) {
    const limits = { ...DEFAULT_RECEIVER_LIMITS, ...options.limits };
    if (options.budget) {
      // A body whose processing could never fit the budget is too large for this function.
      const most = Math.floor(options.budget.maxFor('receiver') / RECEIVE_COST_PER_BYTE);
      limits.maxBodyBytes = Math.min(limits.maxBodyBytes, most);
      limits.maxDecompressedBytes = Math.min(limits.maxDecompressedBytes, most);
    }
    this.limits = limits;
    this.log = options.log ?? NO_LOG;
    this.now = options.now ?? Date.now;
  }

  /** The bound port (after start). */
  get port(): number {
    return this.boundPort;
  }

  /** Counters since start; a copy. */
  stats(): ReceiverStats {
    return structuredClone(this.counters);
  }

  /** Binds every host; rejects when the first cannot be bound (e.g. the port is taken). */
  async start(): Promise<{ port: number; hosts: string[] }> {
    const http = new OtlpHttpServer(this, {
      port: this.options.port ?? DEFAULT_RECEIVER_PORT,
      hosts: this.options.hosts ?? DEFAULT_RECEIVER_HOSTS,
      platform: this.options.platform ?? platform(),
      log: this.log,
      onForceFlush: this.options.onForceFlush,
    });
    this.httpServer = http;
    const bound = await http.start();
    this.boundPort = bound.port;
    return bound;
  }

  /**
   * Binds the OTLP/gRPC transport when configured. Its module and node:http2 load only here, so a
   * receiver without gRPC never pays for them.
   */
  async startGrpc(): Promise<{ port: number; hosts: string[] } | undefined> {
    const grpc = this.options.grpc;
    if (!grpc || this.grpcServer) return undefined;
    const { OtlpGrpcServer } = await import('./otlp-grpc-server.js');
    const server = new OtlpGrpcServer(this, { ...grpc, log: this.log, platform: this.options.platform });
    const bound = await server.start();
    this.grpcServer = server;
    return bound;
  }

  /** The gRPC transport's bound port, when started. */
  get grpcPort(): number | undefined {
    return (this.grpcServer as { port?: number } | undefined)?.port;
  }

  async stop(): Promise<void> {
    const grpc = this.grpcServer;
    this.grpcServer = undefined;
    await grpc?.stop();
    const http = this.httpServer;
    this.httpServer = undefined;
    await http?.stop();
  }

  /** The memory budget bodies reserve from, when there is one. */
  get budget(): MemoryBudget | undefined {
    return this.options.budget;
  }

  countForceFlush(): void {
    this.counters.forceFlushes++;
  }

  /** Counts (and logs, when internal) a refused request; both transports. */
  countRefusal(refusal: Refusal): void {
    // The first of each kind is logged; all are counted (stats, self-telemetry, the shutdown line).
    if (refusal.reason === 'internal')
      logOnce(this.log, 'receiver.internal', 'error', `OTLP receiver: ${refusal.message}`);
    this.counters.refused[refusal.reason]++;
  }

  /** Counts a request that came over OTLP/gRPC. */
  countGrpcRequest(): void {
    this.counters.grpcRequests++;
  }

  /** The configured size limits; both transports. */
  get receiverLimits(): Readonly<ReceiverLimits> {
    return this.limits;
  }

  /**
   * Admission before a body is read, shared by both transports: the declared size against the
   * limit, then the pipeline's verdict. Throws a Refusal.
   */
  admitRequest(signal: Signal, contentLength: number | undefined): void {
    if (contentLength !== undefined && contentLength > this.limits.maxBodyBytes) {
      throw this.tooLarge(
        `request body of ${contentLength} bytes exceeds the ${this.limits.maxBodyBytes}-byte limit`,
      );
    }
    const admission = this.options.admit?.(signal, contentLength) ?? { accept: true };
    if (!admission.accept) {
      const status = admission.status ?? 503;
      throw new Refusal(
        status,
        status === 429 ? GRPC_RESOURCE_EXHAUSTED : GRPC_UNAVAILABLE,
        'throttled',
        admission.reason ?? 'telemetry pipeline is full; retry later',
        { 'retry-after': String(Math.max(1, Math.ceil(admission.retryAfterSeconds ?? 1))) },
      );
    }
  }

  /**
   * Reserves the memory a body will cost before it is read, so many uploads announced at once are
   * refused here rather than after they have all been buffered; `knownBytes` is the body's size
   * when it is known and uncompressed. Undefined without a budget; throws a Refusal when over it.
   * The reservation grows as a longer (or compressed) body arrives; the caller releases it.
   */
  reserveBody(knownBytes: number | undefined): Reservation | undefined {
    if (!this.options.budget) return undefined;
    const reservation = this.options.budget.tryReserve(
      'receiver',
      (knownBytes ?? INITIAL_UNKNOWN_BYTES) * RECEIVE_COST_PER_BYTE,
    );
    if (!reservation) throw this.overBudget();
    return reservation;
  }

  /** Grows a body's reservation to `bodyBytes` of body; throws a Refusal when that does not fit. */
  growReservation(reservation: Reservation | undefined, bodyBytes: number): void {
    if (reservation && !reservation.grow(bodyBytes * RECEIVE_COST_PER_BYTE)) throw this.overBudget();
  }

  /**
   * A whole, decompressed request body into the pipeline, shared by both transports: decode,
   * screen, correlate, chunk, enqueue, count. Throws a Refusal. The body's reservation, if any, is
   * handed over to the queue once the chunks are enqueued.
   */
  acceptBody(
    signal: Signal,
    body: Buffer,
    encoding: Encoding,
    schema: OtlpSchema,
    reservation?: Pick<Reservation, 'release'>,
  ): AcceptedExport {
    const receivedAtMs = this.now();
    const stats = this.counters.signals[signal];
    stats.requests++;

    const requestType = schema.request[signal];
    let message: Message;
    let encoded: Uint8Array | undefined;
    let wire: WireCheckResult | undefined;
    try {
      if (encoding === 'protobuf') {
        // The bytes are forwarded as they are: what the lenient decoder would let through and a
        // strict backend would refuse (with everything batched alongside) is cut out first.
        wire = checkExportRequest(requestType, body);
        message = requestType.decode(wire.bytes);
        encoded = wire.bytes;
      } else {
        // A UTF-8 byte order mark is legal in JSON bodies but not to JSON.parse.
        const hasBom = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
        message = messageFromOtlpJson(requestType, JSON.parse(body.toString('utf8', hasBom ? 3 : 0)));
      }
    } catch (err) {
      throw new Refusal(
        400,
        GRPC_INVALID_ARGUMENT,
        'bad-data',
        `request body is not a valid ${encoding === 'json' ? 'OTLP/JSON' : 'protobuf'} ${requestType.name}: ${(err as Error).message}`,
      );
    }

    const screening = screenRequest(signal, message);
    if (screening.modified) encoded = undefined;
    let held = false;
    if (signal === 'traces' && screening.items > 0) {
      const resourceSpans = (message as unknown as { resourceSpans: WireResourceSpans[] }).resourceSpans;
      const correlator = this.options.correlator ?? NO_CORRELATION;
      const outcome = correlator.observeResourceSpans(resourceSpans);
      if (outcome.modified) encoded = undefined;
      if (outcome.waiting) {
        // Its invocation is not known yet: the correlator encodes it once it joined (or gave up).
        const original = encoded;
        held =
          correlator.hold?.(resourceSpans, screening.items, (modified) => {
            const bytes =
              modified || original === undefined ? requestType.encode(message).finish() : original;
            return makeChunks(
              signal,
              requestType,
              bytes,
              message,
              screening.itemsPerResource,
              receivedAtMs,
              this.limits,
            );
          }) ?? false;
      }
    }
    if (held) {
      stats.acceptedItems += screening.items;
      stats.rejectedItems += screening.rejected;
      stats.repairedItems += screening.repaired;
      return { rejected: screening.rejected, reasons: screening.reasons };
    }
    encoded ??= requestType.encode(message).finish();

    const chunks = makeChunks(
      signal,
      requestType,
      encoded,
      message,
      screening.itemsPerResource,
      receivedAtMs,
      this.limits,
    );
    // The queue accounts for the chunks from here on.
    reservation?.release();
    try {
      for (const chunk of chunks) this.options.sink.enqueue(chunk);
    } catch (err) {
      // A sink that throws is saturated or shutting down: the sender should retry.
      throw new Refusal(
        503,
        GRPC_UNAVAILABLE,
        'throttled',
        `telemetry pipeline refused the data: ${(err as Error).message}`,
        {
          'retry-after': '1',
        },
      );
    }
    const rejected = screening.rejected + (wire?.rejectedItems ?? 0);
    const reasons = wire?.firstProblem ? [wire.firstProblem, ...screening.reasons] : screening.reasons;
    stats.acceptedItems += screening.items;
    stats.rejectedItems += rejected;
    stats.repairedItems += screening.repaired;
    stats.chunks += chunks.length;
    stats.bytes += encoded.byteLength;
    if (rejected > 0 || screening.repaired > 0) {
      logOnce(
        this.log,
        `receiver.rejected.${signal}`,
        'warn',
        `OTLP receiver: ${signal}: ${rejected} rejected, ${screening.repaired} repaired: ${reasons.join('; ')} (later ones are counted, not logged)`,
      );
      for (const [reason, items] of Object.entries(wire?.rejected ?? {})) {
        this.options.onRejected?.(signal, reason, items);
      }
      if (screening.rejected > 0) this.options.onRejected?.(signal, 'invalid_span_id', screening.rejected);
    }
    return { rejected, reasons };
  }

  /** Export*ServiceResponse (partial success when something was rejected), encoded as protobuf. */
  exportResponse(schema: OtlpSchema, signal: Signal, accepted: AcceptedExport): Message {
    const responseType = schema.response[signal];
    const response =
      accepted.reasons.length > 0
        ? {
            partialSuccess: {
              [REJECTED_FIELD[signal]]: accepted.rejected,
              errorMessage: accepted.reasons.join('; '),
            },
          }
        : {};
    return responseType.fromObject(response);
  }

  methodNotAllowed(): Refusal {
    return new Refusal(405, GRPC_UNIMPLEMENTED, 'method-not-allowed', 'only POST is supported', {
      allow: 'POST',
    });
  }

  overBudget(): Refusal {
    return new Refusal(
      503,
      GRPC_UNAVAILABLE,
      'over-budget',
      "the extension's memory budget is in use by other telemetry; retry later",
      { 'retry-after': '1' },
    );
  }

  tooLarge(message: string): Refusal {
    return new Refusal(413, GRPC_RESOURCE_EXHAUSTED, 'too-large', message);
  }
}
