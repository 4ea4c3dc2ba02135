// Client of the Lambda Extensions API (/2020-01-01/extension): register, wait for the next lifecycle
// event, report init/exit errors.

import type { InvokeEvent, LifecycleEvent, RegisterResponse, ShutdownEvent } from './telemetry-events.js';
import { RuntimeHttp, RuntimeTransportError } from './runtime-http.js';

export const EXTENSION_NAME_ENV = 'LAMBDA_OTEL_EXTENSION_NAME';
export const DEFAULT_EXTENSION_NAME = 'otel-lambda-extension';

const BASE = '/2020-01-01/extension';
const ID_HEADER = 'lambda-extension-identifier';

/** `Category.Reason`, e.g. `Extension.RegisterFailed`. */
export type FunctionErrorType = `${string}.${string}`;

export type ExtensionsApiOperation = 'register' | 'next' | 'initError' | 'exitError';

/** An Extensions API call failed: transport problem (status undefined), refusal, or an invalid answer. */
export class ExtensionsApiError extends Error {
  override name = 'ExtensionsApiError';
  constructor(
    readonly operation: ExtensionsApiOperation,
    message: string,
    /** HTTP status when an answer arrived. */
    readonly status?: number,
    /** The answer's body (truncated), when one arrived. */
    readonly body?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type LifecycleEventType = 'INVOKE' | 'SHUTDOWN';

export interface RegisterResult {
  extensionId: string;
  response: RegisterResponse;
  /** The events registered for (SHUTDOWN only on Lambda Managed Instances). */
  events: LifecycleEventType[];
}

export interface ExtensionsApiOptions {
  /** Shared Runtime API connection; defaults to a new one on AWS_LAMBDA_RUNTIME_API. */
  http?: RuntimeHttp;
  /** Defaults to LAMBDA_OTEL_EXTENSION_NAME (set by the launcher), else `otel-lambda-extension`. */
  extensionName?: string;
  env?: NodeJS.ProcessEnv;
  /** Bound on register and error reports (never applied to /event/next). Default 5000 ms. */
  callTimeoutMs?: number;
}

/** Lambda Managed Instances refuse INVOKE registration; flushing there is timer-driven. */
export function lifecycleEventsFor(env: NodeJS.ProcessEnv): LifecycleEventType[] {
  return env['AWS_LAMBDA_INITIALIZATION_TYPE'] === 'lambda-managed-instances'
    ? ['SHUTDOWN']
    : ['INVOKE', 'SHUTDOWN'];
}

const FUNCTION_ERROR_TYPE = /^[A-Za-z][A-Za-z0-9]*\.[A-Za-z0-9]+$/;

export class ExtensionsApiClient {
  readonly http: RuntimeHttp;
  readonly extensionName: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly callTimeoutMs: number;
  private id: string | undefined;

  constructor(options: ExtensionsApiOptions = {}) {
    this.env = options.env ?? process.env;
    this.http = options.http ?? new RuntimeHttp(this.env['AWS_LAMBDA_RUNTIME_API']);
    const fromEnv = this.env[EXTENSION_NAME_ENV]?.trim();
    this.extensionName = options.extensionName ?? (fromEnv ? fromEnv : DEFAULT_EXTENSION_NAME);
    this.callTimeoutMs = options.callTimeoutMs ?? 5000;
  }

  /** The identifier from register; undefined before. */
  get extensionId(): string | undefined {
    return this.id;
  }

  async register(): Promise<RegisterResult> {
    const events = lifecycleEventsFor(this.env);
    const res = await this.call('register', {
      method: 'POST',
      path: `${BASE}/register`,
      headers: {
        'lambda-extension-name': this.extensionName,
        'lambda-extension-accept-feature': 'accountId',
      },
      body: JSON.stringify({ events }),
      timeoutMs: this.callTimeoutMs,
    });
    if (res.status !== 200) {
      throw apiError('register', `register as ${JSON.stringify(this.extensionName)} refused`, res);
    }
    const idHeader = res.headers[ID_HEADER];
    const extensionId = Array.isArray(idHeader) ? idHeader[0] : idHeader;
    if (extensionId === undefined || extensionId === '') {
      throw apiError('register', 'register answer has no Lambda-Extension-Identifier header', res);
    }
    const response = parseRegisterBody(res.body, this.env);
    if (response === undefined) throw apiError('register', 'register answer body is not a JSON object', res);
    this.id = extensionId;
    return { extensionId, response, events };
  }

  /** Blocks until Lambda hands over the next event; deliberately without a client timeout. */
  async nextEvent(): Promise<LifecycleEvent> {
    const res = await this.call('next', {
      method: 'GET',
      path: `${BASE}/event/next`,
      headers: { [ID_HEADER]: this.requireId('next') },
    });
    if (res.status !== 200) throw apiError('next', '/event/next failed', res);
    const event = parseLifecycleEvent(res.body);
    if (typeof event === 'string') throw apiError('next', `/event/next answer is invalid: ${event}`, res);
    return event;
  }

  /** Reports a failed init; Lambda fails the init and the extension must exit afterwards. */
  initError(errorType: FunctionErrorType, message: string): Promise<void> {
    return this.reportError('initError', 'init/error', errorType, message);
  }

  /** Reports a failure after init; the extension must exit afterwards. */
  exitError(errorType: FunctionErrorType, message: string): Promise<void> {
    return this.reportError('exitError', 'exit/error', errorType, message);
  }

  close(): void {
    this.http.close();
  }

  private async reportError(
    operation: 'initError' | 'exitError',
    route: string,
    errorType: string,
    message: string,
  ): Promise<void> {
    // Lambda rejects a malformed error type; a generic one still gets the message through.
    const type = FUNCTION_ERROR_TYPE.test(errorType) ? errorType : 'Extension.UnknownError';
    const res = await this.call(operation, {
      method: 'POST',
      path: `${BASE}/${route}`,
      headers: { [ID_HEADER]: this.requireId(operation), 'lambda-extension-function-error-type': type },
      body: JSON.stringify({ errorMessage: message, errorType: type, stackTrace: [] }),
      timeoutMs: this.callTimeoutMs,
    });
    if (res.status < 200 || res.status > 299) throw apiError(operation, `${route} refused`, res);
  }

  private requireId(operation: ExtensionsApiOperation): string {
    if (this.id === undefined) throw new ExtensionsApiError(operation, `${operation} called before register`);
    return this.id;
  }

  private async call(
    operation: ExtensionsApiOperation,
    req: Parameters<RuntimeHttp['request']>[0],
  ): ReturnType<RuntimeHttp['request']> {
    try {
      return await this.http.request(req);
    } catch (err) {
      const detail = err instanceof RuntimeTransportError ? err.message : String(err);
      throw new ExtensionsApiError(operation, `Extensions API unreachable: ${detail}`, undefined, undefined, {
        cause: err,
      });
    }
  }
}

function apiError(
  operation: ExtensionsApiOperation,
  message: string,
  res: { status: number; body: string },
): ExtensionsApiError {
  const body = res.body.length > 512 ? res.body.slice(0, 512) + '…' : res.body;
  return new ExtensionsApiError(operation, `${message} (HTTP ${res.status}): ${body}`, res.status, body);
}

function parseJsonObject(body: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function parseRegisterBody(body: string, env: NodeJS.ProcessEnv): RegisterResponse | undefined {
  // Some emulators answer with an empty body; the environment holds the same facts.
  const obj = body.trim() === '' ? {} : parseJsonObject(body);
  if (obj === undefined) return undefined;
  const response: RegisterResponse = {
    functionName: str(obj['functionName']) ?? env['AWS_LAMBDA_FUNCTION_NAME'] ?? '',
    functionVersion: str(obj['functionVersion']) ?? env['AWS_LAMBDA_FUNCTION_VERSION'] ?? '',
    handler: str(obj['handler']) ?? '',
  };
  const accountId = str(obj['accountId']);
  if (accountId !== undefined && accountId !== '') response.accountId = accountId;
  return response;
}

function toEpochMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

const SHUTDOWN_FALLBACK_WINDOW_MS = 1800;

/** Validates an /event/next body; returns the event, or a string saying what is wrong. */
/** `now` (epoch ms) dates the fallback SHUTDOWN deadline. */
export function parseLifecycleEvent(body: string, now: () => number = Date.now): LifecycleEvent | string {
  const obj = parseJsonObject(body);
  if (obj === undefined) return 'not a JSON object';
  const eventType = obj['eventType'];
  if (eventType === 'INVOKE') {
    const requestId = str(obj['requestId']);
    if (requestId === undefined || requestId === '') return 'INVOKE without requestId';
    const deadlineMs = toEpochMs(obj['deadlineMs']);
    if (deadlineMs === undefined) return 'INVOKE without a numeric deadlineMs';
    const event: InvokeEvent = {
      eventType: 'INVOKE',
      deadlineMs,
      requestId,
      invokedFunctionArn: str(obj['invokedFunctionArn']) ?? '',
    };
    const tracing = obj['tracing'];
    if (typeof tracing === 'object' && tracing !== null) {
      const t = tracing as Record<string, unknown>;
      const type = str(t['type']);
      const value = str(t['value']);
      if (type !== undefined && value !== undefined && value !== '') event.tracing = { type, value };
    }
    return event;
  }
  if (eventType === 'SHUTDOWN') {
    // A shutdown is honoured even when its deadline is unreadable: assume Lambda's usual window.
    const deadlineMs = toEpochMs(obj['deadlineMs']) ?? now() + SHUTDOWN_FALLBACK_WINDOW_MS;
    const reason = str(obj['shutdownReason']);
    const event: ShutdownEvent = {
      eventType: 'SHUTDOWN',
      shutdownReason: reason === undefined || reason === '' ? 'unknown' : reason.toLowerCase(),
      deadlineMs,
    };
    return event;
  }
  return `unexpected eventType ${JSON.stringify(eventType)}`;
}
