// PUT /2022-07-01/telemetry: subscription validation, as strict as Lambda's (schema versions, types,
// buffering ranges, HTTP destination), refused once init is over.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { header, parseJson, readBody, reply, replyError, type Route } from './http.js';
import type { TelemetryHub } from './telemetry-hub.js';
import type { Buffering, TelemetryCategory } from './telemetry-subscriber.js';
import type { Timeline } from './timeline.js';
import type { SimulatorMode, TelemetryApiOptions } from './types.js';

export const SCHEMA_VERSIONS = ['2022-07-01', '2022-12-13', '2025-01-29'] as const;
export const MANAGED_INSTANCES_SCHEMA = '2025-01-29';
const CATEGORIES: readonly TelemetryCategory[] = ['platform', 'function', 'extension'];

export const BUFFERING_LIMITS = {
  maxItems: { min: 1000, max: 10000, default: 1000 },
  maxBytes: { min: 262144, max: 1048576, default: 262144 },
  timeoutMs: { min: 25, max: 30000, default: 1000 },
} as const;

export interface Subscription {
  schemaVersion: string;
  types: TelemetryCategory[];
  buffering: Buffering;
  destination: URL;
}

export type ValidationResult =
  | { ok: true; subscription: Subscription }
  | { ok: false; errorType: string; errorMessage: string };

