// The port's HTTP server on Bun.serve: Bun's own HTTP stack, a fraction of node:http's start-up and
// per-request cost under Bun.

import type {
  Answer,
  BodySink,
  HttpServer,
  IncomingRequest,
  RequestBody,
  RequestHandler,
  ServeOptions,
} from '../port.js';
import type { BunApi } from './bun-api.js';

/** Unread request body read and dropped before an early answer, at most. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * A client that sends nothing for this long is waiting for the answer (headers first): it gets it
 * without its body being waited for.
 */
const DRAIN_IDLE_MS = 100;

const IDLE = Symbol('idle');

/**
 * A body announced at most this long is read whole (Request.arrayBuffer) rather than through its
 * stream: Telemetry API pushes and most OTLP exports are a few KB, and the stream's reader costs
 * about 0.2 ms of CPU more per request. Longer or unannounced bodies are streamed, so the limits
 * stop them early.
 */
const WHOLE_BODY_MAX_BYTES = 256 * 1024;

type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

/** What `promise` gives, or IDLE when it has not settled within DRAIN_IDLE_MS. */
async function unlessIdle<T>(promise: Promise<T>): Promise<T | typeof IDLE> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<typeof IDLE>((resolve) => {
    timer = setTimeout(() => resolve(IDLE), DRAIN_IDLE_MS);
  });
  try {
    return await Promise.race([promise, idle]);
  } finally {
    clearTimeout(timer);
  }
}

class BunRequestBody implements RequestBody {
  readonly declaredLength: number | undefined;
  complete: boolean;
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private sink: BodySink | undefined;
  private pending: Promise<ReadResult> | undefined;
  /** The body being read whole, when it is. */
  private whole: Promise<void> | undefined;

  constructor(private readonly request: Request) {
    const header = request.headers.get('content-length');
    const length = header === null ? Number.NaN : Number(header);
    this.declaredLength = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
    this.complete = request.body === null;
  }

  read(sink: BodySink): () => void {
    const stream = this.request.body;
    if (stream === null) {
      queueMicrotask(() => sink.end());
      return () => {};
    }
    this.sink = sink;
    if (
      this.reader === undefined &&
      this.declaredLength !== undefined &&
      this.declaredLength <= WHOLE_BODY_MAX_BYTES
    ) {
      this.whole ??= this.request.arrayBuffer().then(
        (buffer) => {
          this.complete = true;
          const to = this.sink;
          if (buffer.byteLength > 0) to?.data(new Uint8Array(buffer));
          to?.end();
        },
        (err: unknown) => {
          this.sink?.abort(new Error(`request aborted: ${(err as Error)?.message ?? String(err)}`));
        },
      );
      return () => {
        this.sink = undefined;
      };
    }
    this.reader ??= stream.getReader();
    void this.pump();
    return () => {
      this.sink = undefined;
    };
  }

  /** Hands chunks to the sink while there is one; a stopped body is left to drain(). */
  private async pump(): Promise<void> {
    try {
      while (this.sink) {
        const { done, value } = await this.next();
        const sink = this.sink;
        if (done) {
          this.complete = true;
          sink?.end();
          return;
        }
        sink?.data(value);
      }
    } catch (err) {
      this.sink?.abort(new Error(`request aborted: ${(err as Error).message}`));
    }
  }

  /** One read at a time, shared by the pump and drain(). */
  private next(): Promise<ReadResult> {
    this.pending ??= (this.reader as ReadableStreamDefaultReader<Uint8Array>).read().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /**
   * Bun closes a connection answered before its body was read, and a client still sending sees a
   * broken pipe instead of the answer: what it still sends is read and dropped first, up to
   * MAX_DRAIN_BYTES, unless it sends nothing for DRAIN_IDLE_MS (it waits for the answer).
   */
  async drain(): Promise<void> {
    if (this.complete) return;
    this.sink = undefined;
    if (this.whole !== undefined) {
      // Small: its end is waited for at most DRAIN_IDLE_MS, then the answer goes anyway.
      await unlessIdle(this.whole);
      return;
    }
    const stream = this.request.body;
    if (!stream) return;
    this.reader ??= stream.getReader();
    let dropped = 0;
    try {
      while (dropped <= MAX_DRAIN_BYTES) {
        const result = await unlessIdle(this.next());
        if (result === IDLE) return;
        if (result.done) {
          this.complete = true;
          return;
        }
        dropped += result.value.byteLength;
      }
    } catch {
      // The client is gone.
    }
  }
}

function toResponse(answer: Answer): Response {
  return new Response(
    answer.body === undefined ? null : (answer.body as ConstructorParameters<typeof Response>[0]),
    {
      status: answer.status,
      headers: answer.headers,
    },
  );
}

export async function serveBun(
  bun: BunApi,
  handler: RequestHandler,
  options: ServeOptions,
): Promise<HttpServer> {
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const finished = (): void => {
    inFlight--;
    if (inFlight === 0) drained?.();
  };
  const after = (answer: Answer): void => {
    const run = answer.afterAnswer;
    if (!run) {
      finished();
      return;
    }
    // After the answer has been handed to the connection.
    setImmediate(() => {
      try {
        run();
      } finally {
        finished();
      }
    });
  };

  const server = bun.serve({
    hostname: options.host,
    port: options.port,
    reusePort: !(options.exclusive ?? false),
    idleTimeout: options.noServerTimers ? 0 : 10,
    // The port's body reader enforces each server's own limits.
    maxRequestBodySize: 512 * 1024 * 1024,
    async fetch(request: Request): Promise<Response> {
      inFlight++;
      const url = request.url;
      const pathStart = url.indexOf('/', url.indexOf('//') + 2);
      const full = pathStart === -1 ? '/' : url.slice(pathStart);
      const query = full.indexOf('?');
      const body = new BunRequestBody(request);
      const incoming: IncomingRequest = {
        method: request.method,
        path: query === -1 ? full : full.slice(0, query),
        header: (name) => request.headers.get(name) ?? undefined,
        body,
      };
      let answer: Answer;
      try {
        answer = await handler(incoming);
      } catch (err) {
        answer = { status: 500, body: `internal error: ${(err as Error)?.message ?? String(err)}` };
      }
      if (!body.complete) {
        answer = { ...answer, headers: { ...answer.headers, connection: 'close' } };
        // Bun closes a connection answered before its body was read, and the client then sees a
        // broken pipe instead of the answer: the rest is read and dropped first (bounded).
        await body.drain();
      }
      after(answer);
      return toResponse(answer);
    },
    error(error: Error): Response {
      options.onError?.(error);
      return new Response(null, { status: 500 });
    },
  });
  if (options.unref) server.unref();

  let closing: Promise<void> | undefined;
  return {
    address: server.hostname,
    port: server.port,
    close(drainTimeoutMs = 0): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          clearTimeout(force);
          void Promise.resolve(server.stop(true)).finally(resolve);
        };
        void server.stop(false);
        const force = setTimeout(finish, drainTimeoutMs);
        drained = finish;
        if (inFlight === 0) finish();
      });
      return closing;
    },
  };
}
