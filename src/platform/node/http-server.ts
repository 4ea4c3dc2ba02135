// The port's HTTP server on node:http (loaded on first use, so a runtime with its own server never
// pays for it).

import type { AddressInfo } from 'node:net';
import { nodeBuiltin } from '../node-builtin.js';
import type {
  Answer,
  HttpServer,
  IncomingRequest,
  RequestBody,
  RequestHandler,
  ServeOptions,
} from '../port.js';

type Req = import('node:http').IncomingMessage;
type Res = import('node:http').ServerResponse;

/** Past this much unread body after an early answer, the connection is cut rather than drained. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

class NodeRequestBody implements RequestBody {
  readonly declaredLength: number | undefined;
  private detached = false;

  constructor(private readonly req: Req) {
    const header = req.headers['content-length'];
    const length = header === undefined ? Number.NaN : Number(header);
    this.declaredLength = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
  }

  get complete(): boolean {
    return this.req.complete;
  }

  read(sink: Parameters<RequestBody['read']>[0]): () => void {
    const req = this.req;
    const onData = (chunk: Buffer): void => sink.data(chunk);
    const onEnd = (): void => sink.end();
    const onError = (err: Error): void => sink.abort(new Error(`request aborted: ${err.message}`));
    const onClose = (): void => {
      if (!req.complete) sink.abort(new Error('request aborted by the client'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
    return () => {
      if (this.detached) return;
      this.detached = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
  }
}

function toRequest(req: Req): IncomingRequest {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const headers = req.headers;
  return {
    method: req.method ?? 'GET',
    path: query === -1 ? url : url.slice(0, query),
    header(name: string): string | undefined {
      const value = headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    body: new NodeRequestBody(req),
  };
}

export async function serveNode(
  handler: RequestHandler,
  options: ServeOptions,
  reclaim: (bytes: number) => void,
): Promise<HttpServer> {
  const http = nodeBuiltin('node:http');
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const finished = (): void => {
    inFlight--;
    if (inFlight === 0) drained?.();
  };

  const send = (req: Req, res: Res, answer: Answer): void => {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      finished();
      return;
    }
    const body = answer.body ?? '';
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    const bodyPending = !req.complete;
    res.writeHead(answer.status, {
      ...answer.headers,
      'content-length': String(length),
      // A client still sending stops once it has read this answer; the connection is not reused.
      ...(bodyPending ? { connection: 'close' } : {}),
    });
    if (!bodyPending) {
      res.end(body);
      try {
        answer.afterAnswer?.();
      } finally {
        finished();
      }
      return;
    }
    // The client gets the complete answer now, but the response ends, which closes the connection,
    // only once the client has stopped sending (body complete, or it closed after reading the
    // answer): closing first would reset the upload, and the client would see a connection error
    // (which OTLP exporters retry) instead of this answer. What still arrives is discarded; past
    // the drain bound the connection is cut.
    res.write(body);
    let drainedBytes = 0;
    req.on('data', (chunk: Buffer) => {
      drainedBytes += chunk.length;
      reclaim(chunk.length);
      if (drainedBytes > MAX_DRAIN_BYTES) req.socket.destroy();
    });
    req.on('end', () => res.end());
    req.on('error', () => {});
    req.resume();
    try {
      answer.afterAnswer?.();
    } finally {
      finished();
    }
  };

  const server = http.createServer(
    options.noServerTimers ? { requestTimeout: 0, keepAliveTimeout: 0 } : {},
    (req, res) => {
      inFlight++;
      let result: Answer | Promise<Answer>;
      try {
        result = handler(toRequest(req));
      } catch (err) {
        result = internalError(err);
      }
      if (result instanceof Promise) {
        result.then(
          (answer) => send(req, res, answer),
          (err: unknown) => send(req, res, internalError(err)),
        );
      } else {
        send(req, res, result);
      }
    },
  );
  if (options.noServerTimers) server.headersTimeout = 0;
  server.on('clientError', (_err, socket) => {
    // Malformed HTTP: answer 400 if the socket still can, never crash.
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port, exclusive: options.exclusive ?? false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => options.onError?.(err));
  if (options.unref) server.unref();
  const { port, address } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    address,
    port,
    close(drainTimeoutMs = 0): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        let serverClosed = false;
        const done = (): void => {
          clearTimeout(force);
          clearTimeout(giveUp);
          resolve();
        };
        const maybeDone = (): void => {
          if (serverClosed && inFlight === 0) done();
        };
        server.close(() => {
          serverClosed = true;
          maybeDone();
        });
        // Idle keep-alive sockets would hold close() open; in-flight requests may finish first.
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
        // Last resort should a socket never report its end.
        const giveUp = setTimeout(done, drainTimeoutMs + 200);
        drained = () => {
          clearTimeout(force);
          // The last answer is flushed on the next tick (the response corks its socket).
          setImmediate(() => {
            server.closeAllConnections();
            maybeDone();
          });
        };
        if (inFlight === 0) drained();
      });
      return closing;
    },
  };
}

function internalError(err: unknown): Answer {
  return { status: 500, body: `internal error: ${(err as Error)?.message ?? String(err)}` };
}
