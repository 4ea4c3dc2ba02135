// Datadog OTLP intake preset: an API key and a site configure a whole destination. Metrics and logs go
// to https://otlp.<site>, traces to https://trace.agent.<site> (overridable, as that host is the
// least settled part of the documentation). The intake accepts delta temporality only, so a
// configuration with this destination requires the metric converter to produce delta sums and
// histograms (ExportConfig.requiredMetricsTemporality). The resource attributes the intake keys on
// (cloud.provider, faas.id / cloud.resource_id, cloud.platform, aws.log.group.names) are set by the
// converters, not here.

import { SIGNALS, type Signal } from '../pipeline/chunk.js';
import {
  type BatchLimits,
  DEFAULT_TIMEOUT_MS,
  type DestinationConfig,
  type SignalTarget,
} from './destination.js';
import { isSelfExportLoop, parseEndpointUrl } from './endpoint-url.js';

export const DATADOG_SITES = [
  'datadoghq.com',
  'us3.datadoghq.com',
  'us5.datadoghq.com',
  'datadoghq.eu',
  'ap1.datadoghq.com',
  'ap2.datadoghq.com',
  'ddog-gov.com',
] as const;

export type DatadogSite = (typeof DATADOG_SITES)[number];

export const DATADOG_DEFAULT_SITE: DatadogSite = 'datadoghq.com';

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
  /** Default: on when an API key (or secret ARN) is configured here or in DD_API_KEY. */
  enabled?: boolean;
  /** Overrides DD_API_KEY. */
  apiKey?: string;
  /** Overrides DD_SITE; one of DATADOG_SITES. */
  site?: string;
  /** Not supported yet; reported, never silently ignored. */
  apiKeySecretArn?: string;
  tracesEndpoint?: string;
  metricsEndpoint?: string;
  logsEndpoint?: string;
  /** Default: all three. */
  signals?: readonly Signal[];
  timeoutMs?: number;
}

export interface DatadogResolution {
  destination: DatadogDestinationConfig | undefined;
  problems: string[];
  notes: string[];
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
  const notes: string[] = [];
  const apiKey = nonEmpty(settings?.apiKey) ?? nonEmpty(env['DD_API_KEY']);
  const secretArn = nonEmpty(settings?.apiKeySecretArn) ?? nonEmpty(env['DD_API_KEY_SECRET_ARN']);
  const enabled = settings?.enabled ?? (apiKey !== undefined || secretArn !== undefined);
  if (!enabled) return { destination: undefined, problems, notes };

  if (secretArn !== undefined) {
    if (apiKey === undefined) {
      problems.push(
        'Datadog: DD_API_KEY_SECRET_ARN is not supported yet; set the API key itself in DD_API_KEY (or datadog.apiKey)',
      );
    } else {
      notes.push('Datadog: DD_API_KEY_SECRET_ARN is not supported yet and is ignored; using DD_API_KEY');
    }
  } else if (apiKey === undefined) {
    problems.push('Datadog export is enabled but no API key is set: set DD_API_KEY (or datadog.apiKey)');
  }

  const siteRaw = nonEmpty(settings?.site) ?? nonEmpty(env['DD_SITE']) ?? DATADOG_DEFAULT_SITE;
  const site = siteRaw
    .toLowerCase()
    .replace(/^https?:\/\//, '')
    .replace(/\/+$/, '');
  if (!(DATADOG_SITES as readonly string[]).includes(site)) {
    const from = nonEmpty(settings?.site) !== undefined ? 'datadog.site' : 'DD_SITE';
    problems.push(
      `Datadog: ${from}=${JSON.stringify(siteRaw)} is not a known site (one of ${DATADOG_SITES.join(', ')})`,
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
