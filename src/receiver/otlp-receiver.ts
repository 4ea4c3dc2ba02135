// The local OTLP/HTTP receiver the function's OpenTelemetry SDK exports to (default
// http://localhost:4318). It accepts traces, metrics and logs as protobuf or JSON, optionally
// compressed, screens and counts them, lets the trace correlator join the function's spans with the
// platform invocation span, and hands the pipeline protobuf chunks. It answers as an OTLP server
// must: Export*ServiceResponse (partial success when something was rejected), google.rpc.Status
// bodies on failures, 413 past the size limits, 429/503 with Retry-After when the pipeline is full.
//
// Besides the three signal paths, POST /v1/flush asks for an immediate flush (onForceFlush) and
// answers once it has finished: a function can call it before returning when it wants its telemetry
// out before the environment may freeze.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Transform } from 'node:stream';
import type { Message } from 'protobufjs';
import type { ChunkSink, Signal } from '../model/chunk.js';
import { type Log, logOnce, NO_LOG } from '../model/log.js';
import { type MemoryBudget, RECEIVE_COST_PER_BYTE, type Reservation } from '../pipeline/memory-budget.js';
import type { OtlpSchema } from './otlp-schema.js';
import { loadOtlpSchema } from './otlp-schema.js';
import { encodeRpcStatus } from '../model/otlp-wire.js';
import { messageFromOtlpJson, messageToOtlpJson } from './otlp-json.js';
import type { WireResourceSpans } from './otlp-messages.js';
import type { ChunkLimits } from './received-chunks.js';
import { makeChunks } from './received-chunks.js';
import { screenRequest } from './request-screening.js';
import { checkExportRequest, type WireCheckResult } from './wire-check.js';
import type { SpanCorrelator } from './trace-correlation.js';
import { NO_CORRELATION } from './trace-correlation.js';

export interface ReceiverLimits extends ChunkLimits {
  /** Request body as received (before decompression). */
  maxBodyBytes: number;
  /** Request body after decompression. */
  maxDecompressedBytes: number;
}

/**
 * The OTLP specification recommends 20 MiB; a Lambda environment shares a small memory budget with
 * the function, and decoding a request takes several times its size, so the default is lower.
 */
export const DEFAULT_RECEIVER_LIMITS: Readonly<ReceiverLimits> = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxDecompressedBytes: 8 * 1024 * 1024,
  maxChunkBytes: 1024 * 1024,
  maxChunkItems: 2048,
};

export const DEFAULT_RECEIVER_PORT = 4318;
export const DEFAULT_RECEIVER_HOSTS: readonly string[] = ['127.0.0.1', '::1'];
export const FORCE_FLUSH_PATH = '/v1/flush';

/** Whether the pipeline takes a request now. */
export type Admission =
  | { accept: true }
  | {
      accept: false;
      /** 503 (default) when the pipeline is saturated, 429 when this sender sends too much. */
      status?: 429 | 503;
      /** Seconds; default 1. */
      retryAfterSeconds?: number;
      reason?: string;
    };

/** The OTLP/gRPC transport (port 4317): same intake, admission and limits as OTLP/HTTP. */
export interface GrpcTransportOptions {
  /** Default 4317; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 and ::1. */
  hosts?: readonly string[];
}

/** What a request's telemetry came to, once accepted. */
export interface AcceptedExport {
  rejected: number;
  reasons: readonly string[];
}

export interface OtlpReceiverOptions {
  sink: ChunkSink;
  /** OTLP/gRPC beside OTLP/HTTP, bound by startGrpc(); off when absent. */
  grpc?: GrpcTransportOptions;
  /** Default 4318; 0 picks a free port (the same one on every host). */
  port?: number;
  /** Default 127.0.0.1 and ::1; hosts after the first may fail to bind (no IPv6) without error. */
  hosts?: readonly string[];
  correlator?: SpanCorrelator;
  /** Asked before a request body is read. */
  admit?: (signal: Signal, contentLength: number | undefined) => Admission;
  /**
   * The extension's memory budget: each request reserves its estimated peak cost before its body is
   * read (503 + Retry-After when it does not fit now, 413 when it never could).
   */
  budget?: MemoryBudget;
  /** POST /v1/flush; the answer waits for it. */
  onForceFlush?: () => unknown;
  limits?: Partial<ReceiverLimits>;
  log?: Log;
  /** Items refused from an accepted request, by reason (malformed_protobuf, invalid_span_id, …). */
  onRejected?: (signal: Signal, reason: string, items: number) => void;
  now?: () => number;
}

