// An extension driven step by step from a test: the calls an extension makes, plus a telemetry
// listener whose answers (status, delay) the test controls. Pair it with a sleeper launcher so the
// simulator has an executable of that name to start.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TelemetryEnvelope } from '../../../tools/simulator/types.js';

export interface ApiAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export function callApi(
  address: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiAnswer> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // plain text answer
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
}

export interface TelemetryPost {
  atMs: number;
  records: TelemetryEnvelope[];
  bytes: number;
  status: number;
}

export class ManualExtension {
  identifier = '';
  readonly posts: TelemetryPost[] = [];
  /** Status the listener answers with (a function of the POST's index, from 0). */
  answer: (index: number) => number = () => 200;
  /** Delay before the listener answers. */
  delayMs = 0;
  private server: Server | null = null;

  constructor(
    readonly runtimeApi: string,
    readonly name: string,
  ) {}

  async register(
    events: string[] = ['INVOKE', 'SHUTDOWN'],
    options: { name?: string; acceptFeature?: string } = {},
  ): Promise<ApiAnswer> {
    const headers: Record<string, string> = { 'Lambda-Extension-Name': options.name ?? this.name };
    if (options.acceptFeature) headers['Lambda-Extension-Accept-Feature'] = options.acceptFeature;
    const answer = await callApi(
      this.runtimeApi,
      'POST',
      '/2020-01-01/extension/register',
      { events },
      headers,
    );
    const id = answer.headers['lambda-extension-identifier'];
    if (answer.status === 200 && typeof id === 'string') this.identifier = id;
    return answer;
  }

  next(): Promise<ApiAnswer> {
    return callApi(this.runtimeApi, 'GET', '/2020-01-01/extension/event/next', undefined, this.idHeader());
  }

  subscribe(body: unknown): Promise<ApiAnswer> {
    return callApi(this.runtimeApi, 'PUT', '/2022-07-01/telemetry', body, {
      ...this.idHeader(),
      'content-type': 'application/json',
    });
  }

  /** A valid subscription body for this extension's listener, with `overrides` merged in. */
  subscription(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      schemaVersion: '2025-01-29',
      types: ['platform', 'function', 'extension'],
      buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 },
      destination: { protocol: 'HTTP', URI: `http://sandbox.localdomain:${this.port}/telemetry` },
      ...overrides,
    };
  }

  reportError(which: 'init' | 'exit', errorType: string): Promise<ApiAnswer> {
    return callApi(
      this.runtimeApi,
      'POST',
      `/2020-01-01/extension/${which}/error`,
      { errorMessage: 'reported by test', errorType },
      { ...this.idHeader(), 'Lambda-Extension-Function-Error-Type': errorType },
    );
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Every record received with a 2xx answer, in order. */
  get records(): TelemetryEnvelope[] {
    return this.posts.filter((p) => p.status < 300).flatMap((p) => p.records);
  }

  async listen(): Promise<number> {
    let index = 0;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const status = this.answer(index++);
        const atMs = Date.now();
        const respond = () => {
          this.posts.push({ atMs, records: JSON.parse(body.toString('utf8')), bytes: body.length, status });
          res.writeHead(status).end();
        };
        if (this.delayMs > 0) setTimeout(respond, this.delayMs);
        else respond();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private idHeader(): Record<string, string> {
    return { 'Lambda-Extension-Identifier': this.identifier };
  }
}
