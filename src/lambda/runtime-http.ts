// Minimal HTTP/1.1 client for the Lambda Runtime API host (Extensions and Telemetry APIs). One
// keep-alive agent serves every call: the API is local, and reusing the socket saves a connect on
// each /event/next.

import http from 'node:http';

export const RUNTIME_API_ENV = 'AWS_LAMBDA_RUNTIME_API';

export interface RuntimeRequest {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Whole-request bound in ms; undefined means none (the blocking /event/next must have none). */
  timeoutMs?: number;
}

export interface RuntimeResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The request never produced a complete answer: connection refused or reset, timeout, oversized. */
export class RuntimeTransportError extends Error {
  override name = 'RuntimeTransportError';
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Parses AWS_LAMBDA_RUNTIME_API (`host:port`, IPv6 hosts in brackets). Throws a clear error. */
export function parseRuntimeApi(value: string | undefined): { host: string; port: number } {
  if (value === undefined || value.trim() === '') {
    throw new RuntimeTransportError(
      `${RUNTIME_API_ENV} is not set: the extension only runs inside Lambda or a Lambda simulator`,
      'ERUNTIMEAPI',
    );
  }
  let url: URL;
  try {
    url = new URL(`http://${value.trim()}`);
  } catch {
    throw new RuntimeTransportError(`${RUNTIME_API_ENV}=${value} is not host:port`, 'ERUNTIMEAPI');
  }
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new RuntimeTransportError(`${RUNTIME_API_ENV}=${value} is not host:port`, 'ERUNTIMEAPI');
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port === '' ? 80 : Number(url.port) };
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

export class RuntimeHttp {
  readonly host: string;
  readonly port: number;
  private readonly agent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });

  constructor(runtimeApi: string | undefined = process.env[RUNTIME_API_ENV]) {
    const { host, port } = parseRuntimeApi(runtimeApi);
    this.host = host;
    this.port = port;
  }

  async request(req: RuntimeRequest): Promise<RuntimeResponse> {
    try {
      return await this.once(req);
    } catch (err) {
      // A keep-alive socket the server already closed fails on reuse before anything was processed;
      // one fresh attempt is what Node's documentation recommends for that case.
      if (err instanceof ReusedSocketReset) return this.once(req);
      throw err;
    }
  }

  /** Drops the pooled sockets (including a pending /event/next). */
  close(): void {
    this.agent.destroy();
  }

  private once(req: RuntimeRequest): Promise<RuntimeResponse> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...req.headers };
      if (req.body !== undefined) {
        headers['content-type'] ??= 'application/json';
        headers['content-length'] = Buffer.byteLength(req.body);
      }
      const what = `${req.method} ${req.path}`;
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        reject(err);
      };
      const request = http.request(
        { host: this.host, port: this.port, method: req.method, path: req.path, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              request.destroy();
              fail(
                new RuntimeTransportError(
                  `${what}: answer larger than ${MAX_RESPONSE_BYTES} bytes`,
                  'ETOOLARGE',
                ),
              );
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            if (settled) return;
            settled = true;
            if (timer !== undefined) clearTimeout(timer);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            });
          });
          res.on('error', (err) => fail(transportError(what, err)));
          res.on('close', () => {
            if (!res.complete) {
              fail(new RuntimeTransportError(`${what}: connection closed mid-answer`, 'ECONNRESET'));
            }
          });
        },
      );
      request.on('error', (err: NodeJS.ErrnoException) => {
        if (request.reusedSocket && err.code === 'ECONNRESET' && !settled) {
          settled = true;
          if (timer !== undefined) clearTimeout(timer);
          reject(new ReusedSocketReset());
          return;
        }
        fail(transportError(what, err));
      });
      if (req.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          fail(new RuntimeTransportError(`${what}: no answer within ${req.timeoutMs} ms`, 'ETIMEDOUT'));
          request.destroy();
        }, req.timeoutMs);
      }
      request.end(req.body);
    });
  }
}

class ReusedSocketReset extends Error {}

function transportError(what: string, err: NodeJS.ErrnoException): RuntimeTransportError {
  const code = err.code ?? 'EUNKNOWN';
  return new RuntimeTransportError(`${what}: ${err.message}`, code, { cause: err });
}
