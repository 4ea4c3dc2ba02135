// Resolves where telemetry goes: a pure function from the extension's exporter settings and the
// environment to per-signal destination configs.
//
// Sources, strongest first:
//  1. The extension's own settings (config file, LAMBDA_OTEL_EXPORTER_* variables), given as an
//     ExporterSettings object that src/config has already validated (src/config/sections.ts builds
//     it): values, ranges, URLs and loops into our own receiver are not checked again here.
//  2. The standard OTEL_EXPORTER_OTLP_* variables. The function shares them, and its SDK is usually
//     pointed at our local receiver through them: an endpoint from there that reaches one of our own
//     local ports is ignored (debug note). The standard headers/protocol/compression/timeout describe
//     the same hop as the standard endpoint, so they apply only to a signal whose endpoint came from
//     the standard variables.
//  3. The Datadog preset (datadog.ts) and additional destinations (fan-out) add destinations of their
//     own.
// What only the environment can make wrong (grpc in the standard variables, a Datadog key that was
// not read, AWS settings without region or credentials) is collected and thrown together as one
// ExporterConfigError, each problem with the setting it concerns.

import { SIGNALS, type Signal } from '../model/chunk.js';
import { type AwsOtlpSettings, resolveAwsOtlp } from './aws-otlp.js';
import { type DatadogSettings, resolveDatadog } from './datadog.js';
import {
  DEFAULT_BATCH_LIMITS,
  DEFAULT_TIMEOUT_MS,
  type DestinationConfig,
  type OtlpCompression,
  type OtlpProtocol,
  type SignalTarget,
} from './destination.js';
import { isSelfExportLoop, parseEndpointUrl, signalUrlFromBase } from './endpoint-url.js';

/** One destination as configured (also the shape of each additional destination); already valid. */
export interface DestinationSettings {
  /** Shown in logs and self-telemetry; default "default" for the primary, "additional-<n>" otherwise. */
  name?: string;
  /** Base URL; /v1/<signal> is appended. */
  endpoint?: string;
  /** Full per-signal URLs, used as is; they win over `endpoint`. */
  tracesEndpoint?: string;
  metricsEndpoint?: string;
  logsEndpoint?: string;
  headers?: Readonly<Record<string, string>>;
  /** Default http/protobuf. */
  protocol?: OtlpProtocol;
  /** Default gzip. */
  compression?: OtlpCompression;
  /** Per-attempt timeout in ms (default 10,000). */
  timeoutMs?: number;
  /** Which signals this destination receives; default all with an endpoint. */
  signals?: readonly Signal[];
  /** Per-request limits (default 8,192 items, 4 MiB). */
  maxBatchItems?: number;
  maxBatchBytes?: number;
}

/** The extension's own exporter settings; every field optional. */
export interface ExporterSettings extends DestinationSettings {
  /** Fan-out: more destinations, each with its own endpoint(s), headers, protocol, compression, signals. */
  additionalDestinations?: DestinationSettings[];
  /** Datadog OTLP intake preset. */
  datadog?: DatadogSettings;
  /** AWS's own OTLP endpoints (X-Ray, CloudWatch Logs, CloudWatch metrics), SigV4-signed. */
  aws?: AwsOtlpSettings;
  /** In-flight requests across all destinations (default 4). */
  maxConcurrentRequests?: number;
  /** Bounds of each destination's per-signal queue (defaults 8 MiB, 20,000 items). */
  queueMaxBytes?: number;
  queueMaxItems?: number;
}

export interface ResolveOptions {
  /** Ports of our own local listeners (the OTLP receiver, …); endpoints reaching them would loop. */
  localPorts: readonly number[];
}

export interface ConfigNote {
  level: 'debug' | 'info' | 'warn';
  message: string;
}

export interface QueueLimits {
  maxBytes: number;
  maxItems: number;
}

export interface ExportConfig {
  destinations: DestinationConfig[];
  /** Set when a destination accepts only delta metrics (Datadog): the metric converter must use it. */
  requiredMetricsTemporality: 'delta' | undefined;
  maxConcurrentRequests: number;
  queue: QueueLimits;
  /** For the extension's log; never contain header values. */
  notes: ConfigNote[];
}

export const DEFAULT_QUEUE_LIMITS: QueueLimits = { maxBytes: 8 * 1024 * 1024, maxItems: 20_000 };
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 4;

