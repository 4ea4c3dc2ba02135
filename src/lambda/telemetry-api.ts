// Subscription to the Lambda Telemetry API (/2022-07-01/telemetry). Must happen before the first
// /event/next: Lambda refuses later subscriptions.

import { type ExtensionLogger, log as defaultLog } from '../extension-log.js';
import { type RuntimeHttp, RuntimeTransportError } from './runtime-http.js';

export type TelemetrySchemaVersion = '2025-01-29' | '2022-12-13';
export type TelemetryType = 'platform' | 'function' | 'extension';

/** Newest first; the next one is tried when Lambda refuses a version with 400. */
export const SCHEMA_VERSIONS: readonly TelemetrySchemaVersion[] = ['2025-01-29', '2022-12-13'];

export interface TelemetryBuffering {
  maxItems: number;
  maxBytes: number;
  timeoutMs: number;
}

/** Small batches, pushed within 25 ms: events reach us before the environment freezes. */
export const DEFAULT_BUFFERING: Readonly<TelemetryBuffering> = {
  maxItems: 1000,
  maxBytes: 262144,
  timeoutMs: 25,
};

/** The ranges Lambda accepts. */
export const BUFFERING_LIMITS: Readonly<Record<keyof TelemetryBuffering, { min: number; max: number }>> = {
  maxItems: { min: 1000, max: 10000 },
  maxBytes: { min: 262144, max: 1048576 },
  timeoutMs: { min: 25, max: 30000 },
};

/**
 * Brings requested buffering into Lambda's ranges. Missing values take the defaults; non-integers
 * are rounded, out-of-range values clamped, non-numbers replaced by the default, each with a message.
 */
export function resolveBuffering(requested: Partial<Record<keyof TelemetryBuffering, unknown>> = {}): {
  buffering: TelemetryBuffering;
  problems: string[];
} {
  const buffering = { ...DEFAULT_BUFFERING };
  const problems: string[] = [];
  for (const key of Object.keys(BUFFERING_LIMITS) as (keyof TelemetryBuffering)[]) {
    const raw = requested[key];
    if (raw === undefined) continue;
    const { min, max } = BUFFERING_LIMITS[key];
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      problems.push(
        `telemetry buffering ${key}=${JSON.stringify(raw)} is not a number; using ${DEFAULT_BUFFERING[key]}`,
      );
      continue;
    }
    const value = Math.min(max, Math.max(min, Math.round(n)));
    if (value !== n) {
      problems.push(
        `telemetry buffering ${key}=${n} is outside Lambda's range ${min}–${max}; using ${value}`,
      );
    }
    buffering[key] = value;
  }
  return { buffering, problems };
}

export type SubscribeOutcome =
  | { status: 'subscribed'; schemaVersion: TelemetrySchemaVersion; buffering: TelemetryBuffering }
  /** 202: local emulators accept the call but never push telemetry. */
  | { status: 'unsupported'; httpStatus: number; body: string };

export class TelemetrySubscribeError extends Error {
  override name = 'TelemetrySubscribeError';
  constructor(
    message: string,
    /** HTTP status when an answer arrived. */
    readonly status?: number,
    /** The answer's body (truncated), when one arrived. */
    readonly body?: string,
    /** Lambda's `errorType` from a JSON error answer. */
    readonly errorType?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface SubscribeOptions {
  http: RuntimeHttp;
  extensionId: string;
  /** The listener's port. */
  port: number;
  /** Host Lambda pushes to; Lambda requires sandbox.localdomain. */
  destinationHost?: string;
  types?: TelemetryType[];
  buffering?: Partial<Record<keyof TelemetryBuffering, unknown>>;
  logger?: ExtensionLogger;
  /** Bound on each subscribe call. Default 5000 ms. */
  timeoutMs?: number;
}

export const TELEMETRY_PATH = '/telemetry';

/** PUTs the subscription, newest schema first. Resolves with what was agreed; throws TelemetrySubscribeError. */
export async function subscribeTelemetry(options: SubscribeOptions): Promise<SubscribeOutcome> {
  const logger = options.logger ?? defaultLog;
  const { buffering, problems } = resolveBuffering(options.buffering);
  for (const problem of problems) logger.warn(problem);
  const destination = {
    protocol: 'HTTP',
    URI: `http://${options.destinationHost ?? 'sandbox.localdomain'}:${options.port}${TELEMETRY_PATH}`,
  };
  const types = options.types ?? ['platform', 'function', 'extension'];
  const refusals: string[] = [];

  for (const schemaVersion of SCHEMA_VERSIONS) {
    let res: Awaited<ReturnType<RuntimeHttp['request']>>;
    try {
      res = await options.http.request({
        method: 'PUT',
        path: '/2022-07-01/telemetry',
        headers: { 'lambda-extension-identifier': options.extensionId },
        body: JSON.stringify({ schemaVersion, types, buffering, destination }),
        timeoutMs: options.timeoutMs ?? 5000,
      });
    } catch (err) {
      const detail = err instanceof RuntimeTransportError ? err.message : String(err);
      throw new TelemetrySubscribeError(
        `Telemetry API unreachable: ${detail}`,
        undefined,
        undefined,
        undefined,
        {
          cause: err,
        },
      );
    }
    const body = res.body.length > 512 ? res.body.slice(0, 512) + '…' : res.body;
    if (res.status === 200) {
      logger.info(
        `subscribed to telemetry (${types.join(', ')}) with schema ${schemaVersion}, buffering ${buffering.maxItems} items / ${buffering.maxBytes} bytes / ${buffering.timeoutMs} ms`,
      );
      return { status: 'subscribed', schemaVersion, buffering };
    }
    if (res.status === 202) {
      const { errorType } = parseErrorBody(res.body);
      // Says what still works and what does not: the user sees this line and an otherwise quiet backend.
      logger.warn(
        `Telemetry API answered 202${errorType ? ` ${errorType}` : ''} (as AWS's Runtime Interface Emulator does): telemetry not supported here.` +
          ' Not exported: invocation, init and restore spans, platform metrics, function and extension log lines.' +
          " Exported: the function's own OTLP traces, metrics and logs sent to the local receiver, unchanged (not joined to an invocation span).",
      );
      return { status: 'unsupported', httpStatus: res.status, body };
    }
    const { errorType, errorMessage } = parseErrorBody(res.body);
    const reason = errorMessage ?? body;
    if (res.status === 400) {
      refusals.push(`${schemaVersion}: ${errorType ? `${errorType}: ` : ''}${reason}`);
      logger.info(`Telemetry API refused schema ${schemaVersion} (HTTP 400): ${reason}`);
      continue;
    }
    throw new TelemetrySubscribeError(
      `telemetry subscribe failed (HTTP ${res.status})${errorType ? ` ${errorType}` : ''}: ${reason}`,
      res.status,
      body,
      errorType,
    );
  }
  throw new TelemetrySubscribeError(
    `telemetry subscribe refused for every schema version (HTTP 400): ${refusals.join('; ')}`,
    400,
    refusals.join('; '),
  );
}

function parseErrorBody(body: string): { errorType?: string; errorMessage?: string } {
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null) return {};
    const v = value as Record<string, unknown>;
    const out: { errorType?: string; errorMessage?: string } = {};
    if (typeof v['errorType'] === 'string') out.errorType = v['errorType'];
    if (typeof v['errorMessage'] === 'string') out.errorMessage = v['errorMessage'];
    return out;
  } catch {
    return {};
  }
}
