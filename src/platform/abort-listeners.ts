// Node warns (MaxListenersExceededWarning) past ten listeners on one AbortSignal, and a flush's
// attempts, waits and queued requests all listen to its deadline's signal. Bun does not warn, and
// loading node:events there costs start-up CPU and memory, so it is loaded on Node only.

import { createRequire } from 'node:module';

let setMaxListeners: ((n: number, target: EventTarget) => void) | undefined;

/** Lets any number of listeners wait on `signal` without a warning. */
export function allowManyListeners(signal: AbortSignal): void {
  if ((globalThis as { Bun?: unknown }).Bun !== undefined) return;
  setMaxListeners ??= (createRequire(import.meta.url)('node:events') as typeof import('node:events'))
    .setMaxListeners;
  setMaxListeners(0, signal);
}
