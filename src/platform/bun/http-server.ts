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

/** Unread request body read and dropped after an early answer, at most (node:http's server: the same). */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

class BunRequestBody implements RequestBody {
  readonly declaredLength: number | undefined;
  complete: boolean;
  private reading: Promise<void> | undefined;
  private stopped = false;

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
    const reader = stream.getReader();
    this.reading = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            this.complete = true;
            if (!this.stopped) sink.end();
            return;
          }
          // Once stopped, the rest is read and dropped, so the client can finish sending.
          if (!this.stopped) sink.data(value);
        }
      } catch (err) {
        if (!this.stopped) sink.abort(new Error(`request aborted: ${(err as Error).message}`));
      }
    })();
    return () => {
      this.stopped = true;
    };
  }

  /** Reads and drops whatever the handler left unread (bounded by the server's body limit). */
  async drain(): Promise<void> {
    if (this.complete) return;
    if (this.reading) {
      await this.reading;
      return;
    }
    this.stopped = true;
    const stream = this.request.body;
    if (!stream) return;
    // Read and drop what the client still sends, so that it sees the answer instead of a broken
    // pipe; past MAX_DRAIN_BYTES the connection is cut.
    const reader = stream.getReader();
    let dropped = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        dropped += value.byteLength;
        if (dropped > MAX_DRAIN_BYTES) {
          await reader.cancel();
          break;
        }
      }
      this.complete = true;
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