function invalid(errorMessage: string): ValidationResult {
  return { ok: false, errorType: 'ValidationError', errorMessage };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function validateSubscription(
  body: unknown,
  rules: { mode: SimulatorMode; refuseSchemaVersions?: string[]; strictDestinationHost?: boolean },
): ValidationResult {
  if (!isRecord(body)) return invalid('body must be a JSON object');

  const { schemaVersion } = body;
  if (typeof schemaVersion !== 'string' || !(SCHEMA_VERSIONS as readonly string[]).includes(schemaVersion)) {
    return invalid(
      `schemaVersion must be one of ${SCHEMA_VERSIONS.join(', ')}; got ${JSON.stringify(schemaVersion)}`,
    );
  }
  if (rules.refuseSchemaVersions?.includes(schemaVersion)) {
    return invalid(`schemaVersion ${schemaVersion} is not supported in this environment`);
  }
  if (rules.mode === 'managed-instances' && schemaVersion !== MANAGED_INSTANCES_SCHEMA) {
    return invalid(`Lambda Managed Instances require schemaVersion ${MANAGED_INSTANCES_SCHEMA}`);
  }

  const { types } = body;
  if (!Array.isArray(types) || types.length === 0) return invalid('types must be a non-empty array');
  for (const type of types) {
    if (!(CATEGORIES as readonly unknown[]).includes(type)) {
      return invalid(`types: unknown type ${JSON.stringify(type)} (valid: ${CATEGORIES.join(', ')})`);
    }
  }

  const buffering: Record<string, number> = {};
  if (body.buffering !== undefined && !isRecord(body.buffering))
    return invalid('buffering must be an object');
  const given = (body.buffering ?? {}) as Record<string, unknown>;
  for (const [key, limit] of Object.entries(BUFFERING_LIMITS)) {
    const value = given[key];
    if (value === undefined) {
      buffering[key] = limit.default;
      continue;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < limit.min || value > limit.max) {
      return invalid(
        `buffering.${key} must be an integer in [${limit.min}, ${limit.max}]; got ${JSON.stringify(value)}`,
      );
    }
    buffering[key] = value;
  }

  const { destination } = body;
  if (!isRecord(destination)) return invalid('destination must be an object {protocol, URI}');
  if (destination.protocol !== 'HTTP') {
    return invalid(`destination.protocol must be HTTP; got ${JSON.stringify(destination.protocol)}`);
  }
  let url: URL;
  try {
    url = new URL(String(destination.URI));
  } catch {
    return invalid(`destination.URI is not a URL: ${JSON.stringify(destination.URI)}`);
  }
  if (url.protocol !== 'http:') return invalid(`destination.URI must be http://; got ${url.protocol}`);
  if ((rules.strictDestinationHost ?? true) && url.hostname !== 'sandbox.localdomain') {
    return invalid(`destination.URI host must be sandbox.localdomain; got ${url.hostname}`);
  }

  return {
    ok: true,
    subscription: {
      schemaVersion,
      types: [...new Set(types as TelemetryCategory[])],
      buffering: buffering as unknown as Buffering,
      destination: url,
    },
  };
}

export interface TelemetryApiContext {
  mode: SimulatorMode;
  options: TelemetryApiOptions;
  timeline: Timeline;
  hub: TelemetryHub;
  /** The registered extension's name for an identifier. */
  extensionName(identifier: string | undefined): string | undefined;
  initOver(): boolean;
  onSubscribed(name: string, types: TelemetryCategory[]): void;
}

export class TelemetryApi implements Route {
  readonly prefix = '/2022-07-01/telemetry';

  constructor(private readonly ctx: TelemetryApiContext) {}

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path !== '' && path !== '/') {
      replyError(res, 404, 'InvalidRequest', `no Telemetry API at ${path}`);
      return;
    }
    if (req.method !== 'PUT') {
      replyError(res, 405, 'MethodNotAllowed', 'the Telemetry API takes PUT');
      return;
    }
    const { ctx } = this;
    const body = parseJson(await readBody(req, 1 << 20));
    const name = ctx.extensionName(header(req, 'Lambda-Extension-Identifier'));
    const refuse = (status: number, errorType: string, errorMessage: string) => {
      ctx.timeline.record({ kind: 'subscribe', name, status, error: `${errorType}: ${errorMessage}` });
      replyError(res, status, errorType, errorMessage);
    };

    if (!name) {
      refuse(403, 'Extension.UnknownExtensionIdentifier', 'missing or unknown Lambda-Extension-Identifier');
      return;
    }
    if (ctx.options.subscribeStatus !== undefined) {
      ctx.timeline.record({ kind: 'subscribe', name, status: ctx.options.subscribeStatus });
      if (ctx.options.subscribeStatus === 202) reply(res, 202, 'Telemetry API is not supported here');
      else
        replyError(res, ctx.options.subscribeStatus, 'ServiceException', 'simulated Telemetry API failure');
      return;
    }
    if (ctx.initOver()) {
      refuse(403, 'Telemetry.SubscriptionClosed', 'subscriptions are accepted during init only');
      return;
    }
    const result = validateSubscription(body, {
      mode: ctx.mode,
      refuseSchemaVersions: ctx.options.refuseSchemaVersions,
      strictDestinationHost: ctx.options.strictDestinationHost,
    });
    if (!result.ok) {
      refuse(400, result.errorType, result.errorMessage);
      return;
    }
    const { subscription } = result;
    const options = ctx.options;
    ctx.hub.subscribe({
      name,
      schemaVersion: subscription.schemaVersion,
      types: subscription.types,
      buffering: subscription.buffering,
      destination: subscription.destination,
      maxQueuedBytes: options.maxQueuedBytes ?? 4 * subscription.buffering.maxBytes,
      retryInitialMs: options.retryInitialMs ?? 50,
      retryMaxMs: options.retryMaxMs ?? 1000,
      deliveryTimeoutMs: options.deliveryTimeoutMs ?? 5000,
      keepDeliveredRecords: options.keepDeliveredRecords ?? true,
    });
    ctx.timeline.record({
      kind: 'subscribe',
      name,
      status: 200,
      schemaVersion: subscription.schemaVersion,
      types: subscription.types,
      buffering: subscription.buffering,
      destination: subscription.destination.href,
    });
    ctx.onSubscribed(name, subscription.types);
    reply(res, 200, 'OK', { 'content-type': 'text/plain' });
  }
}
