// Keep-alive HTTP(S) connections that survive the execution environment being frozen.
//
// While frozen, the backend or a load balancer closes idle connections, but our process cannot notice:
// after the thaw the agent still holds those sockets and the first request written to one fails with
// ECONNRESET / EPIPE / "socket hang up". Three defences:
//  - free sockets are closed after a few seconds idle (agent `timeout`), so long gaps rarely leave any;
//  - when the last activity is older than that bound (timers did not run during a freeze), free
//    sockets are discarded before sending;
//  - a request that still fails that way on a REUSED socket is sent once more, at once, on a fresh
//    connection, and reported as a stale-connection retry, not as a failure.

import type { Agent as HttpAgent, ClientRequest, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Scheduler } from '../../model/time.js';
import { nodeBuiltin } from '../node-builtin.js';
import { requestScheduler } from '../system-time.js';
import {
  type ExportClient,
  type ExportClientOptions,
  type HttpResponse,
  MAX_EXPORT_RESPONSE_BYTES as MAX_RESPONSE_BYTES,
  type PostRequest,
  type PostResult,
} from '../port.js';

/** node:http loads with the first export, not at start-up (nor at all under a runtime with its own client). */
const loadHttp = () => nodeBuiltin('node:http');

/** Errors that mean "the peer had already closed this connection". */
function isStaleSocketError(error: NodeJS.ErrnoException): boolean {
  return error.code === 'ECONNRESET' || error.code === 'EPIPE' || /socket hang up/i.test(error.message);
}

export type ConnectionPoolOptions = ExportClientOptions;

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

class AbortedError extends Error {
  override readonly name = 'AbortError';
}

export class HttpConnectionPool implements ExportClient {
  private httpAgent: HttpAgent | undefined;
  private httpsAgent: HttpsAgent | undefined;
  private httpsModule: typeof import('node:https') | undefined;
  private tlsModule: typeof import('node:tls') | undefined;
  private lastActivityMs: number;
  private readonly freeSocketTimeoutMs: number;
  private readonly maxSockets: number;
  private readonly now: () => number;
  private readonly scheduler: Scheduler;
  private readonly userAgent: string;
  private readonly thawLateMs: number;
  private readonly thawGraceMs: number;

  constructor(options: ConnectionPoolOptions) {
    this.scheduler = options.scheduler ?? requestScheduler;
    this.userAgent = options.userAgent;
    this.thawLateMs = options.thawLateMs;
    this.thawGraceMs = options.thawGraceMs;
    this.freeSocketTimeoutMs = options.freeSocketTimeoutMs ?? 4_000;
    this.maxSockets = options.maxSockets ?? 8;
    this.now = options.now ?? Date.now;
    this.lastActivityMs = this.now();
  }

  /** Sends one POST; never rejects. A stale reused socket costs one immediate resend, at most. */
  async post(request: PostRequest): Promise<PostResult> {
    if (request.url.protocol === 'https:' && !this.httpsModule) {
      // TLS is loaded only by configurations that need it (start-up cost).
      [this.httpsModule, this.tlsModule] = await Promise.all([import('node:https'), import('node:tls')]);
    }
    if (this.now() - this.lastActivityMs > this.freeSocketTimeoutMs) this.closeIdleConnections();
    const deadline = this.now() + request.timeoutMs;
    let staleRetries = 0;
    for (;;) {
      const attempt = await this.attempt(request, Math.max(1, deadline - this.now()));
      this.lastActivityMs = this.now();
      if (attempt.kind === 'stale' && staleRetries === 0) {
        // The connection died while we were frozen: drop every idle socket to that pool and resend.
        staleRetries++;
        this.closeIdleConnections();
        continue;
      }
      if (attempt.kind === 'stale') {
        return {
          kind: 'network-error',
          error: attempt.error,
          code: attempt.error.code ?? 'ECONNRESET',
          staleRetries,
        };
      }
      return { ...attempt, staleRetries };
    }
  }

  /** Closes connections not carrying a request (e.g. after a long freeze). */
  closeIdleConnections(): void {
    for (const agent of [this.httpAgent, this.httpsAgent]) {
      if (!agent) continue;
      for (const sockets of Object.values(agent.freeSockets)) {
        for (const socket of sockets ?? []) socket.destroy();
      }
    }
  }

