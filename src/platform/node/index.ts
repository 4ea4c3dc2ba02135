// The port on Node.js: node:http, node:zlib, the process's clock and unref'd timers.

import { nodeBuiltin } from '../node-builtin.js';
import type { Platform } from '../port.js';
import { systemClock, systemScheduler } from '../system-time.js';
import { nodeCompression } from './compression.js';
import { NodeApiClient } from './api-client.js';
import { HttpConnectionPool } from './export-client.js';
import { nodeFiles } from './files.js';
import { reclaimDiscarded } from './reclaim.js';

export function nodePlatform(): Platform {
  return {
    name: 'node',
    clock: systemClock,
    scheduler: systemScheduler,
    async serve(handler, options) {
      const { serveNode } = await import('./http-server.js');
      return serveNode(handler, options, reclaimDiscarded);
    },
    async listenTcp(options, onConnection) {
      const { listenNodeTcp } = await import('./tcp-listener.js');
      return listenNodeTcp(options, onConnection);
    },
    exportClient: (options) => new HttpConnectionPool(options),
    apiClient: (options) => new NodeApiClient(options),
    compression: nodeCompression,
    lookup: (host) => nodeBuiltin('node:dns').promises.lookup(host),
    reclaimDiscarded,
    files: nodeFiles,
  };
}
