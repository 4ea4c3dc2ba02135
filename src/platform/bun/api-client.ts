// The local API client on Bun's fetch (Bun keeps the connection alive itself).

import {
  type ApiClient,
  type ApiClientOptions,
  type ApiRequest,
  type ApiResponse,
  TransportError,
} from '../port.js';

/** Bun's fetch error codes, in the Node terms the callers know. */
const CODES: Record<string, string> = {
  ConnectionRefused: 'ECONNREFUSED',
  ConnectionClosed: 'ECONNRESET',
  ConnectionReset: 'ECONNRESET',
  FailedToOpenSocket: 'ECONNREFUSED',
};

export class FetchApiClient implements ApiClient {
  private readonly base: string;
  private readonly inFlight = new Set<AbortController>();

  constructor(private readonly options: ApiClientOptions) {
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.base = `http://${host}:${options.port}`;
  }

  async request(req: ApiRequest): Promise<ApiResponse> {
    const what = `${req.method} ${req.path}`;
    const controller = new AbortController();
    this.inFlight.add(controller);
    let timedOut = false;
    const timer =
      req.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, req.timeoutMs);
    try {
      const headers: Record<string, string> = { ...req.headers };
      if (req.body !== undefined) headers['content-type'] ??= 'application/json';
      const res = await fetch(`${this.base}${req.path}`, {
        method: req.method,
        headers,
        body: req.body,
        signal: controller.signal,
      });
      const text = await res.text();
      if (Buffer.byteLength(text) > this.options.maxResponseBytes) {
        throw new TransportError(
          `${what}: answer larger than ${this.options.maxResponseBytes} bytes`,
          'ETOOLARGE',
        );
      }
      const out: Record<string, string> = {};
      res.headers.forEach((value, key) => {
        out[key] = value;
      });
      return { status: res.status, headers: out, body: text };
    } catch (err) {
      if (err instanceof TransportError) throw err;
      if (timedOut) throw new TransportError(`${what}: no answer within ${req.timeoutMs} ms`, 'ETIMEDOUT');
      const error = err as Error & { code?: string };
      const code = CODES[error.code ?? ''] ?? error.code ?? 'EUNKNOWN';
      throw new TransportError(`${what}: ${error.message}`, code, { cause: err });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }

  close(): void {
    for (const controller of this.inFlight) controller.abort();
    this.inFlight.clear();
  }
}
