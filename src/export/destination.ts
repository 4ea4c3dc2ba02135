// What one export destination is, once configuration is resolved: per signal, where to POST, with
// which headers, encoding, compression, timeout and batch limits. Everything here is plain data so
// configuration resolution stays a pure function and tests can build destinations by hand.

import type { Signal } from '../model/chunk.js';
import type { SigV4Scope } from './sigv4-signer.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type OtlpCompression = 'gzip' | 'none';

/** Upper bounds for one request's content (uncompressed protobuf bytes, items). */
export interface BatchLimits {
  maxItems: number;
  maxBytes: number;
}

export interface SignalTarget {
  /** Full URL (…/v1/traces etc.). */
  url: string;
  /** Sent on every request. Values are secrets as far as logging is concerned. */
  headers: Record<string, string>;
  protocol: OtlpProtocol;
  compression: OtlpCompression;
  /** Per-attempt limit (OTEL_EXPORTER_OTLP_TIMEOUT semantics); the flush deadline may cut it shorter. */
  timeoutMs: number;
  batch: BatchLimits;
  /** Requests are signed with the function's AWS credentials for this service and region. */
  sigv4?: SigV4Scope;
}

export interface DestinationConfig {
  /** Unique, shown in logs and self-telemetry (never a URL or key). */
  name: string;
  /** Only the signals this destination receives are present. */
  signals: Partial<Record<Signal, SignalTarget>>;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** Generic OTLP backends accept large requests; these bounds keep memory and retry cost sane. */
export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxItems: 8_192, maxBytes: 4 * 1024 * 1024 };