export type RefusalReason =
  | 'not-found'
  | 'method-not-allowed'
  | 'unsupported-media-type'
  | 'too-large'
  | 'bad-data'
  | 'throttled'
  | 'over-budget'
  | 'aborted'
  | 'internal';

export interface SignalStats {
  requests: number;
  acceptedItems: number;
  rejectedItems: number;
  repairedItems: number;
  chunks: number;
  bytes: number;
}

export interface ReceiverStats {
  signals: Record<Signal, SignalStats>;
  refused: Record<RefusalReason, number>;
  forceFlushes: number;
  /** Requests that came over OTLP/gRPC (also counted per signal). */
  grpcRequests: number;
}

export type Encoding = 'protobuf' | 'json';

export const GRPC_INVALID_ARGUMENT = 3;
export const GRPC_NOT_FOUND = 5;
export const GRPC_RESOURCE_EXHAUSTED = 8;
export const GRPC_UNIMPLEMENTED = 12;
export const GRPC_INTERNAL = 13;
export const GRPC_UNAVAILABLE = 14;

/** A request that ends in an error answer (HTTP status for OTLP/HTTP, gRPC code for OTLP/gRPC). */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly grpcCode: number,
    readonly reason: RefusalReason,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const SIGNAL_PATHS: Record<string, Signal> = {
  '/v1/traces': 'traces',
  '/v1/metrics': 'metrics',
  '/v1/logs': 'logs',
};

const REJECTED_FIELD: Record<Signal, string> = {
  traces: 'rejectedSpans',
  metrics: 'rejectedDataPoints',
  logs: 'rejectedLogRecords',
};

function mediaType(header: string | undefined): Encoding | undefined {
  const type = (header ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return undefined;
}

/** node:zlib takes a few ms to load: it is loaded by the first compressed request, not at start-up. */
let zlib: typeof import('node:zlib') | undefined;

function decompressor(header: string | undefined): Transform | null | undefined {
  const coding = (header ?? '').trim().toLowerCase();
  if (coding === '' || coding === 'identity') return null;
  if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== 'deflate' && coding !== 'br') return undefined;
  zlib ??= createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib');
  if (coding === 'deflate') return zlib.createInflate();
  if (coding === 'br') return zlib.createBrotliDecompress();
  return zlib.createGunzip();
}

function emptyStats(): SignalStats {
  return { requests: 0, acceptedItems: 0, rejectedItems: 0, repairedItems: 0, chunks: 0, bytes: 0 };
}

/** Reserved up front for a body of unknown decompressed size; the reservation grows as it arrives. */
const INITIAL_UNKNOWN_BYTES = 64 * 1024;

