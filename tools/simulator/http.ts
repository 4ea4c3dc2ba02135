// The one HTTP server behind AWS_LAMBDA_RUNTIME_API, and the small request/reply helpers the three
// APIs share.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export class BodyTooLargeError extends Error {}

export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        reject(new BodyTooLargeError(`body over ${limitBytes} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('request aborted')));
  });
}

/** Parses a JSON body, giving `undefined` for an empty or unparsable one. */
export function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export function reply(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text);
}

export function replyError(
  res: ServerResponse,
  status: number,
  errorType: string,
  errorMessage: string,
): void {
  reply(res, status, { errorType, errorMessage });
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export interface Route {
  prefix: string;
  handle(req: IncomingMessage, res: ServerResponse, path: string): void | Promise<void>;
}

export class ApiServer {
  private readonly server: Server;
  private port = 0;

  constructor(private readonly routes: Route[]) {
    this.server = createServer((req, res) => this.dispatch(req, res));
    // /next long-polls must survive any idle time, including frozen hours.
    this.server.requestTimeout = 0;
    this.server.keepAliveTimeout = 0;
  }

  /** `host:port`, the value of AWS_LAMBDA_RUNTIME_API. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    if (this.port) return;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = this.routes.find((r) => path.startsWith(r.prefix));
    if (!route) {
      replyError(res, 404, 'InvalidRequest', `no API at ${req.method} ${path}`);
      return;
    }
    Promise.resolve(route.handle(req, res, path.slice(route.prefix.length))).catch((error: unknown) => {
      if (error instanceof BodyTooLargeError) replyError(res, 413, 'RequestEntityTooLarge', error.message);
      else replyError(res, 500, 'Simulator.Internal', String(error));
    });
  }
}
