// OTLP/gRPC on 127.0.0.1:4317 (and ::1): the three Export services as unary calls over cleartext
// HTTP/2 (node:http2; unary gRPC needs nothing more than its framing), identity or gzip/deflate
// messages. Everything after the bytes are off the wire is the HTTP receiver's own path (admission,
// limits, decoding, screening, trace correlation, chunking, counters), so both transports behave
// alike. Answers follow the gRPC and OTLP specifications: Export*ServiceResponse with
// grpc-status 0 (partial success when something was rejected); otherwise a trailers-only answer
// with the status, a message, and google.rpc.Status details carrying RetryInfo when the sender
// should retry later (RESOURCE_EXHAUSTED / UNAVAILABLE over budget or with a full queue).
//
// Cost: the ports are the runtime port's TCP listeners (Bun.listen on Bun: listening loads no
// node:net); node:http2, ~8 ms of CPU to load and set up on Node and more on Bun, is loaded by the
// first connection, so a function that never speaks gRPC never pays for it.

import type { Signal } from '../model/chunk.js';
import {
  DEFAULT_RECEIVER_HOSTS,
  GRPC_INTERNAL,
  GRPC_RESOURCE_EXHAUSTED,
  GRPC_UNAVAILABLE,
  GRPC_UNIMPLEMENTED,
  type OtlpReceiver,
  Refusal,
} from './otlp-receiver.js';
import { loadOtlpSchema } from './otlp-schema.js';
import { type Log, NO_LOG } from '../model/log.js';
import { type Platform, platform } from '../platform/index.js';
import { nodeBuiltin } from '../platform/node-builtin.js';
import type { StreamSocket, TcpListener } from '../platform/port.js';
import { encodeRpcStatus } from '../model/otlp-wire.js';

type Http2 = typeof import('node:http2');
type Zlib = typeof import('node:zlib');
type Http2Server = import('node:http2').Http2Server;
type Http2Session = import('node:http2').Http2Session;
type ServerHttp2Stream = import('node:http2').ServerHttp2Stream;
type IncomingHttpHeaders = import('node:http2').IncomingHttpHeaders;

export const DEFAULT_GRPC_PORT = 4317;

export const GRPC_METHODS: Readonly<Record<string, Signal>> = {
  '/opentelemetry.proto.collector.trace.v1.TraceService/Export': 'traces',
  '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export': 'metrics',
  '/opentelemetry.proto.collector.logs.v1.LogsService/Export': 'logs',
};

const ACCEPTED_ENCODINGS = 'identity,gzip,deflate';
const FRAME_HEADER_BYTES = 5;

export interface OtlpGrpcServerOptions {
  port?: number;
  hosts?: readonly string[];
  log?: Log;
  platform?: Platform;
}

