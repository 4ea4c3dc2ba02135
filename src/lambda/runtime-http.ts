// Client of the Lambda Runtime API host (Extensions and Telemetry APIs), on the runtime port's local
// API client (one kept-alive connection: reusing it saves a connect on each /event/next).

import { type Platform, platform } from '../platform/index.js';
import { type ApiClient, type ApiRequest, type ApiResponse, TransportError } from '../platform/port.js';

export const RUNTIME_API_ENV = 'AWS_LAMBDA_RUNTIME_API';

export type RuntimeRequest = ApiRequest;
export type RuntimeResponse = ApiResponse;

/**
 * A request to the Runtime API never produced a complete answer: connection refused or reset,
 * timeout, oversized. The port's TransportError, named for the Lambda APIs in the extension's log.
 */
export class RuntimeTransportError extends TransportError {
  override name = 'RuntimeTransportError';
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
  private readonly client: ApiClient;

  constructor(runtimeApi: string | undefined = process.env[RUNTIME_API_ENV], runtime: Platform = platform()) {
    const { host, port } = parseRuntimeApi(runtimeApi);
    this.host = host;
    this.port = port;
    this.client = runtime.apiClient({ host, port, maxResponseBytes: MAX_RESPONSE_BYTES });
  }

  async request(req: RuntimeRequest): Promise<RuntimeResponse> {
    try {
      return await this.client.request(req);
    } catch (err) {
      if (err instanceof TransportError)
        throw new RuntimeTransportError(err.message, err.code, { cause: err.cause });
      throw err;
    }
  }

  /** Drops the pooled sockets (including a pending /event/next). */
  close(): void {
    this.client.close();
  }
}
