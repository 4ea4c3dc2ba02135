// The HTTP endpoint Lambda pushes telemetry to. It answers every push at once (a slow answer makes
// Lambda drop logs), then parses and hands the events on; exporting happens elsewhere.

import { type ExtensionLogger, log as defaultLog } from '../extension-log.js';
import { type MemoryBudget, PUSH_COST_PER_BYTE } from '../pipeline/memory-budget.js';
import { type BodyBudget, readBody } from '../platform/body-reader.js';
import { type Platform, platform } from '../platform/index.js';
import type { Answer, HttpServer, IncomingRequest } from '../platform/port.js';
import type { Scheduler } from '../model/time.js';
import type { TelemetryEvent } from './telemetry-events.js';
import { TelemetryParser } from './telemetry-parse.js';

export const SANDBOX_HOST = 'sandbox.localdomain';
export const LOOPBACK_HOST = '127.0.0.1';
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface ListenerStats {
  /** POSTs answered 200. */
  pushes: number;
  /** Pushes refused with 413 for exceeding maxBodyBytes. */
  tooLarge: number;
  /** Requests other than POST (405). */
  rejected: number;
  /** Requests whose body never completed (client went away). */
  aborted: number;
  /** Times the events callback threw. */
  callbackErrors: number;
  /**
   * Pushes answered 200 but dropped unread because the memory budget could not hold them (as
   * Lambda drops logs it cannot deliver: counted, never retried, never buffered).
   */
  droppedOverBudget: number;
  /** Bytes of those pushes. */
  droppedBytes: number;
  /** Records in those pushes, counted by their "type" keys while the body was discarded. */
  droppedRecords: number;
}

export interface TelemetryListenerOptions {
  /** Receives each push's parsed events, right after the push was answered. Should not block. */
  onEvents: (events: TelemetryEvent[]) => void;
  parser?: TelemetryParser;
  /** Largest accepted push body. Default 8 MiB (Lambda's own pushes are at most 1 MiB). */
  maxBodyBytes?: number;
  /** Bind address; by default what sandbox.localdomain resolves to, else 127.0.0.1. */
  host?: string;
  /** Bound on resolving sandbox.localdomain. Default 250 ms. */
  lookupTimeoutMs?: number;
  logger?: ExtensionLogger;
  /** The extension's memory budget: a push reserves its parsing cost before its body is read. */
  budget?: MemoryBudget;
  /** The runtime's HTTP server and memory hooks; default the one chosen at start-up. */
  platform?: Platform;
}

export interface TelemetryListener {
  readonly address: string;
  readonly port: number;
  readonly stats: ListenerStats;
  readonly parser: TelemetryParser;
  /** Stops accepting, lets in-flight pushes finish (at most drainTimeoutMs, default 500), then closes. */
  close(drainTimeoutMs?: number): Promise<void>;
}

type Lookup = (host: string) => Promise<{ address: string }>;

/** Reserved for a push of unknown length; the reservation grows as the body arrives. */
const UNKNOWN_PUSH_BYTES = 64 * 1024;

const TYPE_KEY = Buffer.from('"type"');

/**
 * Counts records in a body that is discarded, without holding it: every Telemetry API record has
 * one top-level "type" key. A key split across two chunks is still found.
 */
class RecordCounter {
  total = 0;
  /** The last bytes of the previous chunk (fewer than a whole key). */
  private tail = Buffer.alloc(0);

  count(piece: Uint8Array): void {
    const chunk = Buffer.isBuffer(piece)
      ? piece
      : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    // A key split across the boundary: look at the junction only, never copy the whole chunk.
    if (this.tail.length > 0) {
      const junction = Buffer.concat([this.tail, chunk.subarray(0, TYPE_KEY.length - 1)]);
      if (junction.indexOf(TYPE_KEY) !== -1) this.total++;
    }
    let at = chunk.indexOf(TYPE_KEY);
    while (at !== -1) {
      this.total++;
      at = chunk.indexOf(TYPE_KEY, at + TYPE_KEY.length);
    }
    this.tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - (TYPE_KEY.length - 1))));
  }
}

/**
 * The address sandbox.localdomain resolves to, or 127.0.0.1 where it does not resolve in time
 * (local runs). Nothing is cached: the answer is needed once per process.
 */
export async function resolveListenAddress(
  timeoutMs = 250,
  lookup: Lookup = (host) => platform().lookup(host),
  scheduler: Scheduler = LOOKUP_TIMERS,
): Promise<string> {
  let timer: { cancel(): void } | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = scheduler.setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    const found = await Promise.race([lookup(SANDBOX_HOST).catch(() => undefined), timeout]);
    return found?.address ?? LOOPBACK_HOST;
  } finally {
    timer?.cancel();
  }
}

