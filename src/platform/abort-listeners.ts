// Node warns (MaxListenersExceededWarning) past ten listeners on one AbortSignal, and a flush's
// attempts, waits and queued requests all listen to its deadline's signal. Bun does not warn, and
// loading node:events there costs start-up CPU and memory, so it is loaded on Node only.

import { nodeBuiltin } from './node-builtin.js';

/** Lets any number of listeners wait on `signal` without a warning. */
export function allowManyListeners(signal: AbortSignal): void {
  if ((globalThis as { Bun?: unknown }).Bun !== undefined) return;
  nodeBuiltin('node:events').setMaxListeners(0, signal);
}
