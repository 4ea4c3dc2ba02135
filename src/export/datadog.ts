// Datadog OTLP intake preset: an API key and a site configure a whole destination. Metrics and logs go
// to https://otlp.<site>, traces to https://trace.agent.<site> (overridable, as that host is the
// least settled part of the documentation). The intake accepts delta temporality only, so a
// configuration with this destination requires the metric converter to produce delta sums and
// histograms (ExportConfig.requiredMetricsTemporality). The resource attributes the intake keys on
// (cloud.provider, faas.id / cloud.resource_id, cloud.platform, aws.log.group.names) are set by the
// converters, not here.

import { SIGNALS, type Signal } from '../model/chunk.js';
import {
  type BatchLimits,
  DEFAULT_TIMEOUT_MS,
  type DestinationConfig,
  type SignalTarget,
} from './destination.js';
import { isSelfExportLoop, parseEndpointUrl } from './endpoint-url.js';
import { platform } from '../platform/index.js';
import { joinPath } from '../platform/paths.js';
import type { FileAccess } from '../platform/port.js';

/** Sites Datadog lists today; any site matching DATADOG_SITE_PATTERN is accepted, not only these. */
export const DATADOG_SITES = [
  'datadoghq.com',
  'us3.datadoghq.com',
  'us5.datadoghq.com',
  'datadoghq.eu',
  'ap1.datadoghq.com',
  'ap2.datadoghq.com',
  'ddog-gov.com',
] as const;

/** `datadoghq.<tld>`, `<region>.datadoghq.<tld>` or `ddog-gov.com`: new sites need no release. */
export const DATADOG_SITE_PATTERN = /^(?:[a-z0-9]+\.)?(?:datadoghq\.[a-z]{2,}|ddog-gov\.com)$/;

export const DATADOG_DEFAULT_SITE = 'datadoghq.com';

/** Where Datadog's own Lambda extension installs itself (its layer puts the binary there). */
export const DATADOG_EXTENSION_FILE = 'datadog-agent';

/**
 * Whether Datadog's own extension is in this function: `<extensions dir>/datadog-agent`, the
 * extensions directory being /opt/extensions (next to this extension's own directory under /opt).
 */
export function datadogExtensionPresent(
  extensionsDir: string,
  files: FileAccess = platform().files,
): Promise<boolean> {
  return files.exists(joinPath(extensionsDir, DATADOG_EXTENSION_FILE));
}

/** The metrics intake rejects cumulative sums and histograms. */
export const DATADOG_METRICS_TEMPORALITY = 'delta' as const;

/**
 * Per-request limits kept under the intake's (metrics 500 KB uncompressed, traces 3.2 MB); a margin
 * is left because the limits are documented loosely (KB vs KiB).
 */
export const DATADOG_BATCH_LIMITS: Record<Signal, BatchLimits> = {
  traces: { maxItems: 5_000, maxBytes: 3_000_000 },
  metrics: { maxItems: 5_000, maxBytes: 480_000 },
  logs: { maxItems: 1_000, maxBytes: 3_000_000 },
};

/** The `datadog` block of the extension's settings (config file / LAMBDA_OTEL_DATADOG_*). */
export interface DatadogSettings {
  /**
   * true / false: on / off. Unset (auto): on when an API key (or secret ARN) is configured, unless
   * Datadog's own extension is in the function (it sends the same data: no double sending).
   */
  enabled?: boolean;
  /** Whether Datadog's own extension was found in the function (see datadogExtensionPresent). */
  datadogExtension?: boolean;
  /** Overrides DD_API_KEY. */
  apiKey?: string;
  /** Overrides DD_SITE; one of DATADOG_SITES. */
  site?: string;
  /** Resolved into apiKey at start-up (src/secrets); here only to report a key that is still missing. */
  apiKeySecretArn?: string;
  tracesEndpoint?: string;
  metricsEndpoint?: string;
  logsEndpoint?: string;
  /** Default: all three. */
  signals?: readonly Signal[];
  timeoutMs?: number;
}

