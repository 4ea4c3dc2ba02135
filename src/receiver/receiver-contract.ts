// What the OTLP receiver's parts share: its options, limits, counters and the Refusal that ends a
// request in an error answer (an HTTP status for OTLP/HTTP, a gRPC code for OTLP/gRPC).

import type { ChunkSink, Signal } from '../model/chunk.js';
import type { Log } from '../model/log.js';
import type { MemoryBudget } from '../pipeline/memory-budget.js';
import type { Platform } from '../platform/port.js';
import type { ChunkLimits } from './received-chunks.js';
import type { SpanCorrelator } from './trace-correlation.js';

export interface ReceiverLimits extends ChunkLimits {
  /** Request body as received (before decompression). */
  maxBodyBytes: number;
  /** Request body after decompression. */
  maxDecompressedBytes: number;
}

/**
 * The OTLP specification recommends 20 MiB; a Lambda environment shares a small memory budget with
 * the function, and decoding a request takes several times its size, so the default is lower.
 */
export const DEFAULT_RECEIVER_LIMITS: Readonly<ReceiverLimits> = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxDecompressedBytes: 8 * 1024 * 1024,
  maxChunkBytes: 1024 * 1024,
  maxChunkItems: 2048,
};

export const DEFAULT_RECEIVER_PORT = 4318;
export const DEFAULT_RECEIVER_HOSTS: readonly string[] = ['127.0.0.1', '::1'];
export const FORCE_FLUSH_PATH = '/v1/flush';

/** Whether the pipeline takes a request now. */
export type Admission =
  | { accept: true }
  | {
      accept: false;
      /** 503 (default) when the pipeline is saturated, 429 when this sender sends too much. */
      status?: 429 | 503;
      /** Seconds; default 1. */
      retryAfterSeconds?: number;
      reason?: string;
    };

/** The OTLP/gRPC transport (port 4317): same intake, admission and limits as OTLP/HTTP. */
export interface GrpcTransportOptions {
  /** Default 4317; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 and ::1. */
  hosts?: readonly string[];
}

/** What a request's telemetry came to, once accepted. */
export interface AcceptedExport {
  rejected: number;
  reasons: readonly string[];
}

export interface OtlpReceiverOptions {
  sink: ChunkSink;
  /** OTLP/gRPC beside OTLP/HTTP, bound by startGrpc(); off when absent. */
  grpc?: GrpcTransportOptions;
  /** Default 4318; 0 picks a free port (the same one on every host). */
  port?: number;
  /** Default 127.0.0.1 and ::1; hosts after the first may fail to bind (no IPv6) without error. */
  hosts?: readonly string[];
  correlator?: SpanCorrelator;
  /** Asked before a request body is read. */
  admit?: (signal: Signal, contentLength: number | undefined) => Admission;
  /**
   * The extension's memory budget: each request reserves its estimated peak cost before its body is
   * read (503 + Retry-After when it does not fit now, 413 when it never could).
   */
  budget?: MemoryBudget;
  /** POST /v1/flush; the answer waits for it. */
  onForceFlush?: () => unknown;
  limits?: Partial<ReceiverLimits>;
  log?: Log;
  /** Items refused from an accepted request, by reason (malformed_protobuf, invalid_span_id, …). */
  onRejected?: (signal: Signal, reason: string, items: number) => void;
  now?: () => number;
  /** The runtime's HTTP server and compression; default the one chosen at start-up. */
  platform?: Platform;
}

export type RefusalReason =
  | 'not-found'
  | 'method-not-allowed'
  | 'unsupported-media-type'
  | 'too-large'
  | 'bad-data'
  | 'throttled'
  | 'over-budget'
  | 'aborted'
  | 'internal';

export interface SignalStats {
  requests: number;
  acceptedItems: number;
  rejectedItems: number;
  repairedItems: number;
  chunks: number;
  bytes: number;
}

export interface ReceiverStats {
  signals: Record<Signal, SignalStats>;
  refused: Record<RefusalReason, number>;
  forceFlushes: number;
  /** Requests that came over OTLP/gRPC (also counted per signal). */
  grpcRequests: number;
}

export type Encoding = 'protobuf' | 'json';

export const GRPC_INVALID_ARGUMENT = 3;
export const GRPC_NOT_FOUND = 5;
export const GRPC_RESOURCE_EXHAUSTED = 8;
export const GRPC_UNIMPLEMENTED = 12;
export const GRPC_INTERNAL = 13;
export const GRPC_UNAVAILABLE = 14;

/** A request that ends in an error answer (HTTP status for OTLP/HTTP, gRPC code for OTLP/gRPC). */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly grpcCode: number,
    readonly reason: RefusalReason,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** The refusal an exception means: itself, or a 500 (INTERNAL) for anything unexpected. */
  static of(err: unknown): Refusal {
    if (err instanceof Refusal) return err;
    return new Refusal(
      500,
      GRPC_INTERNAL,
      'internal',
      `internal error: ${(err as Error)?.message ?? String(err)}`,
    );
  }
}