/** grpc-message is percent-encoded: bytes outside printable ASCII, and '%'. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message.slice(0, 1000), 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export class OtlpGrpcServer {
  private readonly servers: TcpListener[] = [];
  private h2: Http2Server | undefined;
  private readonly sessions = new Set<Http2Session>();
  private readonly log: Log;
  private http2: Http2 | undefined;
  private zlib: Zlib | undefined;
  private boundPort = 0;

  constructor(
    private readonly intake: OtlpReceiver,
    private readonly options: OtlpGrpcServerOptions = {},
  ) {
    this.log = options.log ?? NO_LOG;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Binds every host; rejects when the first cannot be bound. */
  async start(): Promise<{ port: number; hosts: string[] }> {
    const runtime = this.options.platform ?? platform();
    const hosts = this.options.hosts ?? DEFAULT_RECEIVER_HOSTS;
    let port = this.options.port ?? DEFAULT_GRPC_PORT;
    const bound: string[] = [];
    for (const [i, host] of hosts.entries()) {
      let server: TcpListener;
      try {
        server = await runtime.listenTcp(
          {
            host,
            port,
            onError: (err) => this.log.error(`OTLP/gRPC receiver server error: ${err.message}`),
          },
          (socket) => this.connection(socket),
        );
      } catch (err) {
        if (i === 0) {
          await this.stop();
          throw new Error(`OTLP/gRPC receiver cannot listen on ${host}:${port}: ${(err as Error).message}`);
        }
        this.log.debug(`OTLP/gRPC receiver not listening on ${host}:${port}: ${(err as Error).message}`);
        continue;
      }
      if (i === 0) port = server.port;
      this.servers.push(server);
      bound.push(host);
    }
    this.boundPort = port;
    return { port, hosts: bound };
  }

  async stop(): Promise<void> {
    for (const session of this.sessions) session.destroy();
    this.sessions.clear();
    const servers = this.servers.splice(0);
    await Promise.all(servers.map((server) => server.close()));
  }

  /** A connection goes to the HTTP/2 server, made (and node:http2 loaded) by the first one. */
  private connection(socket: StreamSocket): void {
    if (!this.h2) {
      this.http2 = nodeBuiltin('node:http2');
      const h2 = this.http2.createServer({
        // A unary export is one request; a few concurrent exporters (traces, metrics, logs) at most.
        settings: { maxConcurrentStreams: 32 },
      });
      h2.on('stream', (stream, headers) => this.handle(stream, headers));
      h2.on('session', (session) => {
        this.sessions.add(session);
        session.on('close', () => this.sessions.delete(session));
        session.on('error', (err) => this.log.debug(`OTLP/gRPC session error: ${err.message}`));
      });
      // No idle timer: it runs on wall-clock time and would fire at once after a thaw.
      h2.setTimeout(0);
      this.h2 = h2;
    }
    socket.on('error', (err) => this.log.debug(`OTLP/gRPC connection error: ${err.message}`));
    this.h2.emit('connection', socket);
  }

  private handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', (err) => this.log.debug(`OTLP/gRPC stream error: ${err.message}`));
    // gRPC over HTTP: a request that is not gRPC at all gets a plain HTTP answer.
    const contentType = String(headers['content-type'] ?? '').toLowerCase();
    if (headers[':method'] !== 'POST' || !/^application\/grpc(\+proto)?(;|$)/.test(contentType)) {
      const method = headers[':method'] !== 'POST';
      this.intake.countRefusal(
        new Refusal(
          method ? 405 : 415,
          GRPC_UNIMPLEMENTED,
          method ? 'method-not-allowed' : 'unsupported-media-type',
          '',
        ),
      );
      this.respondHttp(stream, method ? 405 : 415);
      return;
    }
    this.serve(stream, headers).catch((err: unknown) => {
      const refusal = Refusal.of(err);
      this.intake.countRefusal(refusal);
      this.refuse(stream, refusal);
    });
  }

  private async serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const path = String(headers[':path'] ?? '');
    const signal = GRPC_METHODS[path];
    if (!signal) {
      throw new Refusal(
        404,
        GRPC_UNIMPLEMENTED,
        'not-found',
        `unknown service or method ${path.slice(0, 100)}`,
      );
    }
    const coding = String(headers['grpc-encoding'] ?? 'identity')
      .trim()
      .toLowerCase();
    if (coding !== 'identity' && coding !== 'gzip' && coding !== 'deflate') {
      throw new Refusal(
        415,
        GRPC_UNIMPLEMENTED,
        'unsupported-media-type',
        `unsupported grpc-encoding "${coding.slice(0, 100)}": use ${ACCEPTED_ENCODINGS}`,
      );
    }
    this.intake.countGrpcRequest();
    const lengthHeader = headers['content-length'];
    const contentLength = lengthHeader === undefined ? undefined : Number(lengthHeader);
    this.intake.admitRequest(signal, contentLength);
    // The memory budget is reserved before the message is read, as over HTTP, and grows with it.
    const reservation = this.intake.reserveBody(coding === 'identity' ? contentLength : undefined);
    try {
      const [frame, schema] = await Promise.all([this.readMessage(stream), loadOtlpSchema()]);
      this.intake.growReservation(reservation, frame.payload.length);
      const body = frame.compressed ? await this.decompress(frame.payload, coding) : frame.payload;
      this.intake.growReservation(reservation, body.length);
      const accepted = this.intake.acceptBody(signal, body, 'protobuf', schema, reservation);
      const response = schema.response[signal]
        .encode(this.intake.exportResponse(schema, signal, accepted))
        .finish();
      this.respondMessage(stream, response);
    } finally {
      reservation?.release();
    }
  }

  /**
   * Reads the one length-prefixed message of a unary call within the body limit; the size is
   * checked as soon as the prefix has arrived.
   */
  private readMessage(stream: ServerHttp2Stream): Promise<{ compressed: boolean; payload: Buffer }> {
    const { maxBodyBytes } = this.intake.receiverLimits;
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let received = 0;
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        stream.off('data', onData);
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        if (settled) return;
        received += chunk.length;
        if (parts.length === 0 || received - chunk.length < FRAME_HEADER_BYTES) {
          parts.push(chunk);
          if (received >= FRAME_HEADER_BYTES) {
            const head = parts.length === 1 ? chunk : Buffer.concat(parts);
            const length = head.readUInt32BE(1);
            if (length > maxBodyBytes) {
              fail(
                this.intake.tooLarge(
                  `gRPC message of ${length} bytes exceeds the ${maxBodyBytes}-byte limit`,
                ),
              );
            }
          }
          return;
        }
        if (received > maxBodyBytes + FRAME_HEADER_BYTES) {
          fail(this.intake.tooLarge(`request body exceeds the ${maxBodyBytes}-byte limit`));
          return;
        }
        parts.push(chunk);
      };
      stream.on('data', onData);
      stream.once('end', () => {
        if (settled) return;
        settled = true;
        const whole = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, received);
        if (whole.length < FRAME_HEADER_BYTES) {
          reject(new Refusal(400, GRPC_INTERNAL, 'bad-data', 'request has no complete gRPC message'));
          return;
        }
        const flag = whole[0] as number;
        const length = whole.readUInt32BE(1);
        if (flag > 1) {
          reject(new Refusal(400, GRPC_INTERNAL, 'bad-data', `bad gRPC message flag ${flag}`));
          return;
        }
        if (whole.length !== FRAME_HEADER_BYTES + length) {
          reject(
            new Refusal(
              400,
              GRPC_INTERNAL,
              'bad-data',
              whole.length < FRAME_HEADER_BYTES + length
                ? `gRPC message truncated: ${whole.length - FRAME_HEADER_BYTES} of ${length} bytes`
                : 'more than one gRPC message in a unary call',
            ),
          );
          return;
        }
        resolve({ compressed: flag === 1, payload: whole.subarray(FRAME_HEADER_BYTES) });
      });
      stream.once('aborted', () =>
        fail(new Refusal(400, GRPC_INTERNAL, 'aborted', 'request aborted by the client')),
      );
    });
  }

  private decompress(payload: Buffer, coding: string): Promise<Buffer> {
    if (coding === 'identity') {
      return Promise.reject(
        new Refusal(400, GRPC_INTERNAL, 'bad-data', 'compressed gRPC message without a grpc-encoding'),
      );
    }
    const maxOutputLength = this.intake.receiverLimits.maxDecompressedBytes;
    this.zlib ??= nodeBuiltin('node:zlib');
    const zlib = this.zlib;
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, out: Buffer) => {
        if (!err) resolve(out);
        else if (
          (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ||
          err instanceof RangeError
        ) {
          reject(this.intake.tooLarge(`decompressed message exceeds the ${maxOutputLength}-byte limit`));
        } else {
          reject(new Refusal(400, GRPC_INTERNAL, 'bad-data', `message does not decompress: ${err.message}`));
        }
      };
      if (coding === 'gzip') zlib.gunzip(payload, { maxOutputLength }, done);
      else zlib.inflate(payload, { maxOutputLength }, done);
    });
  }

  private respondMessage(stream: ServerHttp2Stream, message: Uint8Array): void {
    if (stream.destroyed || stream.headersSent) return;
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.byteLength);
    frame[0] = 0;
    frame.writeUInt32BE(message.byteLength, 1);
    frame.set(message, FRAME_HEADER_BYTES);
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': ACCEPTED_ENCODINGS },
      { waitForTrailers: true },
    );
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frame);
  }

  /** Trailers-only error answer; a client still sending is then told to stop (RST_STREAM NO_ERROR). */
  private refuse(stream: ServerHttp2Stream, refusal: Refusal): void {
    if (stream.destroyed) return;
    if (stream.headersSent) {
      stream.close(this.http2?.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const retryAfter = refusal.headers['retry-after'];
    const retryable =
      retryAfter !== undefined &&
      (refusal.grpcCode === GRPC_RESOURCE_EXHAUSTED || refusal.grpcCode === GRPC_UNAVAILABLE);
    const details = encodeRpcStatus(
      refusal.grpcCode,
      refusal.message,
      retryable ? Number(retryAfter) : undefined,
    );
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-accept-encoding': ACCEPTED_ENCODINGS,
        'grpc-status': String(refusal.grpcCode),
        'grpc-message': encodeGrpcMessage(refusal.message),
        'grpc-status-details-bin': details.toString('base64').replace(/=+$/, ''),
      },
      { endStream: true },
    );
    this.discardRest(stream);
  }

  private respondHttp(stream: ServerHttp2Stream, status: number): void {
    stream.respond({ ':status': status }, { endStream: true });
    this.discardRest(stream);
  }

  private discardRest(stream: ServerHttp2Stream): void {
    if (stream.readableEnded) return;
    stream.resume();
    stream.close(this.http2?.constants.NGHTTP2_NO_ERROR);
  }
}
