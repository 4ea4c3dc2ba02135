// The local API client on node:http: one keep-alive agent serves every call (the API is local, and
// reusing the socket saves a connect on each /event/next).

import { nodeBuiltin } from '../node-builtin.js';
import {
  type ApiClient,
  type ApiClientOptions,
  type ApiRequest,
  type ApiResponse,
  TransportError,
} from '../port.js';

type NodeHttp = typeof import('node:http');

class ReusedSocketReset extends Error {}

export class NodeApiClient implements ApiClient {
  private readonly http: NodeHttp;
  private readonly agent: import('node:http').Agent;

  constructor(private readonly options: ApiClientOptions) {
    this.http = nodeBuiltin('node:http');
    this.agent = new this.http.Agent({ keepAlive: true, scheduling: 'lifo' });
  }

  async request(req: ApiRequest): Promise<ApiResponse> {
    try {
      return await this.once(req);
    } catch (err) {
      // A keep-alive socket the server already closed fails on reuse before anything was processed;
      // one fresh attempt is what Node's documentation recommends for that case.
      if (err instanceof ReusedSocketReset) return this.once(req);
      throw err;
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private once(req: ApiRequest): Promise<ApiResponse> {
    const { host, port, maxResponseBytes } = this.options;
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
      const request = this.http.request(
        { host, port, method: req.method, path: req.path, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxResponseBytes) {
              request.destroy();
              fail(new TransportError(`${what}: answer larger than ${maxResponseBytes} bytes`, 'ETOOLARGE'));
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
              fail(new TransportError(`${what}: connection closed mid-answer`, 'ECONNRESET'));
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
          fail(new TransportError(`${what}: no answer within ${req.timeoutMs} ms`, 'ETIMEDOUT'));
          request.destroy();
        }, req.timeoutMs);
      }
      request.end(req.body);
    });
  }
}

function transportError(what: string, err: NodeJS.ErrnoException): TransportError {
  return new TransportError(`${what}: ${err.message}`, err.code ?? 'EUNKNOWN', { cause: err });
}
