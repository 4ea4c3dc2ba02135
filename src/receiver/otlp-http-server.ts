// The OTLP/HTTP transport of the local receiver (default http://localhost:4318): routes the three
// signal paths and POST /v1/flush, checks media type and content coding, asks for admission, reads
// the body with the platform's body reader (memory reserved before reading, limits enforced while
// decompressing) and turns the receiver's verdict into OTLP/HTTP answers: Export*ServiceResponse on
// success, google.rpc.Status bodies on failures, Retry-After when the pipeline is full.

import type { Signal } from '../model/chunk.js';
import { RECEIVE_COST_PER_BYTE } from '../pipeline/memory-budget.js';
import { type BodyOutcome, readBody } from '../platform/body-reader.js';
import type {
  Answer,
  ContentCoding,
  Decompressor,
  HttpServer,
  IncomingRequest,
  Platform,
  RequestBody,
} from '../platform/port.js';
import { messageToOtlpJson } from './otlp-json.js';
import type { OtlpReceiver } from './otlp-receiver.js';
import { loadOtlpSchema } from './otlp-schema.js';
import {
  type Encoding,
  FORCE_FLUSH_PATH,
  GRPC_INVALID_ARGUMENT,
  GRPC_NOT_FOUND,
  Refusal,
} from './receiver-contract.js';
import { encodeRpcStatus } from '../model/otlp-wire.js';
import type { Log } from '../model/log.js';

const SIGNAL_PATHS: Record<string, Signal> = {
  '/v1/traces': 'traces',
  '/v1/metrics': 'metrics',
  '/v1/logs': 'logs',
};

/** Reserved up front for a body of unknown decompressed size; the reservation grows as it arrives. */
const INITIAL_UNKNOWN_BYTES = 64 * 1024;