/** A problem with the export settings, and the setting (dotted key, or an environment variable) it concerns. */
export interface ExportProblem {
  readonly key: string;
  readonly problem: string;
}

export class ExporterConfigError extends Error {
  readonly problems: readonly string[];
  constructor(readonly issues: readonly ExportProblem[]) {
    const problems = issues.map((i) => i.problem);
    super(`invalid exporter configuration: ${problems.join('; ')}`);
    this.name = 'ExporterConfigError';
    this.problems = problems;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const SIGNAL_ENV: Record<Signal, string> = { traces: 'TRACES', metrics: 'METRICS', logs: 'LOGS' };
const SIGNAL_FIELD: Record<Signal, 'tracesEndpoint' | 'metricsEndpoint' | 'logsEndpoint'> = {
  traces: 'tracesEndpoint',
  metrics: 'metricsEndpoint',
  logs: 'logsEndpoint',
};

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v === undefined || v === '' ? undefined : v;
}

// RFC 9110 token characters for header names; values must be one line of visible Latin-1.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Parses the OTLP header list `k=v,k2=v2` (values URL-encoded). Never echoes values in errors: they
 * are usually credentials.
 */
export function parseOtlpHeaders(text: string): { headers: Record<string, string>; errors: string[] } {
  const headers: Record<string, string> = {};
  const errors: string[] = [];
  let index = 0;
  for (const part of text.split(',')) {
    index++;
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (eq < 0 || name === '') {
      errors.push(`entry ${index} is not key=value`);
      continue;
    }
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      errors.push(`the value of ${name} is not valid URL encoding`);
      continue;
    }
    const problem = headerProblem(name, value);
    if (problem) errors.push(problem);
    else headers[name.toLowerCase()] = value;
  }
  return { headers, errors };
}

function headerProblem(name: string, value: string): string | undefined {
  if (!HEADER_NAME.test(name)) return `${JSON.stringify(name.slice(0, 40))} is not a valid header name`;
  if (!HEADER_VALUE.test(value)) return `the value of ${name} contains characters not allowed in a header`;
  return undefined;
}

interface Collector {
  problems: ExportProblem[];
  notes: ConfigNote[];
}

function parseProtocol(value: string): OtlpProtocol | 'grpc' | undefined {
  const v = value.trim().toLowerCase();
  if (v === 'http/protobuf' || v === 'http/json' || v === 'grpc') return v;
  return undefined;
}

function parseCompression(value: string): OtlpCompression | undefined {
  const v = value.trim().toLowerCase();
  return v === 'gzip' || v === 'none' ? v : undefined;
}

const GRPC_UNSUPPORTED = 'grpc is not supported; use http/protobuf (the default) or http/json';