  /** Closes everything; the pool can still be used afterwards (agents are recreated lazily). */
  destroy(): void {
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
    this.httpAgent = undefined;
    this.httpsAgent = undefined;
  }

  private agentFor(url: URL): HttpAgent | HttpsAgent {
    const options = {
      keepAlive: true,
      keepAliveMsecs: 1_000,
      maxSockets: this.maxSockets,
      maxFreeSockets: this.maxSockets,
      timeout: this.freeSocketTimeoutMs,
      scheduling: 'lifo' as const,
    };
    if (url.protocol === 'https:') {
      // One TLS context for all connections: without it every new connection builds its own (root
      // store, ciphers), which each flush after a long freeze pays again for each signal.
      this.httpsAgent ??= new (this.httpsModule as typeof import('node:https')).Agent({
        ...options,
        secureContext: (this.tlsModule as typeof import('node:tls')).createSecureContext(),
      });
      return this.httpsAgent;
    }
    this.httpAgent ??= new (loadHttp().Agent)(options);
    return this.httpAgent;
  }

  private attempt(
    request: PostRequest,
    timeoutMs: number,
  ): Promise<
    | { kind: 'response'; response: HttpResponse }
    | { kind: 'network-error'; error: Error; code: string }
    | { kind: 'timeout' }
    | { kind: 'aborted' }
    | { kind: 'stale'; error: NodeJS.ErrnoException }
  > {
    return new Promise((resolve) => {
      if (request.signal.aborted) {
        resolve({ kind: 'aborted' });
        return;
      }
      const { url } = request;
      const transport =
        url.protocol === 'https:' ? (this.httpsModule as typeof import('node:https')) : loadHttp();
      let settled = false;
      let gotResponse = false;
      let req: ClientRequest;
      const finish = (value: Parameters<typeof resolve>[0]): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        request.signal.removeEventListener('abort', onAbort);
        resolve(value);
      };
      // A deadline or timeout that fires right after a thaw often finds the answer already waiting
      // in the socket: timers run before I/O in Node's loop, so cutting the request at once would
      // throw away a delivered request and send it again (a duplicate). One turn of the loop lets
      // pending I/O settle it first.
      const cut = (error: Error): void => {
        setImmediate(() => {
          if (!settled) req.destroy(error);
        });
      };
      const onAbort = (): void => cut(new AbortedError('export deadline reached'));
      // The same after a freeze: a timeout that fires late gives the request a short grace first.
      const dueMs = this.now() + timeoutMs;
      const onTimeout = (): void => {
        if (this.now() - dueMs > this.thawLateMs && timer === firstTimer) {
          timer = this.scheduler.setTimeout(onTimeout, this.thawGraceMs);
          return;
        }
        cut(new TimeoutError(`no answer within ${timeoutMs} ms`));
      };
      const firstTimer = this.scheduler.setTimeout(onTimeout, timeoutMs);
      let timer = firstTimer;

      req = transport.request(
        url,
        {
          method: 'POST',
          agent: this.agentFor(url),
          headers: {
            ...request.headers,
            'content-length': String(request.body.length),
            'user-agent': this.userAgent,
          },
        },
        (res: IncomingMessage) => {
          gotResponse = true;
          const parts: Buffer[] = [];
          let size = 0;
          res.on('data', (part: Buffer) => {
            if (size >= MAX_RESPONSE_BYTES) return;
            parts.push(part);
            size += part.length;
          });
          res.on('end', () => {
            finish({
              kind: 'response',
              response: { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) },
            });
          });
          res.on('error', (error) => onError(error));
        },
      );
      const onError = (error: NodeJS.ErrnoException): void => {
        if (error instanceof TimeoutError) finish({ kind: 'timeout' });
        else if (error instanceof AbortedError) finish({ kind: 'aborted' });
        else if (!gotResponse && req.reusedSocket && isStaleSocketError(error))
          finish({ kind: 'stale', error });
        else finish({ kind: 'network-error', error, code: error.code ?? error.name });
      };
      req.on('error', onError);
      request.signal.addEventListener('abort', onAbort, { once: true });
      req.end(request.body);
    });
  }
}
