// Destination configs pointing at the fakes, and a log recorder, for pipeline and exporter tests.

import { SIGNALS, type Signal } from '../../../src/model/chunk.js';
import {
  DEFAULT_BATCH_LIMITS,
  type DestinationConfig,
  type SignalTarget,
} from '../../../src/export/destination.js';
import type { Log } from '../../../src/model/log.js';

export function destination(
  name: string,
  baseUrl: string,
  overrides: Partial<Omit<SignalTarget, 'url'>> & { signals?: readonly Signal[] } = {},
): DestinationConfig {
  const { signals = SIGNALS, ...target } = overrides;
  const out: DestinationConfig = { name, signals: {} };
  for (const signal of signals) {
    out.signals[signal] = {
      url: `${baseUrl}/v1/${signal}`,
      headers: {},
      protocol: 'http/protobuf',
      compression: 'gzip',
      timeoutMs: 2_000,
      batch: { ...DEFAULT_BATCH_LIMITS },
      ...target,
    };
  }
  return out;
}

export interface RecordedLog extends Log {
  lines: { level: string; message: string }[];
  text(): string;
}

export function recordingLog(): RecordedLog {
  const lines: { level: string; message: string }[] = [];
  const push = (level: string) => (message: string, detail?: unknown) => {
    lines.push({ level, message: detail === undefined ? message : `${message}: ${String(detail)}` });
  };
  return {
    lines,
    debug: push('debug'),
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
    text: () => lines.map((l) => `${l.level} ${l.message}`).join('\n'),
  };
}

/** Fast retries for tests. */
export const FAST_RETRIES = { backoff: { initialMs: 10, maxMs: 40 } };