/** Header names are case-insensitive: lower-cased, so later sources override earlier ones. */
function ownHeaders(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

function batchLimits(s: DestinationSettings) {
  return {
    maxItems: s.maxBatchItems ?? DEFAULT_BATCH_LIMITS.maxItems,
    maxBytes: s.maxBatchBytes ?? DEFAULT_BATCH_LIMITS.maxBytes,
  };
}

/** An endpoint of our own settings, already validated as an http(s) URL. */
function ownEndpoint(value: string): URL {
  const url = parseEndpointUrl(value);
  if (typeof url === 'string') throw new TypeError(`export settings hold an unchecked endpoint: ${url}`);
  return url;
}

/** An endpoint from the standard variables: unusable values are ignored with a note. */
function envEndpoint(name: string, env: Env, opts: ResolveOptions, c: Collector): URL | undefined {
  const value = nonEmpty(env[name]);
  if (value === undefined) return undefined;
  const url = parseEndpointUrl(value);
  if (typeof url === 'string') {
    c.notes.push({ level: 'warn', message: `${name} ignored: ${url}` });
    return undefined;
  }
  if (isSelfExportLoop(url, opts.localPorts)) {
    c.notes.push({
      level: 'debug',
      message: `${name} points at this extension's local receiver (the function's SDK setting); not used for export`,
    });
    return undefined;
  }
  return url;
}

/** Transport settings from the standard variables for one signal (signal-specific over generic). */
function envTransport(signal: Signal, env: Env, c: Collector) {
  const read = (what: string): [string, string] | undefined => {
    const specific = `OTEL_EXPORTER_OTLP_${SIGNAL_ENV[signal]}_${what}`;
    const generic = `OTEL_EXPORTER_OTLP_${what}`;
    const s = nonEmpty(env[specific]);
    if (s !== undefined) return [specific, s];
    const g = nonEmpty(env[generic]);
    return g !== undefined ? [generic, g] : undefined;
  };
  let headers: Record<string, string> = {};
  // Generic headers first, signal-specific ones override per key.
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', `OTEL_EXPORTER_OTLP_${SIGNAL_ENV[signal]}_HEADERS`]) {
    const text = nonEmpty(env[name]);
    if (text === undefined) continue;
    const parsed = parseOtlpHeaders(text);
    headers = { ...headers, ...parsed.headers };
    for (const e of parsed.errors) c.notes.push({ level: 'warn', message: `${name}: ${e}; entry ignored` });
  }
  let protocol: OtlpProtocol | undefined;
  const p = read('PROTOCOL');
  if (p) {
    const v = parseProtocol(p[1]);
    if (v === 'grpc') c.problems.push({ key: `env ${p[0]}`, problem: `${p[0]}=grpc: ${GRPC_UNSUPPORTED}` });
    else if (v === undefined)
      c.notes.push({
        level: 'warn',
        message: `${p[0]}=${JSON.stringify(p[1])} unknown; using http/protobuf`,
      });
    else protocol = v;
  }
  let compression: OtlpCompression | undefined;
  const z = read('COMPRESSION');
  if (z) {
    compression = parseCompression(z[1]);
    if (compression === undefined) {
      c.notes.push({ level: 'warn', message: `${z[0]}=${JSON.stringify(z[1])} unknown; using gzip` });
    }
  }
  let timeoutMs: number | undefined;
  const t = read('TIMEOUT');
  if (t) {
    const n = Number(t[1]);
    if (Number.isFinite(n) && n > 0) timeoutMs = n;
    else
      c.notes.push({
        level: 'warn',
        message: `${t[0]}=${JSON.stringify(t[1])} is not a positive number of ms; using ${DEFAULT_TIMEOUT_MS}`,
      });
  }
  return { headers, protocol, compression, timeoutMs };
}

function primaryDestination(settings: ExporterSettings, env: Env, opts: ResolveOptions, c: Collector) {
  const own = {
    headers: ownHeaders(settings.headers),
    protocol: settings.protocol,
    compression: settings.compression,
    timeoutMs: settings.timeoutMs,
  };
  const batch = batchLimits(settings);
  const signals: Partial<Record<Signal, SignalTarget>> = {};
  let ignoredEnvTransport = false;
  const ownBaseText = nonEmpty(settings.endpoint);
  const ownBase = ownBaseText !== undefined ? ownEndpoint(ownBaseText) : undefined;
  for (const signal of settings.signals ?? SIGNALS) {
    let url: string | undefined;
    let fromEnv = false;
    const ownSignal = nonEmpty(settings[SIGNAL_FIELD[signal]]);
    if (ownSignal !== undefined) {
      url = ownEndpoint(ownSignal).href;
    } else if (ownBase !== undefined) {
      url = signalUrlFromBase(ownBase, signal);
    } else {
      const specific = envEndpoint(`OTEL_EXPORTER_OTLP_${SIGNAL_ENV[signal]}_ENDPOINT`, env, opts, c);
      if (specific) url = specific.href;
      else {
        const base = envEndpoint('OTEL_EXPORTER_OTLP_ENDPOINT', env, opts, c);
        if (base) url = signalUrlFromBase(base, signal);
      }
      fromEnv = url !== undefined;
    }
    if (url === undefined) continue;
    let target: SignalTarget;
    if (fromEnv) {
      const std = envTransport(signal, env, c);
      target = {
        url,
        headers: { ...std.headers, ...own.headers },
        protocol: own.protocol ?? std.protocol ?? 'http/protobuf',
        compression: own.compression ?? std.compression ?? 'gzip',
        timeoutMs: own.timeoutMs ?? std.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        batch: { ...batch },
      };
    } else {
      ignoredEnvTransport = true;
      target = {
        url,
        headers: { ...own.headers },
        protocol: own.protocol ?? 'http/protobuf',
        compression: own.compression ?? 'gzip',
        timeoutMs: own.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        batch: { ...batch },
      };
    }
    signals[signal] = target;
  }
  if (ignoredEnvTransport) {
    const set = ['HEADERS', 'PROTOCOL', 'COMPRESSION', 'TIMEOUT']
      .map((w) => `OTEL_EXPORTER_OTLP_${w}`)
      .filter((name) => nonEmpty(env[name]) !== undefined);
    if (set.length > 0) {
      c.notes.push({
        level: 'info',
        message: `${set.join(', ')} not applied where the endpoint comes from LAMBDA_OTEL_EXPORTER_*: they belong to the standard endpoint (use LAMBDA_OTEL_EXPORTER_* equivalents)`,
      });
    }
  }
  if (Object.keys(signals).length === 0) return undefined;
  return { name: nonEmpty(settings.name) ?? 'default', signals } satisfies DestinationConfig;
}

