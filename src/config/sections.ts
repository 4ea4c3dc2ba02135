// Each component's section of the configuration, typed and already valid. The schema validates every
// value once (load.ts); what can only be judged with the environment or with other components (the
// export destinations' fallback to the standard variables and presets, the flush manager's combined
// tunables) is checked here, once, and reported as configuration errors like any other: the
// components take their sections as they are and never validate them again.

import { datadogExtensionPresent } from '../export/datadog.js';
import {
  type DestinationSettings,
  type ExportConfig,
  ExporterConfigError,
  type ExporterSettings,
  resolveExportConfig,
} from '../export/endpoint-config.js';
import { type FlushSettings, resolveFlushSettings } from '../flush/settings.js';
import { FlushConfigError, type FlushStrategy } from '../flush/strategy.js';
import { joinPath } from '../platform/paths.js';
import type { ExtensionConfig } from './extension-config.js';
import type { ConfigError, LoadedConfig } from './load.js';

type Loaded = Pick<LoadedConfig, 'config' | 'sources'>;
type Env = Readonly<Record<string, string | undefined>>;

export interface EnvironmentFacts {
  /** Datadog's own extension is in the function (see datadogExtensionPresent). */
  datadogExtension?: boolean;
}

/** The extensions directory next to the layer's own directory (/opt/<name>/ → /opt/extensions). */
export function extensionsDirOf(layerDir: string): string {
  return joinPath(layerDir, '..', 'extensions');
}

/** What the sections depend on in the function's environment, looked up in `extensionsDir` (/opt/extensions). */
export async function environmentFacts(extensionsDir: string): Promise<EnvironmentFacts> {
  return { datadogExtension: await datadogExtensionPresent(extensionsDir) };
}

export interface FlushSection {
  readonly strategy: FlushStrategy;
  readonly settings: FlushSettings;
}

/** What the components are built from. */
export interface ExtensionSections {
  readonly export: ExportConfig;
  readonly flush: FlushSection;
}

export type ResolvedSections =
  | { readonly ok: true; readonly sections: ExtensionSections; readonly errors: readonly [] }
  | { readonly ok: false; readonly errors: readonly ConfigError[] };

function configError(key: string, where: string, problem: string): ConfigError {
  return { key, where, problem, message: key ? `${key} (${where}): ${problem}` : `${where}: ${problem}` };
}

/**
 * The sections of a loaded configuration, or every configuration error: the loader's own, else those
 * found when the sections are put together. Never throws on bad input.
 */
export function resolveSections(
  loaded: LoadedConfig,
  env: Env,
  facts: EnvironmentFacts = {},
): ResolvedSections {
  if (loaded.errors.length > 0) return { ok: false, errors: loaded.errors };
  const errors: ConfigError[] = [];
  let exportConfig: ExportConfig | undefined;
  try {
    exportConfig = exportConfigFromLoaded(loaded, env, facts);
  } catch (err) {
    if (!(err instanceof ExporterConfigError)) throw err;
    for (const issue of err.issues) {
      // A problem with a standard variable names it already; settings are named by their key.
      if (issue.key.startsWith('env ')) {
        errors.push({ key: '', where: issue.key, problem: issue.problem, message: issue.problem });
      } else {
        errors.push(configError(issue.key, whereOf(loaded, issue.key), issue.problem));
      }
    }
  }
  let flush: FlushSection | undefined;
  try {
    flush = flushSection(loaded.config);
  } catch (err) {
    if (!(err instanceof FlushConfigError)) throw err;
    errors.push(configError('flush', whereOf(loaded, 'flush'), err.message));
  }
  if (errors.length > 0 || exportConfig === undefined || flush === undefined) return { ok: false, errors };
  return { ok: true, sections: { export: exportConfig, flush }, errors: [] };
}

/** Where a section's values came from: the sources of its keys, or `default`. */
function whereOf(loaded: Loaded, section: string): string {
  const sources = new Set<string>();
  for (const [key, source] of Object.entries(loaded.sources)) {
    if (key.startsWith(`${section}.`) && source !== 'default') sources.add(source);
  }
  return sources.size === 0 ? 'default' : [...sources].join(', ');
}

/** The flush manager's tunables from the `flush` section; throws FlushConfigError when they do not combine. */
export function flushSection(config: ExtensionConfig): FlushSection {
  const f = config.flush;
  return {
    strategy: f.strategy,
    settings: resolveFlushSettings({
      graceMaxMs: f.grace_ms,
      maxStalenessMs: f.max_staleness_ms,
      deadlineMarginMs: f.deadline_margin_ms,
      managedInstancesIntervalMs: f.managed_instances_interval_ms,
      blockingFlushTimeoutMs: f.blocking_timeout_ms,
      degradedPostRuntimeMaxMs: f.degraded_post_runtime_ms,
    }),
  };
}

/**
 * The exporter's settings. Values that are only schema defaults are left out where a standard
 * OTEL_EXPORTER_OTLP_* variable may still apply to them (protocol, compression, timeout, headers of
 * the main destination), so the exporter's fallback rules see exactly what the user set.
 */
export function exporterSettingsFromConfig(loaded: Loaded, facts: EnvironmentFacts = {}): ExporterSettings {
  const { config, sources } = loaded;
  const e = config.exporter;
  const userSet = (key: keyof typeof sources): boolean =>
    sources[key] !== undefined && sources[key] !== 'default';
  const batch = { maxBatchItems: config.batch.max_items, maxBatchBytes: config.batch.max_bytes };
  const settings: ExporterSettings = {
    endpoint: e.endpoint,
    tracesEndpoint: e.traces_endpoint,
    metricsEndpoint: e.metrics_endpoint,
    logsEndpoint: e.logs_endpoint,
    signals: e.signals,
    ...batch,
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
        headers: a.headers,
        timeoutMs: a.timeout_ms ?? e.timeout_ms,
        signals: a.signals,
        ...batch,
      }),
    ),
    datadog: {
      ...datadogSettings(config.datadog),
      datadogExtension: facts.datadogExtension === true,
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
  if (Object.keys(e.headers).length > 0) settings.headers = e.headers;
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
export function exportConfigFromLoaded(loaded: Loaded, env: Env, facts: EnvironmentFacts = {}): ExportConfig {
  return resolveExportConfig(exporterSettingsFromConfig(loaded, facts), env, {
    localPorts: [loaded.config.receiver.port],
  });
}
