// A fault-injecting HTTP proxy in front of any OTLP endpoint. Each incoming request takes the next
// scripted fault (or is forwarded when the script is empty):
//   status  – answer with a status/headers/body without forwarding (503 bursts, 429 + Retry-After, 413…)
//   delay   – forward after a pause
//   hang    – never answer (the client's timeout or deadline must end it)
//   cut     – read part of the request, then destroy the connection without an answer
//   stale   – like a connection the backend closed while the environment was frozen: the first
//             request arriving on a REUSED connection finds it dead (destroyed without an answer);
//             requests on fresh connections pass through while this fault waits
// closeIdleConnections() closes the keep-alive connections currently between requests.

import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readBody } from '../../../tools/otlp/http-body.js';

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string | Buffer }
  | { kind: 'delay'; ms: number }
  | { kind: 'hang' }
  | { kind: 'cut' }
  | { kind: 'stale' };

export interface ProxiedRequest {
  path: string;
  /** Whether the connection had carried a request before. */
  reusedConnection: boolean;
  /** The fault applied, or "forward". */
  outcome: Fault['kind'] | 'forward';
  /** Status returned to the client (undefined when the connection was cut or hung). */
  status: number | undefined;
  atMs: number;
  /** The client's request headers. */
  headers: IncomingHttpHeaders;
  /** Body bytes as received (compressed when the client compressed); 0 for cut/stale. */
  wireBytes: number;
}

export interface FaultProxy {
  readonly url: string;
  readonly port: number;
  readonly log: ProxiedRequest[];
  /** Appends faults to the script; each request consumes one (stale waits for a reused connection). */
  script(...faults: Fault[]): void;
  /** Faults not consumed yet. */
  remaining(): number;
  /** Drops the faults not consumed yet: the backend is healthy again. */
  clearScript(): void;
  /** Connections accepted so far. */
  connections(): number;
  closeIdleConnections(): void;
  close(): Promise<void>;
}

/** `now` stamps each request's atMs (default Date.now; a virtual clock in virtual-time tests). */
export async function startFaultProxy(
  upstreamBase: string,
  now: () => number = Date.now,
): Promise<FaultProxy> {
  const upstream = new URL(upstreamBase);
  const upstreamAgent = new http.Agent({ keepAlive: true });
  const script: Fault[] = [];
  const log: ProxiedRequest[] = [];
  const requestsPerSocket = new WeakMap<Socket, number>();
  const hung = new Set<http.ServerResponse>();
  let connectionCount = 0;

  const server = http.createServer(async (req, res) => {
    const socket = req.socket;
    const seen = requestsPerSocket.get(socket) ?? 0;
    requestsPerSocket.set(socket, seen + 1);
    const reused = seen > 0;
    const entry: ProxiedRequest = {
      path: req.url ?? '',
      reusedConnection: reused,
      outcome: 'forward',
      status: undefined,
      atMs: now(),
      headers: req.headers,
      wireBytes: 0,
    };
    log.push(entry);

    let fault: Fault | undefined;
    const next = script[0];
    if (next && (next.kind !== 'stale' || reused)) fault = script.shift();

    if (fault?.kind === 'cut' || fault?.kind === 'stale') {
      entry.outcome = fault.kind;
      // Let part of the body arrive for "cut" so the client is mid-request when the connection dies.
      if (fault.kind === 'cut')
        await new Promise<void>((r) => req.once('data', () => r()).once('end', () => r()));
      socket.destroy();
      return;
    }
    const body = await readBody(req);
    entry.wireBytes = body.length;
    if (fault?.kind === 'hang') {
      entry.outcome = 'hang';
      hung.add(res);
      return;
    }
    if (fault?.kind === 'status') {
      entry.outcome = 'status';
      entry.status = fault.status;
      res.writeHead(fault.status, fault.headers).end(fault.body);
      return;
    }
    if (fault?.kind === 'delay') {
      entry.outcome = 'delay';
      await new Promise((r) => setTimeout(r, fault.ms));
    }
    const headers = { ...req.headers, host: upstream.host };
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers,
        agent: upstreamAgent,
      },
      (up) => {
        entry.status = up.statusCode;
        const answer: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) {
          if (v !== undefined && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding')
            answer[k] = v;
        }
        res.writeHead(up.statusCode ?? 502, answer);
        up.pipe(res);
      },
    );
    forward.on('error', () => {
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    forward.end(body);
  });
  server.on('connection', () => connectionCount++);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    script: (...faults) => {
      script.push(...faults);
    },
    remaining: () => script.length,
    clearScript: () => {
      script.length = 0;
    },
    connections: () => connectionCount,
    closeIdleConnections: () => server.closeIdleConnections(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hung) res.destroy();
        upstreamAgent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
