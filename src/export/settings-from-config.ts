// Adapter from the loaded extension configuration (src/config) to the exporter's own settings.
// Values that are only schema defaults are left out where a standard OTEL_EXPORTER_OTLP_* variable
// may still apply to them (protocol, compression, timeout, headers of the main destination), so the
// fallback rules of endpoint-config.ts see exactly what the user set.

import type { ExtensionConfig, LoadedConfig } from '../config/index.js';
import { datadogExtensionPresent } from './datadog.js';
import {
  type DestinationSettings,
  type ExportConfig,
  type ExporterSettings,
  resolveExportConfig,
} from './endpoint-config.js';

type Loaded = Pick<LoadedConfig, 'config' | 'sources'>;

export interface EnvironmentFacts {
  /** The function's extensions directory (/opt/extensions): Datadog's own extension is looked for there. */
  extensionsDir?: string;
}

export function exporterSettingsFromConfig(loaded: Loaded, facts: EnvironmentFacts = {}): ExporterSettings {
  const { config, sources } = loaded;
  const e = config.exporter;
  const userSet = (key: keyof typeof sources): boolean =>
    sources[key] !== undefined && sources[key] !== 'default';
  const settings: ExporterSettings = {
    endpoint: e.endpoint,
    tracesEndpoint: e.traces_endpoint,
    metricsEndpoint: e.metrics_endpoint,
    logsEndpoint: e.logs_endpoint,
    maxBatchItems: config.batch.max_items,
    maxBatchBytes: config.batch.max_bytes,
    maxConcurrentRequests: e.max_concurrency,
    queueMaxItems: config.queue.max_items_per_signal,
    queueMaxBytes: config.queue.max_bytes_per_signal,
    additionalDestinations: config.additional_exporters.map(
      (a): DestinationSettings => ({
        name: a.name,
        endpoint: a.endpoint,
        tracesEndpoint: a.traces_endpoint,
        metricsEndpoint: a.metrics_endpoint,
        logsEndpoint: a.logs_endpoint,
        protocol: a.protocol,
        compression: a.compression,
        headers: { ...a.headers },
        timeoutMs: a.timeout_ms ?? e.timeout_ms,
        signals: [...a.signals],
        maxBatchItems: config.batch.max_items,
        maxBatchBytes: config.batch.max_bytes,
      }),
    ),
    datadog: {
      ...datadogSettings(config.datadog),
      datadogExtension: facts.extensionsDir !== undefined && datadogExtensionPresent(facts.extensionsDir),
    },
    aws: {
      signals: [...config.aws.signals],
      region: config.aws.region,
      logGroup: config.aws.log_group,
      logStream: config.aws.log_stream,
      tracesEndpoint: config.aws.traces_endpoint,
      logsEndpoint: config.aws.logs_endpoint,
      metricsEndpoint: config.aws.metrics_endpoint,
      timeoutMs: e.timeout_ms,
    },
  };
  if (userSet('exporter.protocol')) settings.protocol = e.protocol;
  if (userSet('exporter.compression')) settings.compression = e.compression;
  if (userSet('exporter.timeout_ms')) settings.timeoutMs = e.timeout_ms;
  if (Object.keys(e.headers).length > 0) settings.headers = { ...e.headers };
  return settings;
}

function datadogSettings(d: ExtensionConfig['datadog']): ExporterSettings['datadog'] {
  return {
    enabled: d.enabled === 'auto' ? undefined : d.enabled === 'true',
    apiKey: d.api_key,
    apiKeySecretArn: d.api_key_secret_arn,
    site: d.site,
    tracesEndpoint: d.traces_endpoint,
    metricsEndpoint: d.metrics_endpoint,
    logsEndpoint: d.logs_endpoint,
  };
}

/** Resolves the export destinations of a loaded configuration; throws ExporterConfigError. */
export function exportConfigFromLoaded(
  loaded: Loaded,
  env: Readonly<Record<string, string | undefined>>,
  facts: EnvironmentFacts = {},
): ExportConfig {
  return resolveExportConfig(exporterSettingsFromConfig(loaded, facts), env, {
    localPorts: [loaded.config.receiver.port],
  });
}