function additionalDestination(s: DestinationSettings, index: number): DestinationConfig | undefined {
  const headers = ownHeaders(s.headers);
  const batch = batchLimits(s);
  const signals: Partial<Record<Signal, SignalTarget>> = {};
  const baseText = nonEmpty(s.endpoint);
  const base = baseText !== undefined ? ownEndpoint(baseText) : undefined;
  for (const signal of s.signals ?? SIGNALS) {
    const specific = nonEmpty(s[SIGNAL_FIELD[signal]]);
    const url =
      specific !== undefined
        ? ownEndpoint(specific).href
        : base !== undefined
          ? signalUrlFromBase(base, signal)
          : undefined;
    if (url === undefined) continue;
    signals[signal] = {
      url,
      headers: { ...headers },
      protocol: s.protocol ?? 'http/protobuf',
      compression: s.compression ?? 'gzip',
      timeoutMs: s.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      batch: { ...batch },
    };
  }
  if (Object.keys(signals).length === 0) return undefined;
  return { name: nonEmpty(s.name) ?? `additional-${index + 1}`, signals };
}

/**
 * Resolves all destinations. Throws ExporterConfigError listing every problem found; returns notes
 * (ignored standard variables, …) for the caller to log.
 */
export function resolveExportConfig(
  settings: ExporterSettings | undefined,
  env: Env,
  opts: ResolveOptions,
): ExportConfig {
  const s = settings ?? {};
  const c: Collector = { problems: [], notes: [] };
  const destinations: DestinationConfig[] = [];

  const primary = primaryDestination(s, env, opts, c);
  if (primary) destinations.push(primary);
  (s.additionalDestinations ?? []).forEach((d, i) => {
    const dest = additionalDestination(d, i);
    if (dest) destinations.push(dest);
  });

  let requiredMetricsTemporality: 'delta' | undefined;
  const dd = resolveDatadog(s.datadog, env, opts.localPorts);
  for (const problem of dd.problems) c.problems.push({ key: 'datadog', problem });
  for (const n of dd.notes) c.notes.push(typeof n === 'string' ? { level: 'warn', message: n } : n);
  if (dd.destination) {
    requiredMetricsTemporality = dd.destination.requiredMetricsTemporality;
    destinations.push({ name: dd.destination.name, signals: dd.destination.signals });
  }
  const aws = resolveAwsOtlp(s.aws, env, opts.localPorts);
  for (const problem of aws.problems) c.problems.push({ key: 'aws', problem });
  if (aws.destination) destinations.push(aws.destination);

  const maxConcurrentRequests = s.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS;
  const queue = {
    maxBytes: s.queueMaxBytes ?? DEFAULT_QUEUE_LIMITS.maxBytes,
    maxItems: s.queueMaxItems ?? DEFAULT_QUEUE_LIMITS.maxItems,
  };

  if (c.problems.length > 0) throw new ExporterConfigError(c.problems);
  if (destinations.length === 0) {
    c.notes.push({
      level: 'warn',
      message:
        'no export destination configured (set LAMBDA_OTEL_EXPORTER_ENDPOINT, a non-local OTEL_EXPORTER_OTLP_ENDPOINT, or DD_API_KEY); telemetry is dropped and counted',
    });
  }
  return { destinations, requiredMetricsTemporality, maxConcurrentRequests, queue, notes: c.notes };
}
