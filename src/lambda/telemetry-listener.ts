// The HTTP endpoint Lambda pushes telemetry to. It answers every push at once (a slow answer makes
// Lambda drop logs), then parses and hands the events on; exporting happens elsewhere.

import { promises as dns } from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ExtensionLogger, log as defaultLog } from '../extension-log.js';
import { type MemoryBudget, PUSH_COST_PER_BYTE, type Reservation } from '../pipeline/memory-budget.js';
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

  count(chunk: Buffer): void {
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
  lookup: Lookup = (host) => dns.lookup(host),
): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, undefined);
  });
  try {
    const found = await Promise.race([lookup(SANDBOX_HOST).catch(() => undefined), timeout]);
    return found?.address ?? LOOPBACK_HOST;
  } finally {
    clearTimeout(timer);
  }
}

export async function startTelemetryListener(options: TelemetryListenerOptions): Promise<TelemetryListener> {
  const logger = options.logger ?? defaultLog;
  const parser = options.parser ?? new TelemetryParser({ logger });
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const onEvents = options.onEvents;
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
  let inFlight = 0;
  let drained: (() => void) | undefined;

  const finished = (): void => {
    inFlight--;
    if (inFlight === 0 && drained !== undefined) drained();
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

  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') {
      stats.rejected++;
      req.resume();
      res.writeHead(405, { allow: 'POST', 'content-length': 0 }).end();
      return;
    }
    const tooLarge = (): void => {
      stats.tooLarge++;
      logger.once(
        'telemetry.listener.too-large',
        'warn',
        `telemetry push larger than ${maxBodyBytes} bytes refused with 413 (further ones counted, not logged)`,
      );
      req.resume(); // discard the rest
      res.writeHead(413, { connection: 'close', 'content-length': 0 }).end();
    };
    const declared = Number(req.headers['content-length']);
    if (declared > maxBodyBytes) {
      tooLarge();
      return;
    }
    inFlight++;
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    // The parsing cost is reserved before the body is read; a push that does not fit is read and
    // discarded (its records counted), then answered 200 like any other: a refusal would only make
    // Lambda send it again.
    let reservation: Reservation | undefined;
    let discarding = false;
    const records = new RecordCounter();
    if (budget) {
      const announced = Number.isFinite(declared) && declared >= 0 ? declared : UNKNOWN_PUSH_BYTES;
      reservation = budget.tryReserve('telemetry_api', announced * PUSH_COST_PER_BYTE);
      discarding = reservation === undefined;
    }
    const settle = (): void => {
      reservation?.release();
      reservation = undefined;
      finished();
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBodyBytes) {
        done = true;
        chunks.length = 0;
        tooLarge();
        settle();
        return;
      }
      if (!discarding && reservation && !reservation.grow(size * PUSH_COST_PER_BYTE)) {
        discarding = true;
        for (const held of chunks) records.count(held);
        chunks.length = 0;
      }
      if (discarding) records.count(chunk);
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      // Answer first: Lambda's buffer waits on us, parsing and hand-over come after.
      res.writeHead(200, { 'content-length': 0 }).end();
      if (discarding) {
        stats.droppedOverBudget++;
        stats.droppedBytes += size;
        stats.droppedRecords += records.total;
        logger.once(
          'telemetry.listener.over-budget',
          'warn',
          `telemetry push of ${size} bytes (${records.total} records) dropped: the extension's memory budget is in use (further ones counted, not logged)`,
        );
        settle();
        return;
      }
      stats.pushes++;
      try {
        deliver(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
      } finally {
        settle();
      }
    });
    req.on('close', () => {
      if (done) return;
      done = true;
      stats.aborted++;
      settle();
    });
  });
  server.on('clientError', (_err, socket) => {
    // Malformed HTTP: answer 400 if the socket still can, never crash.
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  const listenOn = (host: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        server.off('listening', onListening);
        reject(err);
      };
      const onListening = (): void => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen({ host, port: 0 });
    });

  let host = options.host ?? (await resolveListenAddress(options.lookupTimeoutMs));
  try {
    await listenOn(host);
  } catch (err) {
    // sandbox.localdomain may resolve to an address this machine does not have (local DNS quirks).
    if (options.host !== undefined || host === LOOPBACK_HOST) throw err;
    logger.debug(`cannot listen on ${host} (${(err as Error).message}); using ${LOOPBACK_HOST}`);
    host = LOOPBACK_HOST;
    await listenOn(host);
  }
  server.on('error', (err) => logger.error('telemetry listener error', err));
  const { port, address } = server.address() as AddressInfo;
  logger.debug(`telemetry listener on ${address}:${port}`);

  let closing: Promise<void> | undefined;
  return {
    address,
    port,
    stats,
    parser,
    close(drainTimeoutMs = 500): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        let serverClosed = false;
        const done = (): void => {
          clearTimeout(force);
          clearTimeout(giveUp);
          resolve();
        };
        const maybeDone = (): void => {
          if (serverClosed && inFlight === 0) done();
        };
        server.close(() => {
          serverClosed = true;
          maybeDone();
        });
        // Idle keep-alive sockets would hold close() open; in-flight pushes may finish first.
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
        // Last resort should a socket never report its end.
        const giveUp = setTimeout(done, drainTimeoutMs + 200);
        drained = () => {
          clearTimeout(force);
          // The last answer is flushed on the next tick (the response corks its socket).
          setImmediate(() => {
            server.closeAllConnections();
            maybeDone();
          });
        };
        if (inFlight === 0) drained();
      });
      return closing;
    },
  };
}