export interface DatadogNote {
  level: 'debug' | 'info' | 'warn';
  message: string;
}

export interface DatadogResolution {
  destination: DatadogDestinationConfig | undefined;
  problems: string[];
  notes: DatadogNote[];
}

export interface DatadogDestinationConfig extends DestinationConfig {
  /** Set when the destination receives metrics. */
  requiredMetricsTemporality: typeof DATADOG_METRICS_TEMPORALITY | undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/**
 * Resolves the preset from the settings block and DD_API_KEY / DD_SITE / DD_API_KEY_SECRET_ARN.
 * Pure: problems are returned, not thrown, so the caller can report every one of them at once.
 */
export function resolveDatadog(
  settings: DatadogSettings | undefined,
  env: Readonly<Record<string, string | undefined>>,
  localPorts: readonly number[],
): DatadogResolution {
  const problems: string[] = [];
  const notes: DatadogNote[] = [];
  const apiKey = nonEmpty(settings?.apiKey) ?? nonEmpty(env['DD_API_KEY']);
  const secretArn = nonEmpty(settings?.apiKeySecretArn) ?? nonEmpty(env['DD_API_KEY_SECRET_ARN']);
  const configured = apiKey !== undefined || secretArn !== undefined;
  if (settings?.enabled === false) return { destination: undefined, problems, notes };
  if (settings?.enabled === undefined) {
    if (!configured) return { destination: undefined, problems, notes };
    if (settings?.datadogExtension) {
      notes.push({
        level: 'info',
        message:
          "Datadog: Datadog's own Lambda extension is in this function and already sends to Datadog; the datadog preset stays off so nothing is sent twice (LAMBDA_OTEL_DATADOG_ENABLED=true sends anyway)",
      });
      return { destination: undefined, problems, notes };
    }
  } else if (settings.datadogExtension) {
    notes.push({
      level: 'warn',
      message:
        "Datadog: Datadog's own Lambda extension is in this function too; with LAMBDA_OTEL_DATADOG_ENABLED=true both send, so Datadog may receive the same invocations twice",
    });
  }

  if (apiKey === undefined) {
    problems.push(
      secretArn === undefined
        ? 'Datadog export is enabled but no API key is set: set DD_API_KEY, DD_API_KEY_SECRET_ARN or datadog.api_key'
        : 'Datadog: the API key in DD_API_KEY_SECRET_ARN was not read (see the secret lookup error)',
    );
  }

  const siteRaw = nonEmpty(settings?.site) ?? nonEmpty(env['DD_SITE']) ?? DATADOG_DEFAULT_SITE;
  const site = siteRaw
    .toLowerCase()
    .replace(/^https?:\/\//, '')
    .replace(/\/+$/, '');
  if (!DATADOG_SITE_PATTERN.test(site)) {
    const from = nonEmpty(settings?.site) !== undefined ? 'datadog.site' : 'DD_SITE';
    problems.push(
      `Datadog: ${from}=${JSON.stringify(siteRaw)} is not a Datadog site (datadoghq.<tld>, <region>.datadoghq.<tld> or ddog-gov.com, e.g. ${DATADOG_SITES.join(', ')})`,
    );
  }

  const timeoutMs = settings?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    problems.push(`Datadog: datadog.timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  }

  const defaults: Record<Signal, string> = {
    traces: `https://trace.agent.${site}/v1/traces`,
    metrics: `https://otlp.${site}/v1/metrics`,
    logs: `https://otlp.${site}/v1/logs`,
  };
  const overrides: Record<Signal, [string, string | undefined]> = {
    traces: ['datadog.tracesEndpoint', settings?.tracesEndpoint],
    metrics: ['datadog.metricsEndpoint', settings?.metricsEndpoint],
    logs: ['datadog.logsEndpoint', settings?.logsEndpoint],
  };

  const wanted = settings?.signals ?? SIGNALS;
  const signals: Partial<Record<Signal, SignalTarget>> = {};
  for (const signal of wanted) {
    if (!SIGNALS.includes(signal)) {
      problems.push(
        `Datadog: datadog.signals contains ${JSON.stringify(signal)}; expected traces, metrics or logs`,
      );
      continue;
    }
    const [label, override] = overrides[signal];
    let url = defaults[signal];
    if (nonEmpty(override) !== undefined) {
      const parsed = parseEndpointUrl(override as string);
      if (typeof parsed === 'string') {
        problems.push(`Datadog: ${label} is invalid: ${parsed}`);
        continue;
      }
      if (isSelfExportLoop(parsed, localPorts)) {
        problems.push(`Datadog: ${label} points at this extension's own local receiver; that would loop`);
        continue;
      }
      url = parsed.href;
    }
    const headers: Record<string, string> = { 'dd-api-key': apiKey ?? '' };
    // dd-protocol: otlp is what Datadog documents for the traces and logs intakes.
    if (signal !== 'metrics') headers['dd-protocol'] = 'otlp';
    if (signal === 'traces') headers['dd-otlp-source'] = 'serverless';
    signals[signal] = {
      url,
      headers,
      protocol: 'http/protobuf',
      compression: 'gzip',
      timeoutMs,
      batch: { ...DATADOG_BATCH_LIMITS[signal] },
    };
  }

  if (problems.length > 0) return { destination: undefined, problems, notes };
  return {
    destination: {
      name: 'datadog',
      signals,
      requiredMetricsTemporality: signals.metrics ? DATADOG_METRICS_TEMPORALITY : undefined,
    },
    problems,
    notes,
  };
}

/**
 * Datadog's unified service tagging as OpenTelemetry resource attributes, the way Datadog maps them
 * for OTLP: DD_SERVICE → service.name, DD_ENV → deployment.environment.name, DD_VERSION →
 * service.version, DD_TAGS (`key:value`, comma- or space-separated) → one attribute per tag.
 * Returned as the standard variables the resource reads. Where both are set, the Datadog variable
 * wins, as in Datadog's own SDKs (its documented precedence).
 */
export function datadogResourceEnv(env: Readonly<Record<string, string | undefined>>): {
  OTEL_SERVICE_NAME?: string;
  OTEL_RESOURCE_ATTRIBUTES?: string;
} {
  const attributes: [string, string][] = [];
  for (const tag of (env['DD_TAGS'] ?? '').split(/[\s,]+/)) {
    if (tag === '') continue;
    const colon = tag.indexOf(':');
    // A tag without a value is a key with an empty value in Datadog; as an attribute it is kept so.
    const key = colon < 0 ? tag : tag.slice(0, colon);
    if (key === '') continue;
    attributes.push([key, colon < 0 ? '' : tag.slice(colon + 1)]);
  }
  const ddEnv = nonEmpty(env['DD_ENV']);
  const version = nonEmpty(env['DD_VERSION']);
  const service = nonEmpty(env['DD_SERVICE']);
  if (ddEnv !== undefined) attributes.push(['deployment.environment.name', ddEnv]);
  if (version !== undefined) attributes.push(['service.version', version]);
  if (service !== undefined) attributes.push(['service.name', service]);
  const out: { OTEL_SERVICE_NAME?: string; OTEL_RESOURCE_ATTRIBUTES?: string } = {};
  if (attributes.length > 0) {
    const ours = attributes.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join(',');
    const user = nonEmpty(env['OTEL_RESOURCE_ATTRIBUTES']);
    // Later keys win when the resource parses the list: the Datadog ones come last.
    out.OTEL_RESOURCE_ATTRIBUTES = user === undefined ? ours : `${user},${ours}`;
  }
  if (service !== undefined) out.OTEL_SERVICE_NAME = service;
  return out;
}
