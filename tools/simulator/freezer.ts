// Real freezing between invocations, as Lambda does it: the environment's freezer cgroup when it has
// one, else SIGSTOP of every process group (SIGCONT on the next event). Timers inside the processes
// stop firing, sockets stay open but unanswered, exactly the conditions a Lambda extension must
// survive.
import { nowMs, sleep } from './clock.js';
import { type ManagedProcess, readProcessState, signalGroup } from './processes.js';
import type { EnvironmentResources } from './resources.js';
import type { Timeline } from './timeline.js';

export interface FrozenInterval {
  fromMs: number;
  toMs: number;
}

export class Freezer {
  private frozenPids: number[] = [];
  private frozenCgroup: EnvironmentResources | null = null;
  private frozenAtMs = 0;
  readonly intervals: FrozenInterval[] = [];

  constructor(private readonly timeline: Timeline) {}

  get isFrozen(): boolean {
    return this.frozenPids.length > 0;
  }

  /** Stops every group and resolves once the kernel reports each leader stopped (state T). */
  async freeze(processes: ManagedProcess[], resources?: EnvironmentResources): Promise<void> {
    if (this.isFrozen) return;
    if (resources?.usesCgroup) {
      this.frozenAtMs = nowMs();
      this.frozenPids = await resources.freeze();
      if (this.frozenPids.length === 0) {
        resources.thaw();
        return;
      }
      this.frozenCgroup = resources;
      this.timeline.record({
        kind: 'freeze',
        pids: [...this.frozenPids],
        via: 'cgroup',
        atMs: this.frozenAtMs,
      });
      return;
    }
    const pids = processes.filter((p) => !p.exit && p.pid).map((p) => p.pid!);
    this.frozenPids = pids.filter((pid) => signalGroup(pid, 'SIGSTOP'));
    if (this.frozenPids.length === 0) return;
    this.frozenAtMs = nowMs();
    // SIGSTOP takes effect when the target next runs; on a busy machine that can take a while.
    for (let waited = 0; waited < 500; waited++) {
      if (this.frozenPids.every((pid) => (readProcessState(pid) ?? 'T') === 'T')) break;
      await sleep(1);
    }
    this.timeline.record({
      kind: 'freeze',
      pids: [...this.frozenPids],
      via: 'sigstop',
      atMs: this.frozenAtMs,
    });
  }

  /** Resumes every frozen group; returns how long they were stopped. */
  thaw(): number {
    if (!this.isFrozen) return 0;
    if (this.frozenCgroup) this.frozenCgroup.thaw();
    else for (const pid of this.frozenPids) signalGroup(pid, 'SIGCONT');
    this.frozenCgroup = null;
    const atMs = nowMs();
    const frozenMs = atMs - this.frozenAtMs;
    this.intervals.push({ fromMs: this.frozenAtMs, toMs: atMs });
    this.timeline.record({ kind: 'thaw', pids: this.frozenPids, frozenMs, atMs });
    this.frozenPids = [];
    return frozenMs;
  }
}
