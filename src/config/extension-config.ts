// Every setting of the extension, declared once: type, range, default, environment variables,
// description, secrecy. The loader, the type of the loaded configuration, the reference page
// (docs/configuration.md) and the layer's template (layer/config.yaml) all derive from this.

import { SAMPLER_NAMES } from '../convert/sampler.js';
import { isSelfExportLoop, parseEndpointUrl } from '../export/endpoint-url.js';
import type { Signal } from '../model/chunk.js';
import { PROCESSORS_SECTION } from '../process/processors-config.js';
import {
  FLUSH_STRATEGY_FORMS,
  type FlushStrategy,
  formatFlushStrategy,
  parseFlushStrategy,
} from './flush-strategy.js';
import {
  bytes,
  custom,
  durationMs,
  type Fields,
  flag,
  fraction,
  headerMap,
  type Infer,
  integer,
  listOf,
  objectList,
  oneOf,
  type Section,
  section,
  text,
  url,
} from './schema.js';

const SIGNAL_NAMES = ['traces', 'metrics', 'logs'] as const satisfies readonly Signal[];
const PROTOCOLS = ['http/protobuf', 'http/json'] as const;
/** What a user who sets grpc (the SDKs' other protocol) needs to hear. */
const PROTOCOL_HINTS = { grpc: 'grpc is not supported; use http/protobuf (the default) or http/json' };
/** Destination names the extension gives itself; an additional exporter may not take them. */
const RESERVED_DESTINATION_NAMES: Record<string, string> = {
  default: 'the main exporter',
  datadog: 'the Datadog preset',
  aws: "AWS's own endpoints",
};
const COMPRESSIONS = ['gzip', 'none'] as const;

const MiB = 1024 * 1024;

const additionalExporter = section(
  'One more OTLP/HTTP destination; every signal it lists is sent there as well as to the main exporter.',
  {
    name: text({
      description: 'Names the destination in logs and self-telemetry; unique among additional exporters.',
      required: true,
      pattern: /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/,
      patternLabel: 'a name of letters, digits, _ and - (at most 63)',
      env: false,
    }),
    endpoint: url({
      description: 'Base URL; `/v1/traces`, `/v1/metrics`, `/v1/logs` are appended.',
      env: false,
    }),
    traces_endpoint: url({
      description: 'Full URL for traces, used as is (overrides `endpoint`).',
      env: false,
    }),
    metrics_endpoint: url({
      description: 'Full URL for metrics, used as is (overrides `endpoint`).',
      env: false,
    }),
    logs_endpoint: url({ description: 'Full URL for logs, used as is (overrides `endpoint`).', env: false }),
    protocol: oneOf(PROTOCOLS, {
      default: 'http/protobuf',
      description: 'OTLP encoding.',
      env: false,
      hints: PROTOCOL_HINTS,
    }),
    compression: oneOf(COMPRESSIONS, {
      default: 'gzip',
      description: 'Request body compression.',
      env: false,
    }),
    headers: headerMap({
      description: 'HTTP headers sent with every request (e.g. an API key).',
      secret: true,
      env: false,
    }),
    timeout_ms: durationMs({
      min: 100,
      max: 60_000,
      description: 'Per-request timeout; unset: `exporter.timeout_ms`.',
      env: false,
    }),
    signals: listOf(SIGNAL_NAMES, {
      default: SIGNAL_NAMES,
      minItems: 1,
      description: 'The signals sent to this destination.',
      env: false,
    }),
  },
  (item, report) => {
    for (const signal of item.signals) {
      if (item.endpoint === undefined && item[`${signal}_endpoint`] === undefined) {
        report(
          '',
          `no endpoint for ${signal}: set endpoint or ${signal}_endpoint, or remove ${signal} from signals`,
        );
      }
    }
  },
);