/** Plain (ref'd) timers: nothing else may hold the process open while the address is looked up. */
const LOOKUP_TIMERS: Scheduler = {
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
};

export async function startTelemetryListener(options: TelemetryListenerOptions): Promise<TelemetryListener> {
  const logger = options.logger ?? defaultLog;
  const parser = options.parser ?? new TelemetryParser({ logger });
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const onEvents = options.onEvents;
  const runtime = options.platform ?? platform();
  const stats: ListenerStats = {
    pushes: 0,
    tooLarge: 0,
    rejected: 0,
    aborted: 0,
    callbackErrors: 0,
    droppedOverBudget: 0,
    droppedBytes: 0,
    droppedRecords: 0,
  };
  const budget = options.budget;
  // The parsing cost is reserved before the body is read; a push that does not fit is read and
  // discarded (its records counted, nothing held), then answered 200 like any other: a refusal would
  // only make Lambda send it again.
  const bodyBudget: BodyBudget | undefined = budget && {
    reserve: (bytes) => budget.tryReserve('telemetry_api', bytes),
    costPerByte: PUSH_COST_PER_BYTE,
    unknownBytes: UNKNOWN_PUSH_BYTES,
  };

  const deliver = (body: Buffer): void => {
    const events = parser.parseBody(body);
    if (events.length === 0) return;
    try {
      onEvents(events);
    } catch (err) {
      stats.callbackErrors++;
      logger.once('telemetry.listener.callback', 'error', 'telemetry consumer failed; batch lost', err);
    }
  };

  const tooLarge = (): Answer => {
    stats.tooLarge++;
    logger.once(
      'telemetry.listener.too-large',
      'warn',
      `telemetry push larger than ${maxBodyBytes} bytes refused with 413 (further ones counted, not logged)`,
    );
    return { status: 413, headers: { connection: 'close' } };
  };

  const handle = async (request: IncomingRequest): Promise<Answer> => {
    if (request.method !== 'POST') {
      stats.rejected++;
      return { status: 405, headers: { allow: 'POST' } };
    }
    const declared = request.body.declaredLength;
    if (declared !== undefined && declared > maxBodyBytes) return tooLarge();
    const records = new RecordCounter();
    const outcome = await readBody(request.body, {
      maxBytes: maxBodyBytes,
      budget: bodyBudget,
      overBudget: 'discard',
      onDiscarded: (chunk) => records.count(chunk),
      reclaim: (bytes) => runtime.reclaimDiscarded(bytes),
    });
    switch (outcome.kind) {
      case 'too-large':
        return tooLarge();
      case 'aborted':
        stats.aborted++;
        return { status: 400 };
      case 'discarded':
        stats.droppedOverBudget++;
        stats.droppedBytes += outcome.bytes;
        stats.droppedRecords += records.total;
        logger.once(
          'telemetry.listener.over-budget',
          'warn',
          `telemetry push of ${outcome.bytes} bytes (${records.total} records) dropped: the extension's memory budget is in use (further ones counted, not logged)`,
        );
        return { status: 200 };
      case 'read': {
        const { body, reservation } = outcome;
        // Answer first: Lambda's buffer waits on us, parsing and hand-over come after.
        return {
          status: 200,
          afterAnswer: () => {
            stats.pushes++;
            try {
              deliver(body);
            } finally {
              reservation?.release();
            }
          },
        };
      }
      default:
        return { status: 400 };
    }
  };

  const listenOn = (host: string): Promise<HttpServer> =>
    runtime.serve(handle, {
      host,
      port: 0,
      onError: (err) => logger.error('telemetry listener error', err),
    });

  let host = options.host ?? (await resolveListenAddress(options.lookupTimeoutMs));
  let server: HttpServer;
  try {
    server = await listenOn(host);
  } catch (err) {
    // sandbox.localdomain may resolve to an address this machine does not have (local DNS quirks).
    if (options.host !== undefined || host === LOOPBACK_HOST) throw err;
    logger.debug(`cannot listen on ${host} (${(err as Error).message}); using ${LOOPBACK_HOST}`);
    host = LOOPBACK_HOST;
    server = await listenOn(host);
  }
  const { port, address } = server;
  logger.debug(`telemetry listener on ${address}:${port}`);

  return {
    address,
    port,
    stats,
    parser,
    close: (drainTimeoutMs = 500) => server.close(drainTimeoutMs),
  };
}
