// The runtime port: everything the extension needs from its JavaScript runtime — an HTTP server
// (Telemetry API listener, OTLP/HTTP receiver), request bodies, compression, clock and timers —
// behind small interfaces, so that the code above it is the same TypeScript on Node and on Bun.
// The implementations live in node/ and bun/; index.ts picks one at start-up.

import type { Clock, Scheduler } from '../model/time.js';

/** An HTTP request as the server hands it over: headers parsed, body not read yet. */
export interface IncomingRequest {
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** A header by lower-case name (repeated headers joined by ", "). */
  header(name: string): string | undefined;
  readonly body: RequestBody;
}

/** Receives the pieces of a request body as they arrive. */
export interface BodySink {
  data(chunk: Uint8Array): void;
  end(): void;
  /** The client went away (or the connection failed) before the body was complete. */
  abort(error: Error): void;
}

export interface RequestBody {
  /** Content-Length when announced and valid. */
  readonly declaredLength: number | undefined;
  /**
   * Starts delivering the body to `sink`; call once. Returns a function that stops the delivery
   * (the server then discards whatever arrives until the answer is sent).
   */
  read(sink: BodySink): () => void;
  /** Whether the whole body has arrived. */
  readonly complete: boolean;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /**
   * Runs right after the answer was handed to the connection: work that must not delay the answer
   * (parsing a Telemetry API push). The server counts the request in flight until it returns.
   */
  afterAnswer?: () => void;
}

/**
 * Answers one request. An answer given before the body was read completely closes the connection
 * once the client has finished sending (the rest is discarded, bounded), so the client reads the
 * answer instead of a reset.
 */
export type RequestHandler = (request: IncomingRequest) => Answer | Promise<Answer>;

export interface ServeOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Refuse to share the port with another process (Node's `exclusive`). */
  exclusive?: boolean;
  /**
   * No idle, header or request timers on the server side: they run on wall-clock time, so after
   * the environment thaws they would fire at once and cut connections about to be reused.
   */
  noServerTimers?: boolean;
  /** The server never keeps the process alive by itself. */
  unref?: boolean;
  /** Errors of the listening socket after start. */
  onError?: (error: Error) => void;
}

export interface HttpServer {
  readonly address: string;
  readonly port: number;
  /**
   * Stops accepting; requests in flight may finish for `drainTimeoutMs` (default 0), then every
   * connection is closed. Resolves when done; idempotent.
   */
  close(drainTimeoutMs?: number): Promise<void>;
}

/**
 * An accepted TCP connection as a Node.js Duplex stream: what node:http2 servers take (the OTLP/gRPC
 * receiver hands every connection to one).
 */
export type StreamSocket = import('node:stream').Duplex;

export interface TcpListenOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Errors of the listening socket after start. */
  onError?: (error: Error) => void;
}

/** Listens without keeping the process alive; the connections belong to whoever took them. */
export interface TcpListener {
  readonly port: number;
  /** Stops accepting new connections. */
  close(): Promise<void>;
}

/** A streaming decompressor: output pieces are handed to `output` as they are produced. */
export interface Decompressor {
  write(chunk: Uint8Array): void;
  end(): void;
  destroy(): void;
  /** Wires the output; `done` after the last piece; `fail` on corrupt input. */
  pipe(output: (chunk: Uint8Array) => void, done: () => void, fail: (error: Error) => void): void;
}

export type ContentCoding = 'gzip' | 'deflate' | 'br';

export interface Compression {
  /**
   * Gzip at `level` (memLevel 8). Small bodies are compressed inline; large ones off the event loop
   * where the runtime can (Node's thread pool), so the listener and receiver keep answering.
   */
  gzip(data: Uint8Array, level: number): Promise<Uint8Array>;
  /** A streaming decompressor for a request body. */
  decompressor(coding: ContentCoding): Decompressor;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** At most MAX_EXPORT_RESPONSE_BYTES; enough for an Export*ServiceResponse or an error message. */
  body: Buffer;
}

export const MAX_EXPORT_RESPONSE_BYTES = 64 * 1024;