export const CONFIG_SCHEMA = section('The extension configuration.', {
  log_level: oneOf(['error', 'warn', 'info', 'debug'], {
    default: 'warn',
    description: "The extension's own log verbosity (its lines go to the function's log group).",
  }),
  strict_config: flag({
    default: false,
    description:
      'When true, an invalid configuration fails the init phase (`Extension.ConfigInvalid`). When false, the extension logs one error naming every problem and runs in pass-through mode: it follows the lifecycle and exports nothing.',
  }),

  telemetry_api: section('The Telemetry API subscription that brings platform events and log lines.', {
    buffering: section('How Lambda batches events before sending them to the extension.', {
      max_items: integer({
        min: 1000,
        max: 10_000,
        default: 1000,
        description: 'Events per batch before Lambda sends it.',
      }),
      max_bytes: bytes({
        min: 262_144,
        max: 1_048_576,
        default: 262_144,
        description: 'Bytes per batch before Lambda sends it.',
      }),
      timeout_ms: durationMs({
        min: 25,
        max: 30_000,
        default: 25,
        description:
          'Longest wait before Lambda sends a batch. Keep it low: events must arrive before the flush at the end of an invocation.',
      }),
    }),
    max_body_bytes: bytes({
      min: MiB,
      max: 64 * MiB,
      default: 8 * MiB,
      description: 'Largest request the Telemetry API listener accepts; larger ones are refused and counted.',
    }),
  }),

  exporter: section(
    'The main OTLP/HTTP destination. When no endpoint is set here, the exporter falls back to the standard `OTEL_EXPORTER_OTLP_*` variables unless they point at the local receiver (those are usually set for the function).',
    {
      endpoint: url({ description: 'Base URL; `/v1/traces`, `/v1/metrics`, `/v1/logs` are appended.' }),
      traces_endpoint: url({ description: 'Full URL for traces, used as is (overrides `endpoint`).' }),
      metrics_endpoint: url({ description: 'Full URL for metrics, used as is (overrides `endpoint`).' }),
      logs_endpoint: url({ description: 'Full URL for logs, used as is (overrides `endpoint`).' }),
      protocol: oneOf(PROTOCOLS, {
        default: 'http/protobuf',
        description: 'OTLP encoding.',
        hints: PROTOCOL_HINTS,
      }),
      compression: oneOf(COMPRESSIONS, { default: 'gzip', description: 'Request body compression.' }),
      headers: headerMap({
        description:
          'HTTP headers sent with every request. In the environment: `name=value,name2=value2`, values percent-encoded. Merged by name across sources.',
        secret: true,
      }),
      timeout_ms: durationMs({
        min: 100,
        max: 60_000,
        default: 10_000,
        env: 'LAMBDA_OTEL_EXPORTER_TIMEOUT',
        description:
          'Per-request timeout. Flushes are also bounded by the invocation and shutdown deadlines, whichever comes first.',
      }),
      max_concurrency: integer({
        min: 1,
        max: 32,
        default: 4,
        description: 'Export requests in flight at once, over all destinations.',
      }),
      signals: listOf(SIGNAL_NAMES, {
        default: SIGNAL_NAMES,
        description: 'The signals sent to this destination (an empty list sends none here).',
      }),
    },
  ),

  additional_exporters: objectList(additionalExporter, {
    description:
      'More OTLP/HTTP destinations (fan-out). Only in files; a list in a later file replaces an earlier one.',
    check(items, report) {
      const seen = new Set<string>();
      for (const item of items) {
        const reserved = Object.hasOwn(RESERVED_DESTINATION_NAMES, item.name)
          ? RESERVED_DESTINATION_NAMES[item.name]
          : undefined;
        if (reserved !== undefined) report(`the name "${item.name}" is reserved for ${reserved}`);
        else if (seen.has(item.name)) report(`the name "${item.name}" is used more than once`);
        seen.add(item.name);
      }
    },
  }),

  datadog: section(
    "Datadog's OTLP intake preset: on when an API key (or a secret holding one) is configured, unless Datadog's own Lambda extension is in the function. Metrics go to it with delta temporality.",
    {
      enabled: oneOf(['auto', 'true', 'false'], {
        env: ['LAMBDA_OTEL_DATADOG_ENABLED'],
        default: 'auto',
        description:
          "`auto`: on when an API key is configured and Datadog's own extension (/opt/extensions/datadog-agent) is not in the function, so nothing is sent twice. `true`: on even next to it. `false`: off.",
      }),
      api_key: text({
        env: ['LAMBDA_OTEL_DATADOG_API_KEY', 'DD_API_KEY'],
        secret: true,
        pattern: /^\S+$/,
        patternLabel: 'an API key without spaces',
        description:
          // biome-ignore lint/suspicious/noTemplateCurlyInString: names the reference syntax
          'Datadog API key; enables the preset. Prefer `api_key_secret_arn` or a `${secretsmanager:…}` reference to a plain value.',
      }),
      api_key_secret_arn: text({
        env: ['LAMBDA_OTEL_DATADOG_API_KEY_SECRET_ARN', 'DD_API_KEY_SECRET_ARN'],
        pattern: /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:\S+$/,
        patternLabel:
          'a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)',
        description:
          'Secrets Manager secret holding the API key as plain text, read once at start-up (within `secrets.timeout_ms`). Ignored when `api_key` is set.',
      }),
      site: text({
        env: ['LAMBDA_OTEL_DATADOG_SITE', 'DD_SITE'],
        default: 'datadoghq.com',
        pattern: /^(?:[a-z0-9]+\.)?(?:datadoghq\.[a-z]{2,}|ddog-gov\.com)$/i,
        patternLabel: 'a Datadog site such as datadoghq.com, us5.datadoghq.com, datadoghq.eu or ddog-gov.com',
        description:
          'Datadog site: any `datadoghq.<tld>` or `<region>.datadoghq.<tld>` site, or `ddog-gov.com` (datadoghq.com, us3.datadoghq.com, us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com, ap2.datadoghq.com, …).',
      }),
      traces_endpoint: url({
        description: 'Traces intake URL, used as is; default `https://trace.agent.<site>/v1/traces`.',
      }),
      metrics_endpoint: url({
        description: 'Metrics intake URL, used as is; default `https://otlp.<site>/v1/metrics`.',
      }),
      logs_endpoint: url({
        description: 'Logs intake URL, used as is; default `https://otlp.<site>/v1/logs`.',
      }),
    },
  ),

  aws: section(
    "AWS's own OTLP endpoints, signed with the function's credentials (SigV4): traces to X-Ray, logs to CloudWatch Logs, metrics to CloudWatch.",
    {
      signals: listOf(SIGNAL_NAMES, {
        default: [],
        description:
          'Signals sent to AWS (empty: off). traces → `https://xray.<region>.amazonaws.com/v1/traces`, logs → `https://logs.<region>.amazonaws.com/v1/logs` (needs `log_group`), metrics → `https://monitoring.<region>.amazonaws.com/v1/metrics`.',
      }),
      region: text({
        env: ['LAMBDA_OTEL_AWS_REGION', 'AWS_REGION'],
        pattern: /^[a-z]{2}(-[a-z]+)+-\d+$/,
        patternLabel: 'an AWS region such as us-east-1',
        description: "Region of the endpoints; default the function's region.",
      }),
      log_group: text({
        pattern: /^[.\-_/#A-Za-z0-9]{1,512}$/,
        patternLabel: 'a CloudWatch Logs log group name',
        description: 'Existing log group that receives the logs (header `x-aws-log-group`).',
      }),
      log_stream: text({
        pattern: /^[^:*]{1,512}$/,
        patternLabel: 'a CloudWatch Logs log stream name (no : or *)',
        description:
          'Existing log stream in `log_group` (header `x-aws-log-stream`); default `otel-lambda-extension`.',
      }),
      traces_endpoint: url({ description: 'Traces URL, used as is (e.g. a VPC endpoint).' }),
      logs_endpoint: url({ description: 'Logs URL, used as is (e.g. a VPC endpoint).' }),
      metrics_endpoint: url({ description: 'Metrics URL, used as is (e.g. a VPC endpoint).' }),
    },
  ),

  secrets: section(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: names the reference syntax
    'Secret references in settings: `${secretsmanager:<ARN or name>}`, `${secretsmanager:<ARN>#<json key>}`, `${ssm:/parameter/name}`, and `datadog.api_key_secret_arn`.',
    {
      timeout_ms: durationMs({
        min: 50,
        max: 9_000,
        default: 2_000,
        description:
          'Longest time start-up waits for all lookups together. A reference not resolved in time is a configuration error (pass-through mode), naming the reference, never a value.',
      }),
    },
  ),

  metrics: section('Metrics derived from platform events (FaaS semantic conventions).', {
    enabled: flag({ default: true, description: 'Produce and export platform metrics.' }),
    temporality: oneOf(['cumulative', 'delta', 'lowmemory'], {
      default: 'cumulative',
      standardEnv: ['OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE'],
      description:
        'Aggregation temporality. `lowmemory` means delta for counters and histograms (all platform metrics). When unset and the Datadog preset is enabled, delta.',
    }),
  }),

  traces: section('Spans derived from platform events.', {
    enabled: flag({ default: true, description: 'Produce and export invocation, init and restore spans.' }),
    sampler: oneOf(SAMPLER_NAMES, {
      default: 'always_on',
      description:
        "Which platform spans (invocation, init, restore) are exported, in OpenTelemetry's `OTEL_TRACES_SAMPLER` words (read as ours: the function's SDK keeps `OTEL_TRACES_SAMPLER`). `always_on` exports every invocation, whatever Lambda's trace header says (PassThrough tracing, Lambda's default, sends `Sampled=0` or no `Sampled` at all). `parentbased_*` follow the header's `Sampled=` flag and use the rest of the name when there is none: use them when the upstream decision is yours (X-Ray active tracing, or a caller that samples). `traceidratio` keeps a share of trace ids (`sampler_arg`), by the same rule as the OpenTelemetry SDKs. Whatever the sampler says, an invocation whose function spans arrive is exported with them. Metrics count every invocation.",
    }),
    sampler_arg: fraction({
      min: 0,
      max: 1,
      default: 1,
      description:
        'The ratio for `traceidratio` and `parentbased_traceidratio` (`OTEL_TRACES_SAMPLER_ARG`, read as ours).',
    }),
    export_unsampled: flag({
      default: false,
      description:
        'Older switch: when true, every platform span is exported whatever `sampler` says (the same as `always_on`).',
    }),
    correlation_hold_ms: durationMs({
      min: 0,
      max: 30_000,
      default: 0,
      description:
        "How long a finished invocation span waits for the function's own spans (to join their trace) before it is exported as is. 0: until the next flush, which at the end of an invocation comes after the grace for the function's exports; a longer hold can push the span past that flush into the next thaw.",
    }),
  }),

  logs: section('Log records from the Telemetry API.', {
    enabled: flag({ default: true, description: 'Export log records at all.' }),
    function: flag({ default: true, description: "Export the function's log lines." }),
    extension: flag({ default: true, description: "Export extensions' log lines." }),
    platform_lines: flag({
      default: false,
      description:
        'Also export platform events (start, report, …) as log records, like the START/END/REPORT lines.',
    }),
    max_record_bytes: bytes({
      min: 1024,
      max: MiB,
      default: 262_144,
      description: 'Longer log bodies are truncated (and counted).',
    }),
  }),

  flush: section('When queued telemetry is exported.', {
    strategy: custom<FlushStrategy>({
      default: { kind: 'adaptive' },
      typeLabel: FLUSH_STRATEGY_FORMS,
      expected: `one of ${FLUSH_STRATEGY_FORMS}`,
      parse: parseFlushStrategy,
      render: formatFlushStrategy,
      description:
        '`adaptive`: at the end of invocations while they are rare, on a timer when frequent. `end`: at the end of every invocation. `end,<ms>`: also every `<ms>` during long invocations. `periodic,<ms>`: at the end of an invocation once `<ms>` has passed since the last flush. `continuous,<ms>`: every `<ms>` in the background. `<ms>` is 100–900,000.',
    }),
    grace_ms: durationMs({
      min: 0,
      max: 2000,
      default: 100,
      description:
        "After the function's response, how long to wait for its own telemetry to reach the receiver before flushing.",
    }),
    max_staleness_ms: durationMs({
      min: 1000,
      max: 900_000,
      default: 30_000,
      description: 'Telemetry older than this is flushed at the next opportunity, whatever the strategy.',
    }),
    deadline_margin_ms: durationMs({
      min: 0,
      max: 1000,
      default: 200,
      description:
        'Kept free before an invocation or shutdown deadline: exports still running then are abandoned and retried later.',
    }),
    blocking_timeout_ms: durationMs({
      min: 50,
      max: 10_000,
      default: 2000,
      description:
        'Longest an end-of-invocation flush may hold the invocation (billed time) while the backend is healthy.',
    }),
    degraded_post_runtime_ms: durationMs({
      min: 0,
      max: 2000,
      default: 50,
      description:
        'While the backend throttles, fails or is slow, the most an invocation is held after the response: at most twice the healthy time and never more than this; the rest is sent in the background.',
    }),
    managed_instances_interval_ms: durationMs({
      min: 1000,
      max: 300_000,
      default: 10_000,
      description:
        'Flush timer on Lambda Managed Instances, where there is no per-invocation event to flush on.',
    }),
  }),

  queue: section(
    'Telemetry waiting for export, per signal; beyond these bounds the oldest is dropped and counted.',
    {
      max_items_per_signal: integer({
        min: 100,
        max: 1_000_000,
        default: 20_000,
        description: 'Spans, data points or log records queued per signal.',
      }),
      max_bytes_per_signal: bytes({
        min: MiB,
        max: 256 * MiB,
        default: 8 * MiB,
        description: 'Encoded bytes queued per signal.',
      }),
    },
  ),

  memory: section(
    "The extension's memory budget: request bodies being received, Telemetry API pushes being parsed and export queues together stay within it. Past it the function's SDK gets 503 with Retry-After, and Telemetry API pushes or the oldest queued telemetry are dropped and counted.",
    {
      budget_percent: integer({
        min: 1,
        max: 50,
        default: 10,
        description: 'Share of the function memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), in percent.',
      }),
      max_budget_bytes: bytes({
        min: 2 * MiB,
        max: 1024 * MiB,
        default: 64 * MiB,
        description: 'Upper bound of the budget, whatever the function memory.',
      }),
    },
  ),

  batch: section('The size of one export request.', {
    max_items: integer({ min: 1, max: 100_000, default: 5000, description: 'Items per request.' }),
    max_bytes: bytes({
      min: 65_536,
      max: 32 * MiB,
      default: 4 * MiB,
      description:
        'Encoded (uncompressed) bytes per request; destinations with lower limits lower it further.',
    }),
  }),

  receiver: section(
    "The local OTLP receiver for the function's own telemetry (OTLP/HTTP, and OTLP/gRPC unless turned off).",
    {
      enabled: flag({ default: true, description: 'Listen for OTLP from the function.' }),
      port: integer({
        min: 1,
        max: 65_535,
        default: 4318,
        description:
          'Port on 127.0.0.1. Point the function at it with `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:<port>`.',
      }),
      max_body_bytes: bytes({
        min: 65_536,
        max: 256 * MiB,
        default: 16 * MiB,
        description: 'Largest request body accepted (as sent, possibly compressed); larger ones get 413.',
      }),
      max_decompressed_bytes: bytes({
        min: 65_536,
        max: 1024 * MiB,
        default: 64 * MiB,
        description: 'Largest body after decompression; protects against compression bombs.',
      }),
      grpc: section(
        'OTLP/gRPC beside OTLP/HTTP (the default protocol of the Python and .NET SDKs), with the same limits and back-pressure.',
        {
          enabled: flag({
            default: true,
            description:
              "Listen for OTLP/gRPC too (unary Export calls, gzip). Bound just after registering, so it adds nothing to the extension's init.",
          }),
          port: integer({
            min: 1,
            max: 65_535,
            default: 4317,
            description:
              'Port on 127.0.0.1 and ::1. Point the function at it with `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:<port>` and `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`.',
          }),
        },
      ),
    },
  ),
  processors: PROCESSORS_SECTION,
});

export type ExtensionConfig = Infer<typeof CONFIG_SCHEMA>;
export type ExporterConfig = ExtensionConfig['exporter'];
export type AdditionalExporterConfig = ExtensionConfig['additional_exporters'][number];
export type DatadogConfig = ExtensionConfig['datadog'];
export type LogLevel = ExtensionConfig['log_level'];
export type MetricsTemporalityPreference = ExtensionConfig['metrics']['temporality'];

/** Dotted paths of every setting, e.g. `flush.grace_ms`. */
export type ConfigKey = LeafPaths<(typeof CONFIG_SCHEMA)['fields']>;

type LeafPaths<F extends Fields, P extends string = ''> = {
  [K in keyof F & string]: F[K] extends Section<infer G> ? LeafPaths<G, `${P}${K}.`> : `${P}${K}`;
}[keyof F & string];

/**
 * Whether the Datadog intake preset may be on: not switched off, and an API key or a secret holding
 * one is configured. (It still stays off in `auto` next to Datadog's own extension; see datadog.ts.)
 */
export function isDatadogEnabled(config: ExtensionConfig): boolean {
  if (config.datadog.enabled === 'false') return false;
  return config.datadog.api_key !== undefined || config.datadog.api_key_secret_arn !== undefined;
}

/**
 * The temporality of an instrument under a preference, as the OpenTelemetry specification defines
 * `lowmemory`: delta for synchronous counters and histograms, cumulative for the rest.
 */
export function temporalityFor(
  preference: MetricsTemporalityPreference,
  instrument:
    | 'counter'
    | 'histogram'
    | 'up_down_counter'
    | 'observable_counter'
    | 'observable_up_down_counter'
    | 'gauge',
): 'cumulative' | 'delta' {
  if (preference === 'cumulative') return 'cumulative';
  if (preference === 'delta')
    return instrument === 'up_down_counter' || instrument === 'observable_up_down_counter'
      ? 'cumulative'
      : 'delta';
  return instrument === 'counter' || instrument === 'histogram' ? 'delta' : 'cumulative';
}

/** Whether `endpoint` points at the extension's own receiver (exporting there would loop). */
export function pointsAtReceiver(endpoint: string, receiverPort: number): boolean {
  const parsed = parseEndpointUrl(endpoint);
  return typeof parsed !== 'string' && isSelfExportLoop(parsed, [receiverPort]);
}

/**
 * Rules that involve more than one key. `report` names the key the problem is attached to; `warn`
 * is for combinations that work but are probably not what was meant.
 */
export function checkAcrossKeys(
  config: ExtensionConfig,
  report: (key: ConfigKey, text: string) => void,
  warn: (key: ConfigKey, text: string) => void,
): void {
  if (config.batch.max_items > config.queue.max_items_per_signal) {
    report(
      'batch.max_items',
      `must not exceed queue.max_items_per_signal (${config.queue.max_items_per_signal}), got ${config.batch.max_items}`,
    );
  }
  if (config.batch.max_bytes > config.queue.max_bytes_per_signal) {
    report(
      'batch.max_bytes',
      `must not exceed queue.max_bytes_per_signal (${config.queue.max_bytes_per_signal}), got ${config.batch.max_bytes}`,
    );
  }
  if (config.receiver.max_decompressed_bytes < config.receiver.max_body_bytes) {
    report(
      'receiver.max_decompressed_bytes',
      `must be at least receiver.max_body_bytes (${config.receiver.max_body_bytes}), got ${config.receiver.max_decompressed_bytes}`,
    );
  }
  if (
    config.receiver.enabled &&
    config.receiver.grpc.enabled &&
    config.receiver.grpc.port === config.receiver.port
  ) {
    report('receiver.grpc.port', `must differ from receiver.port (${config.receiver.port})`);
  }
  if (config.receiver.enabled) {
    const port = config.receiver.port;
    const loop = (endpoint: string | undefined) => endpoint !== undefined && pointsAtReceiver(endpoint, port);
    for (const key of ['endpoint', 'traces_endpoint', 'metrics_endpoint', 'logs_endpoint'] as const) {
      if (loop(config.exporter[key])) {
        report(
          `exporter.${key}`,
          `points at the extension's own receiver (port ${port}); exporting there would loop. Set the backend's URL here, or move the receiver with receiver.port`,
        );
      }
    }
    for (const [i, item] of config.additional_exporters.entries()) {
      for (const key of ['endpoint', 'traces_endpoint', 'metrics_endpoint', 'logs_endpoint'] as const) {
        if (loop(item[key])) {
          report(
            'additional_exporters',
            `additional_exporters[${i}].${key} points at the extension's own receiver (port ${port}); exporting there would loop`,
          );
        }
      }
    }
  }
  if (config.datadog.api_key !== undefined && config.datadog.api_key_secret_arn !== undefined) {
    warn('datadog.api_key_secret_arn', 'ignored: datadog.api_key is set too, and the key itself wins');
  }
}
