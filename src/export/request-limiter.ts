// Bounds in-flight export requests. One global limit caps sockets and memory; each destination also
// gets its own share (the limit divided by the number of destinations, at least one), so a
// destination whose requests hang until their timeout can never occupy the slots another one needs.

import PQueue from 'p-queue';

export class RequestLimiter {
  private readonly global: PQueue;
  private readonly perDestination = new Map<string, PQueue>();
  private readonly share: number;

  constructor(
    readonly maxConcurrent: number,
    destinationCount: number,
  ) {
    this.global = new PQueue({ concurrency: maxConcurrent });
    this.share = Math.max(1, Math.floor(maxConcurrent / Math.max(1, destinationCount)));
  }

  /** Runs `task` when both the destination's share and the global limit allow; rejects if `signal` aborts first. */
  run<T>(destination: string, task: () => Promise<T>, signal: AbortSignal): Promise<T> {
    let queue = this.perDestination.get(destination);
    if (!queue) {
      queue = new PQueue({ concurrency: this.share });
      this.perDestination.set(destination, queue);
    }
    return queue.add(() => this.global.add(task, { throwOnTimeout: true, signal }), {
      throwOnTimeout: true,
      signal,
    });
  }

  /** Requests running or waiting. */
  get inFlight(): number {
    return this.global.pending + this.global.size;
  }
}