function mediaType(header: string | undefined): Encoding | undefined {
  const type = (header ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return undefined;
}

/** null: not compressed; undefined: a coding this receiver does not speak. */
function contentCoding(header: string | undefined): ContentCoding | null | undefined {
  const coding = (header ?? '').trim().toLowerCase();
  if (coding === '' || coding === 'identity') return null;
  if (coding === 'gzip' || coding === 'x-gzip') return 'gzip';
  if (coding === 'deflate' || coding === 'br') return coding;
  return undefined;
}

/** Reads a body to its end and drops it (POST /v1/flush carries none worth reading). */
function ignoreBody(body: RequestBody): void {
  body.read({ data() {}, end() {}, abort() {} });
}

export interface OtlpHttpServerOptions {
  port: number;
  hosts: readonly string[];
  platform: Platform;
  log: Log;
  onForceFlush?: () => unknown;
}

export class OtlpHttpServer {
  private readonly servers: HttpServer[] = [];

  constructor(
    private readonly receiver: OtlpReceiver,
    private readonly options: OtlpHttpServerOptions,
  ) {}

  /** Binds every host; rejects when the first cannot be bound (e.g. the port is taken). */
  async start(): Promise<{ port: number; hosts: string[] }> {
    let port = this.options.port;
    const bound: string[] = [];
    for (const [i, host] of this.options.hosts.entries()) {
      // Requests started meanwhile (registering with Lambda) go out before the other hosts are bound.
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      let server: HttpServer;
      try {
        server = await this.options.platform.serve((request) => this.handle(request), {
          host,
          port,
          exclusive: true,
          // No server-side idle or header timers: after a thaw they would fire at once and cut
          // connections the function's exporter is about to reuse.
          noServerTimers: true,
          // Idle keep-alive sockets must not hold the process open at shutdown.
          unref: true,
          onError: (err) => this.options.log.error(`OTLP receiver server error: ${err.message}`),
        });
      } catch (err) {
        if (i === 0) {
          await this.stop();
          throw new Error(`OTLP receiver cannot listen on ${host}:${port}: ${(err as Error).message}`);
        }
        this.options.log.debug(`OTLP receiver not listening on ${host}:${port}: ${(err as Error).message}`);
        continue;
      }
      if (i === 0) port = server.port;
      this.servers.push(server);
      bound.push(host);
    }
    return { port, hosts: bound };
  }

  async stop(): Promise<void> {
    const servers = this.servers.splice(0);
    await Promise.all(servers.map((server) => server.close(0)));
  }

  private async handle(request: IncomingRequest): Promise<Answer> {
    const encoding = mediaType(request.header('content-type'));
    try {
      return await this.serve(request);
    } catch (err) {
      const refusal = Refusal.of(err);
      this.receiver.countRefusal(refusal);
      return refusalAnswer(refusal, encoding ?? 'protobuf');
    }
  }

  private async serve(request: IncomingRequest): Promise<Answer> {
    const { path } = request;
    if (path === FORCE_FLUSH_PATH) {
      if (request.method !== 'POST') throw this.receiver.methodNotAllowed();
      ignoreBody(request.body);
      return this.forceFlush();
    }
    const signal = SIGNAL_PATHS[path];
    if (!signal)
      throw new Refusal(404, GRPC_NOT_FOUND, 'not-found', `no OTLP endpoint at ${path.slice(0, 100)}`);
    if (request.method !== 'POST') throw this.receiver.methodNotAllowed();

    const contentType = request.header('content-type');
    const encoding = mediaType(contentType);
    if (!encoding) {
      throw new Refusal(
        415,
        GRPC_INVALID_ARGUMENT,
        'unsupported-media-type',
        `unsupported content type "${(contentType ?? '').slice(0, 100)}": use application/x-protobuf or application/json`,
      );
    }
    const codingHeader = request.header('content-encoding');
    const coding = contentCoding(codingHeader);
    if (coding === undefined) {
      throw new Refusal(
        415,
        GRPC_INVALID_ARGUMENT,
        'unsupported-media-type',
        `unsupported content encoding "${String(codingHeader).slice(0, 100)}": use gzip, deflate, br or identity`,
      );
    }
    const lengthHeader = request.header('content-length');
    this.receiver.admitRequest(signal, lengthHeader === undefined ? undefined : Number(lengthHeader));
    const decompressor: Decompressor | undefined =
      coding === null ? undefined : this.options.platform.compression.decompressor(coding);
    const limits = this.receiver.receiverLimits;
    const budget = this.receiver.budget;
    const [outcome, schema] = await Promise.all([
      readBody(request.body, {
        maxBytes: limits.maxBodyBytes,
        maxDecodedBytes: limits.maxDecompressedBytes,
        decompressor,
        budget: budget && {
          reserve: (bytes) => budget.tryReserve('receiver', bytes),
          costPerByte: RECEIVE_COST_PER_BYTE,
          unknownBytes: INITIAL_UNKNOWN_BYTES,
        },
        overBudget: 'refuse',
      }),
      loadOtlpSchema(),
    ]);
    if (outcome.kind !== 'read') throw this.refusalFor(outcome);
    try {
      const accepted = this.receiver.acceptBody(signal, outcome.body, encoding, schema, outcome.reservation);
      const responseType = schema.response[signal];
      const message = this.receiver.exportResponse(schema, signal, accepted);
      const body =
        encoding === 'json'
          ? JSON.stringify(messageToOtlpJson(responseType, message))
          : responseType.encode(message).finish();
      return {
        status: 200,
        headers: { 'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf' },
        body,
      };
    } finally {
      outcome.reservation?.release();
    }
  }

  private refusalFor(outcome: Exclude<BodyOutcome, { kind: 'read' }>): Refusal {
    switch (outcome.kind) {
      case 'too-large':
        return this.receiver.tooLarge(
          outcome.decoded
            ? `decompressed request body exceeds the ${outcome.limit}-byte limit`
            : `request body exceeds the ${outcome.limit}-byte limit`,
        );
      case 'over-budget':
      case 'discarded':
        return this.receiver.overBudget();
      case 'bad-encoding':
        return new Refusal(
          400,
          GRPC_INVALID_ARGUMENT,
          'bad-data',
          `request body does not decompress: ${outcome.message}`,
        );
      case 'aborted':
        return new Refusal(400, GRPC_INVALID_ARGUMENT, 'aborted', outcome.message);
    }
  }

  private async forceFlush(): Promise<Answer> {
    this.receiver.countForceFlush();
    const hook = this.options.onForceFlush;
    if (hook) await hook();
    return { status: hook ? 200 : 202, headers: { 'content-type': 'application/json' }, body: '{}' };
  }
}

/** Error answer: google.rpc.Status, as protobuf or JSON like the request. */
function refusalAnswer(refusal: Refusal, encoding: Encoding): Answer {
  const body =
    encoding === 'json'
      ? JSON.stringify({ code: refusal.grpcCode, message: refusal.message })
      : encodeRpcStatus(refusal.grpcCode, refusal.message);
  return {
    status: refusal.status,
    headers: {
      ...refusal.headers,
      'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
    },
    body,
  };
}
