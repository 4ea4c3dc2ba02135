// The port on Bun: Bun.serve, Bun.gzipSync, Bun's garbage collector hint; streaming decompression
// through Bun's node:zlib.

import { zlibDecompressor } from '../node/compression.js';
import type { Platform } from '../port.js';
import { systemClock, systemScheduler } from '../system-time.js';
import type { BunApi } from './bun-api.js';
import { FetchApiClient } from './api-client.js';
import { FetchExportClient } from './export-client.js';
import { bunFiles } from './files.js';
import { serveBun } from './http-server.js';
import { listenBunTcp } from './tcp-listener.js';

/** Discarded bytes, across every request, between two collection hints. */
const RECLAIM_EVERY_BYTES = 2 * 1024 * 1024;
let discarded = 0;

export function bunPlatform(bun: BunApi): Platform {
  return {
    name: 'bun',
    clock: systemClock,
    scheduler: systemScheduler,
    serve: (handler, options) => serveBun(bun, handler, options),
    listenTcp: (options, onConnection) => listenBunTcp(bun, options, onConnection),
    exportClient: (options) => new FetchExportClient(options),
    apiClient: (options) => new FetchApiClient(options),
    compression: {
      // Inline at every size: Bun has no thread-pool gzip, and its native one is fast.
      gzip: async (data, level) => bun.gzipSync(data, { level, memLevel: 8 }),
      decompressor: zlibDecompressor,
    },
    lookup: async (host) => {
      const [first] = await bun.dns.lookup(host);
      if (first === undefined) throw new Error(`${host} resolves to no address`);
      return first;
    },
    reclaimDiscarded: (bytes) => {
      discarded += bytes;
      if (discarded < RECLAIM_EVERY_BYTES) return;
      discarded = 0;
      bun.gc(false);
    },
    files: bunFiles(bun),
  };
}
