// AWS's own OTLP endpoints as one destination, `aws`, signed with SigV4 (sigv4-signer.ts):
//   traces  → X-Ray            https://xray.<region>.amazonaws.com/v1/traces          signing name xray
//   logs    → CloudWatch Logs  https://logs.<region>.amazonaws.com/v1/logs            signing name logs
//             (the log group and stream go in x-aws-log-group / x-aws-log-stream; both must exist)
//   metrics → CloudWatch       https://monitoring.<region>.amazonaws.com/v1/metrics   signing name monitoring
// All take OTLP/HTTP protobuf or JSON over HTTP/1.1, not gRPC. The region is the function's unless
// set; endpoints can be overridden (VPC endpoints, tests) and keep their signing name.

import { SIGNALS, type Signal } from '../model/chunk.js';
import {
  DEFAULT_BATCH_LIMITS,
  DEFAULT_TIMEOUT_MS,
  type DestinationConfig,
  type SignalTarget,
} from './destination.js';
import { isSelfExportLoop, parseEndpointUrl } from './endpoint-url.js';
import { credentialsFromEnv } from './sigv4-signer.js';

/** The `aws` block of the extension's settings (config file / LAMBDA_OTEL_AWS_*). */
export interface AwsOtlpSettings {
  /** Signals to send to AWS; none: the preset is off. */
  signals?: readonly Signal[];
  region?: string;
  logGroup?: string;
  logStream?: string;
  tracesEndpoint?: string;
  logsEndpoint?: string;
  metricsEndpoint?: string;
  timeoutMs?: number;
}

export const AWS_SIGNING_NAMES: Record<Signal, string> = {
  traces: 'xray',
  logs: 'logs',
  metrics: 'monitoring',
};

const HOSTS: Record<Signal, string> = { traces: 'xray', logs: 'logs', metrics: 'monitoring' };

/** Default log stream: one fixed name, so a log group needs only one stream created in advance. */
export const AWS_DEFAULT_LOG_STREAM = 'otel-lambda-extension';

/**
 * Request bounds under the endpoints' documented limits (1 MB per request for X-Ray and CloudWatch
 * Logs, 10,000 spans / log events per request); a margin is left for the KB-vs-KiB ambiguity.
 */
export const AWS_BATCH_LIMITS: Record<Signal, { maxItems: number; maxBytes: number }> = {
  traces: { maxItems: 5_000, maxBytes: 950_000 },
  logs: { maxItems: 5_000, maxBytes: 950_000 },
  metrics: { maxItems: 5_000, maxBytes: 950_000 },
};

export interface AwsOtlpResolution {
  destination: DestinationConfig | undefined;
  problems: string[];
}

type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function dnsSuffix(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}

/** Pure: problems are returned, not thrown, so every one is reported at once. */
export function resolveAwsOtlp(
  settings: AwsOtlpSettings | undefined,
  env: Env,
  localPorts: readonly number[],
): AwsOtlpResolution {
  const problems: string[] = [];
  const wanted = settings?.signals ?? [];
  if (wanted.length === 0) return { destination: undefined, problems };

  const region =
    nonEmpty(settings?.region) ?? nonEmpty(env['AWS_REGION']) ?? nonEmpty(env['AWS_DEFAULT_REGION']);
  if (region === undefined) {
    problems.push(
      'aws.signals is set but no region is known: set aws.region (LAMBDA_OTEL_AWS_REGION) or AWS_REGION',
    );
  }
  if (!credentialsFromEnv(env)) {
    problems.push(
      'aws.signals is set but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set: requests to AWS cannot be signed',
    );
  }
  const logGroup = nonEmpty(settings?.logGroup);
  if (wanted.includes('logs') && logGroup === undefined) {
    problems.push(
      'aws.signals includes logs but aws.log_group is not set: CloudWatch Logs needs an existing log group (and stream)',
    );
  }
  const timeoutMs = settings?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const overrides: Record<Signal, string | undefined> = {
    traces: settings?.tracesEndpoint,
    logs: settings?.logsEndpoint,
    metrics: settings?.metricsEndpoint,
  };

  const signals: Partial<Record<Signal, SignalTarget>> = {};
  for (const signal of wanted) {
    if (!SIGNALS.includes(signal)) {
      problems.push(`aws.signals contains ${JSON.stringify(signal)}; expected traces, metrics or logs`);
      continue;
    }
    if (region === undefined) continue;
    let url = `https://${HOSTS[signal]}.${region}.${dnsSuffix(region)}/v1/${signal}`;
    const override = nonEmpty(overrides[signal]);
    if (override !== undefined) {
      const parsed = parseEndpointUrl(override);
      const label = `aws.${signal}_endpoint`;
      if (typeof parsed === 'string') {
        problems.push(`${label} is invalid: ${parsed}`);
        continue;
      }
      if (isSelfExportLoop(parsed, localPorts)) {
        problems.push(`${label} points at this extension's own local receiver; that would loop`);
        continue;
      }
      url = parsed.href;
    }
    const headers: Record<string, string> = {};
    if (signal === 'logs' && logGroup !== undefined) {
      headers['x-aws-log-group'] = logGroup;
      headers['x-aws-log-stream'] = nonEmpty(settings?.logStream) ?? AWS_DEFAULT_LOG_STREAM;
    }
    signals[signal] = {
      url,
      headers,
      protocol: 'http/protobuf',
      compression: 'gzip',
      timeoutMs,
      batch: { ...(AWS_BATCH_LIMITS[signal] ?? DEFAULT_BATCH_LIMITS) },
      sigv4: { service: AWS_SIGNING_NAMES[signal], region: region },
    };
  }
  if (problems.length > 0) return { destination: undefined, problems };
  return { destination: { name: 'aws', signals }, problems };
}