/** Past this much unread body after an early answer, the connection is cut rather than drained. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

export class OtlpReceiver {
  private readonly limits: ReceiverLimits;
  private readonly servers: Server[] = [];
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
    const hosts = this.options.hosts ?? DEFAULT_RECEIVER_HOSTS;
    let port = this.options.port ?? DEFAULT_RECEIVER_PORT;
    const bound: string[] = [];
    for (const [i, host] of hosts.entries()) {
      // Requests started meanwhile (registering with Lambda) go out before the other hosts are bound.
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      const server = createServer({ requestTimeout: 0, keepAliveTimeout: 0 }, (req, res) => {
        this.handle(req, res);
      });
      // No server-side idle or header timers: they run on wall-clock time, so after the environment
      // thaws they would fire at once and cut connections the function's exporter is about to reuse.
      server.headersTimeout = 0;
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port, exclusive: true }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        if (i === 0) {
          await this.stop();
          throw new Error(`OTLP receiver cannot listen on ${host}:${port}: ${(err as Error).message}`);
        }
        this.log.debug(`OTLP receiver not listening on ${host}:${port}: ${(err as Error).message}`);
        continue;
      }
      server.on('error', (err) => this.log.error(`OTLP receiver server error: ${err.message}`));
      // Idle keep-alive sockets must not hold the process open at shutdown.
      server.unref();
      if (i === 0) port = (server.address() as AddressInfo).port;
      this.servers.push(server);
      bound.push(host);
    }
    this.boundPort = port;
    return { port, hosts: bound };
  }

  /**
   * Binds the OTLP/gRPC transport when configured. Its module and node:http2 load only here, so a
   * receiver without gRPC never pays for them.
   */
  async startGrpc(): Promise<{ port: number; hosts: string[] } | undefined> {
    const grpc = this.options.grpc;
    if (!grpc || this.grpcServer) return undefined;
    const { OtlpGrpcServer } = await import('./otlp-grpc-server.js');
    const server = new OtlpGrpcServer(this, { ...grpc, log: this.log });
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
    const servers = this.servers.splice(0);
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const encoding = mediaType(req.headers['content-type']);
    this.serve(req, res).catch((err: unknown) => {
      const refusal =
        err instanceof Refusal
          ? err
          : new Refusal(
              500,
              GRPC_INTERNAL,
              'internal',
              `internal error: ${(err as Error)?.message ?? String(err)}`,
            );
      this.countRefusal(refusal);
      this.refuse(req, res, refusal, encoding ?? 'protobuf');
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0] as string;
    if (path === FORCE_FLUSH_PATH) {
      if (req.method !== 'POST') throw this.methodNotAllowed();
      req.resume();
      await this.forceFlush(res);
      return;
    }
    const signal = SIGNAL_PATHS[path];
    if (!signal)
      throw new Refusal(404, GRPC_NOT_FOUND, 'not-found', `no OTLP endpoint at ${path.slice(0, 100)}`);
    if (req.method !== 'POST') throw this.methodNotAllowed();

    const encoding = mediaType(req.headers['content-type']);
    if (!encoding) {
      throw new Refusal(
        415,
        GRPC_INVALID_ARGUMENT,
        'unsupported-media-type',
        `unsupported content type "${(req.headers['content-type'] ?? '').slice(0, 100)}": use application/x-protobuf or application/json`,
      );
    }
    const decoder = decompressor(req.headers['content-encoding']);
    if (decoder === undefined) {
      throw new Refusal(
        415,
        GRPC_INVALID_ARGUMENT,
        'unsupported-media-type',
        `unsupported content encoding "${String(req.headers['content-encoding']).slice(0, 100)}": use gzip, deflate, br or identity`,
      );
    }
    const lengthHeader = req.headers['content-length'];
    const contentLength = lengthHeader === undefined ? undefined : Number(lengthHeader);
    let reservation: Reservation | undefined;
    try {
      this.admitRequest(signal, contentLength);
      reservation = this.reserveBody(decoder === null ? contentLength : undefined);
    } catch (err) {
      decoder?.destroy();
      throw err;
    }
    try {
      const [body, schema] = await Promise.all([this.readBody(req, decoder, reservation), loadOtlpSchema()]);
      const accepted = this.acceptBody(signal, body, encoding, schema, reservation);
      this.respondSuccess(res, schema, signal, encoding, accepted.rejected, accepted.reasons);
    } finally {
      reservation?.release();
    }
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
    reservation?: Reservation,
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

  private methodNotAllowed(): Refusal {
    return new Refusal(405, GRPC_UNIMPLEMENTED, 'method-not-allowed', 'only POST is supported', {
      allow: 'POST',
    });
  }

  private overBudget(): Refusal {
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

  private async forceFlush(res: ServerResponse): Promise<void> {
    this.counters.forceFlushes++;
    const hook = this.options.onForceFlush;
    if (hook) await hook();
    res.writeHead(hook ? 200 : 202, { 'content-type': 'application/json', 'content-length': '2' });
    res.end('{}');
  }

  /**
   * Reads the body within both size limits. Decompression stops as soon as the output passes the
   * limit, so a small compressed bomb never inflates beyond it.
   */
  private readBody(
    req: IncomingMessage,
    decoder: Transform | null,
    reservation: Reservation | undefined,
  ): Promise<Buffer> {
    const { maxBodyBytes, maxDecompressedBytes } = this.limits;
    return new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      let raw = 0;
      let inflated = 0;
      let settled = false;
      const cleanup = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('close', onClose);
      };
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        decoder?.destroy();
        reject(err);
      };
      const finish = () => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, inflated));
      };
      const onOutput = (chunk: Buffer) => {
        if (settled) return;
        inflated += chunk.length;
        if (inflated > maxDecompressedBytes) {
          fail(this.tooLarge(`decompressed request body exceeds the ${maxDecompressedBytes}-byte limit`));
          return;
        }
        // A compressed or unannounced body grows its reservation as it arrives.
        if (reservation && !reservation.grow(inflated * RECEIVE_COST_PER_BYTE)) {
          fail(this.overBudget());
          return;
        }
        parts.push(chunk);
      };
      const onData = (chunk: Buffer) => {
        if (settled) return;
        raw += chunk.length;
        if (raw > maxBodyBytes) {
          fail(this.tooLarge(`request body exceeds the ${maxBodyBytes}-byte limit`));
          return;
        }
        if (decoder) decoder.write(chunk);
        else onOutput(chunk);
      };
      const onEnd = () => {
        if (decoder) decoder.end();
        else finish();
      };
      const onError = (err: Error) =>
        fail(new Refusal(400, GRPC_INVALID_ARGUMENT, 'aborted', `request aborted: ${err.message}`));
      const onClose = () => {
        if (!req.complete)
          fail(new Refusal(400, GRPC_INVALID_ARGUMENT, 'aborted', 'request aborted by the client'));
      };
      if (decoder) {
        decoder.on('data', onOutput);
        decoder.on('end', finish);
        decoder.on('error', (err) =>
          fail(
            new Refusal(
              400,
              GRPC_INVALID_ARGUMENT,
              'bad-data',
              `request body does not decompress: ${err.message}`,
            ),
          ),
        );
      }
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
    });
  }

  private respondSuccess(
    res: ServerResponse,
    schema: OtlpSchema,
    signal: Signal,
    encoding: Encoding,
    rejected: number,
    reasons: readonly string[],
  ): void {
    const responseType = schema.response[signal];
    const message = this.exportResponse(schema, signal, { rejected, reasons });
    const body =
      encoding === 'json'
        ? Buffer.from(JSON.stringify(messageToOtlpJson(responseType, message)))
        : responseType.encode(message).finish();
    res.writeHead(200, {
      'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
      'content-length': String(body.byteLength),
    });
    res.end(body);
  }

  /** Error answer; whatever of the body is still unread is drained (bounded) or the connection cut. */
  private refuse(req: IncomingMessage, res: ServerResponse, refusal: Refusal, encoding: Encoding): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body =
      encoding === 'json'
        ? Buffer.from(JSON.stringify({ code: refusal.grpcCode, message: refusal.message }))
        : encodeRpcStatus(refusal.grpcCode, refusal.message);
    const bodyPending = !req.complete;
    res.writeHead(refusal.status, {
      ...refusal.headers,
      'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
      'content-length': String(body.byteLength),
      // A client still sending stops once it has read this answer; the connection is not reused.
      ...(bodyPending ? { connection: 'close' } : {}),
    });
    if (!bodyPending) {
      res.end(body);
      return;
    }
    // The client gets the complete answer now, but the response ends, which closes the connection,
    // only once the client has stopped sending (body complete, or it closed after reading the
    // answer): closing first would reset the upload, and the client would see a connection error,
    // which OTLP exporters retry, instead of this answer. What still arrives is discarded; past the
    // drain bound the connection is cut.
    res.write(body);
    let drained = 0;
    req.on('data', (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > MAX_DRAIN_BYTES) req.socket.destroy();
    });
    req.on('end', () => res.end());
    req.on('error', () => {});
    req.resume();
  }
}