export type PostResult =
  | { kind: 'response'; response: HttpResponse; staleRetries: number }
  | { kind: 'network-error'; error: Error; code: string; staleRetries: number }
  | { kind: 'timeout'; staleRetries: number }
  | { kind: 'aborted'; staleRetries: number };

export interface PostRequest {
  url: URL;
  headers: Record<string, string>;
  body: Uint8Array;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface ExportClientOptions {
  userAgent: string;
  /** Free connections are closed after this long unused (default 4 s, under most servers' idle timeouts). */
  freeSocketTimeoutMs?: number;
  maxSockets?: number;
  now?: () => number;
  /** Timers for request timeouts (default real ones). */
  scheduler?: Scheduler;
  /** A timeout this late means the environment was frozen meanwhile... */
  thawLateMs: number;
  /** ...and the request gets this long more: its answer is often already on its way. */
  thawGraceMs: number;
}

/**
 * Sends export requests over kept-alive connections that survive the environment's freeze: stale
 * connections are dropped or retried once, timeouts right after a thaw give the answer a grace.
 */
export interface ExportClient {
  /** Never rejects. */
  post(request: PostRequest): Promise<PostResult>;
  closeIdleConnections(): void;
  destroy(): void;
}

/** A request to a local HTTP API (Lambda's Runtime API host: Extensions and Telemetry APIs). */
export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Whole-request bound in ms; undefined means none (the blocking /event/next must have none). */
  timeoutMs?: number;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** No complete answer: connection refused or reset, timeout (ETIMEDOUT), oversized (ETOOLARGE). */
export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One kept-alive connection's worth of client for a local API; rejects with TransportError. */
export interface ApiClient {
  request(request: ApiRequest): Promise<ApiResponse>;
  /** Drops pooled connections (including a pending long poll). */
  close(): void;
}

export interface ApiClientOptions {
  host: string;
  port: number;
  /** Larger answers fail with ETOOLARGE. */
  maxResponseBytes: number;
}

/** What reading a small regular file found (see FileAccess.readRegularFile). */
export type RegularFileRead =
  | { readonly kind: 'read'; readonly bytes: Uint8Array }
  /** No such file (or a path component is not a directory). */
  | { readonly kind: 'absent' }
  | { readonly kind: 'directory' }
  /** A FIFO, a device, a socket: refused before a byte is read. `what` reads "a FIFO", "a character device", … */
  | { readonly kind: 'not-regular'; readonly what: string }
  /** More than the bytes asked for. */
  | { readonly kind: 'too-large' }
  | { readonly kind: 'denied' }
  /** Any other failure, by error code. */
  | { readonly kind: 'failed'; readonly code: string };

/** Reading the few files start-up needs (configuration files, the function's extensions). */
export interface FileAccess {
  /**
   * At most `maxBytes` of a regular file; anything else (a FIFO without a writer, /dev/zero) is
   * refused without waiting or reading, and a file that grows while read stops past the limit.
   */
  readRegularFile(path: string, maxBytes: number): Promise<RegularFileRead>;
  /** Whether anything (a file, a directory, …) is at `path`, following symbolic links. */
  exists(path: string): Promise<boolean>;
}

export interface Platform {
  readonly name: 'node' | 'bun';
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  serve(handler: RequestHandler, options: ServeOptions): Promise<HttpServer>;
  exportClient(options: ExportClientOptions): ExportClient;
  apiClient(options: ApiClientOptions): ApiClient;
  readonly compression: Compression;
  /**
   * Accepts TCP connections on `host:port`, exclusively (rejects when the port is taken). Stream
   * machinery is loaded by the first connection, not by listening.
   */
  listenTcp(options: TcpListenOptions, onConnection: (socket: StreamSocket) => void): Promise<TcpListener>;
  /** The first address `host` resolves to (the system resolver: /etc/hosts, then DNS). */
  lookup(host: string): Promise<{ address: string }>;
  /**
   * Told of every body piece discarded unread, by size: past a few MB in total (across every
   * request) the runtime frees them now instead of at its next full collection (a flood of dropped
   * pushes would otherwise pile up as garbage far past the memory budget).
   */
  reclaimDiscarded(bytes: number): void;
  readonly files: FileAccess;
}
