// The extension's configuration: load it once at start-up, before registering.

export { describeConfig } from './describe.js';
export {
  type AdditionalExporterConfig,
  type ConfigKey,
  type DatadogConfig,
  type ExporterConfig,
  type ExtensionConfig,
  isDatadogEnabled,
  type LogLevel,
  type MetricsTemporalityPreference,
  pointsAtReceiver,
  temporalityFor,
} from './extension-config.js';
export { type FlushStrategy, formatFlushStrategy, parseFlushStrategy } from './flush-strategy.js';
export {
  CONFIG_FILE_ENV,
  type ConfigError,
  DEFAULT_LAYER_DIR,
  DEFAULT_TASK_ROOT,
  FUNCTION_CONFIG_FILES,
  formatConfigErrors,
  type LoadConfigOptions,
  type LoadedConfig,
  loadConfig,
} from './load.js';
export type { ConfigSource } from './schema.js';
export {
  type EnvironmentFacts,
  environmentFacts,
  type ExtensionSections,
  exportConfigFromLoaded,
  exporterSettingsFromConfig,
  extensionsDirOf,
  type FlushSection,
  flushSection,
  type ResolvedSections,
  resolveSections,
} from './sections.js';
