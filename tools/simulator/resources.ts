// Lambda's resource model for one execution environment: its processes (runtime, every extension,
// their children) share one cgroup with a CPU quota of memory ÷ 1,769 of one CPU and a memory limit
// equal to the function's memory; the freezer cgroup stops them between invocations. Where no cgroup
// can be made (not root, no controllers, a cgroup v2 leaf), the environment runs without limits and
// is frozen with SIGSTOP; `mechanism` and `reason` say which, and why.
import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CGROUP_ROOT,
  isV2,
  killDir,
  ownCgroups,
  pidsIn,
  read,
  removeDirWithRetry,
  removeStaleCgroups,
  thawDir,
  tryRead,
  V1_OPTIONAL,
  V1_REQUIRED,
} from './cgroup-fs.js';
import { nowMs, sleep } from './clock.js';

export { readFreezeState, removeStaleCgroups } from './cgroup-fs.js';

/** Lambda gives one full vCPU at 1,769 MB; CPU scales linearly with memory. */
export const MB_PER_VCPU = 1769;
const CFS_PERIOD_US = 100_000;
const NAME_PREFIX = 'lambda-sim-';

export type ResourceMechanism = 'cgroup-v1' | 'cgroup-v2' | 'signals';
export type ResourceControl = 'auto' | 'cgroup' | 'signals';

export interface ResourceSpec {
  memorySizeMB: number;
  /** The memory limit when it differs from memorySizeMB (tests' headroom); CPU follows memorySizeMB. */
  memoryLimitMB?: number;
  /** No CPU quota (the memory limit still applies). */
  unthrottled: boolean;
  /** 'auto': a cgroup when one can be made; 'cgroup': fail otherwise; 'signals': never. */
  control: ResourceControl;
}

/** What an environment runs under; reported in InitResult.resources and the CLI's output. */
export interface ResourceInfo {
  mechanism: ResourceMechanism;
  /** Share of one CPU the environment may use (null: unthrottled or no cgroup). */
  cpuShare: number | null;
  /** Memory limit in MB (null: no cgroup, nothing enforced). */
  memoryLimitMB: number | null;
  /** How freezing is done: the freezer cgroup, or SIGSTOP of every process group. */
  freezer: 'cgroup' | 'sigstop';
  /** The cgroup directories (one per controller in v1). */
  cgroups?: string[];
  /** Why no cgroup is in use. */
  reason?: string;
}

/** The CPU share Lambda gives a function of this size (of one CPU; above 1 on bigger functions). */
export function cpuShareOf(memorySizeMB: number): number {
  return memorySizeMB / MB_PER_VCPU;
}

interface Controllers {
  cpu?: string;
  memory: string;
  freezer?: string;
  cpuacct?: string;
  /** v2: the one directory holding every controller. */
  unified?: string;
}

// Every cgroup this process made and has not removed yet: removed (after killing what is left
// inside) if the process exits without closing its simulators.
const liveCgroups = new Set<EnvironmentResources>();
let hooksInstalled = false;
let staleSwept = false;

function installExitHook(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const resources of liveCgroups) resources.removeNow();
  });
}

let counter = 0;
let fallbackAnnounced = false;

/** The resources of one execution environment: made at init, removed when the environment goes. */
export class EnvironmentResources {
  readonly info: ResourceInfo;
  private readonly dirs: Controllers | null;
  private oomKillsAtStart = 0;
  private removed = false;

  private constructor(info: ResourceInfo, dirs: Controllers | null) {
    this.info = info;
    this.dirs = dirs;
    if (dirs) {
      this.oomKillsAtStart = this.oomKills();
      liveCgroups.add(this);
      installExitHook();
    }
  }

  /** Makes the environment's cgroup (or explains why there is none, under 'auto'). */
  static create(spec: ResourceSpec): EnvironmentResources {
    const signalsOnly = (reason: string): EnvironmentResources =>
      new EnvironmentResources(
        { mechanism: 'signals', cpuShare: null, memoryLimitMB: null, freezer: 'sigstop', reason },
        null,
      );
    if (spec.control === 'signals') return signalsOnly('resource control set to signals');
    if (!staleSwept) {
      staleSwept = true;
      removeStaleCgroups();
    }
    const name = `${NAME_PREFIX}${process.pid}-${++counter}`;
    try {
      return isV2() ? EnvironmentResources.createV2(spec, name) : EnvironmentResources.createV1(spec, name);
    } catch (error) {
      const reason = `no cgroup could be made: ${(error as Error).message}`;
      if (spec.control === 'cgroup') throw new Error(reason);
      // Said once per process: figures taken without the model must not pass for Lambda's.
      if (!fallbackAnnounced) {
        fallbackAnnounced = true;
        process.stderr.write(
          `lambda simulator: ${reason}; environments run without CPU or memory limits and are frozen with SIGSTOP\n`,
        );
      }
      return signalsOnly(reason);
    }
  }

  private static createV1(spec: ResourceSpec, name: string): EnvironmentResources {
    const own = ownCgroups();
    const made: string[] = [];
    const byHierarchy = new Map<string, string>();
    const dirs: Partial<Controllers> = {};
    try {
      for (const c of [...V1_REQUIRED, ...V1_OPTIONAL]) {
        const base = join(CGROUP_ROOT, c);
        const path = own.get(c);
        if (path === undefined || !existsSync(join(base, 'cgroup.procs'))) {
          if ((V1_REQUIRED as readonly string[]).includes(c))
            throw new Error(`no ${c} controller at ${base}`);
          continue;
        }
        // Nested under this process's own cgroup: whatever limits the caller runs under still hold.
        const dir = join(base, path, name);
        // Co-mounted controllers (cpu,cpuacct) share one hierarchy: one directory serves both.
        const real = realpathSync(base);
        const shared = byHierarchy.get(real);
        if (shared) {
          dirs[c] = shared;
          continue;
        }
        mkdirSync(dir);
        made.push(dir);
        byHierarchy.set(real, dir);
        dirs[c] = dir;
      }
      const memory = dirs.memory!;
      const limitMB = spec.memoryLimitMB ?? spec.memorySizeMB;
      const limitBytes = limitMB * 1024 * 1024;
      writeFileSync(join(memory, 'memory.limit_in_bytes'), String(limitBytes));
      // No swapping past the limit: Lambda has no swap.
      try {
        writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), String(limitBytes));
      } catch {
        // swap accounting is off: nothing to limit
      }
      try {
        writeFileSync(join(memory, 'memory.swappiness'), '0');
      } catch {
        // not settable in this hierarchy
      }
      const cpuShare = spec.unthrottled ? null : cpuShareOf(spec.memorySizeMB);
      if (cpuShare !== null) {
        writeFileSync(join(dirs.cpu!, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
        writeFileSync(
          join(dirs.cpu!, 'cpu.cfs_quota_us'),
          String(Math.max(1000, Math.round(CFS_PERIOD_US * cpuShare))),
        );
      }
      return new EnvironmentResources(
        {
          mechanism: 'cgroup-v1',
          cpuShare,
          memoryLimitMB: limitMB,
          freezer: 'cgroup',
          cgroups: made,
        },
        dirs as Controllers,
      );
    } catch (error) {
      for (const dir of made.reverse()) removeDirWithRetry(dir, 0);
      throw error;
    }
  }

  private static createV2(spec: ResourceSpec, name: string): EnvironmentResources {
    const path = ownCgroups().get('');
    if (path === undefined) throw new Error('no cgroup v2 path in /proc/self/cgroup');
    const parent = join(CGROUP_ROOT, path);
    const enabled = read(join(parent, 'cgroup.subtree_control'));
    const missing = ['cpu', 'memory'].filter((c) => !enabled.split(/\s+/).includes(c));
    // Fails when the parent holds processes itself (v2's no-internal-processes rule): fall back.
    if (missing.length > 0)
      writeFileSync(join(parent, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
    const dir = join(parent, name);
    mkdirSync(dir);
    try {
      const limitMB = spec.memoryLimitMB ?? spec.memorySizeMB;
      writeFileSync(join(dir, 'memory.max'), String(limitMB * 1024 * 1024));
      try {
        writeFileSync(join(dir, 'memory.swap.max'), '0');
      } catch {
        // no swap controller
      }
      const cpuShare = spec.unthrottled ? null : cpuShareOf(spec.memorySizeMB);
      if (cpuShare !== null) {
        const quota = Math.max(1000, Math.round(CFS_PERIOD_US * cpuShare));
        writeFileSync(join(dir, 'cpu.max'), `${quota} ${CFS_PERIOD_US}`);
      }
      return new EnvironmentResources(
        {
          mechanism: 'cgroup-v2',
          cpuShare,
          memoryLimitMB: limitMB,
          freezer: 'cgroup',
          cgroups: [dir],
        },
        { memory: dir, cpu: dir, freezer: dir, cpuacct: dir, unified: dir },
      );
    } catch (error) {
      removeDirWithRetry(dir, 0);
      throw error;
    }
  }

  get usesCgroup(): boolean {
    return this.dirs !== null;
  }

  /**
   * The command that runs `command args` inside the environment's cgroup: a shell writes its own
   * pid into every controller's cgroup.procs, then execs, so nothing runs outside it (not even the
   * first instruction of the process, nor a child forked at once).
   */
  wrap(command: string, args: string[]): { command: string; args: string[] } {
    if (!this.dirs) return { command, args };
    const files = [...new Set(Object.values(this.dirs) as string[])].map((d) => join(d, 'cgroup.procs'));
    const script =
      'for f in ' +
      files.map((f) => `'${f}'`).join(' ') +
      '; do echo $$ > "$f" || { echo "cannot enter cgroup $f" >&2; exit 125; }; done; exec "$@"';
    return { command: '/bin/sh', args: ['-c', script, 'lambda-sim', command, ...args] };
  }

  /** Stops every process of the environment (freezer cgroup) and resolves once they all are. */
  async freeze(): Promise<number[]> {
    const dir = this.dirs?.freezer;
    if (!dir) return [];
    if (this.dirs?.unified) {
      writeFileSync(join(dir, 'cgroup.freeze'), '1');
      for (let waited = 0; waited < 500; waited++) {
        if (/^frozen 1$/m.test(tryRead(join(dir, 'cgroup.events')) ?? '')) break;
        await sleep(1);
      }
    } else {
      writeFileSync(join(dir, 'freezer.state'), 'FROZEN');
      // FREEZING until every task has stopped; a busy machine can take a while.
      for (let waited = 0; waited < 500; waited++) {
        if ((tryRead(join(dir, 'freezer.state')) ?? '').trim() === 'FROZEN') break;
        await sleep(1);
      }
    }
    return pidsIn(dir);
  }

  thaw(): void {
    if (this.dirs?.freezer) thawDir(this.dirs.freezer);
  }

  /** True when the freezer holds the environment frozen. */
  get frozen(): boolean {
    const dir = this.dirs?.freezer;
    if (!dir) return false;
    if (this.dirs?.unified) return /^frozen 1$/m.test(tryRead(join(dir, 'cgroup.events')) ?? '');
    return (tryRead(join(dir, 'freezer.state')) ?? '').trim() === 'FROZEN';
  }

  /** Pids inside the environment's cgroup (every process and descendant). */
  pids(): number[] {
    return this.dirs ? pidsIn(this.dirs.memory) : [];
  }

  /** Peak memory charged to the environment (Lambda's Max Memory Used), bytes. */
  peakMemoryBytes(): number | undefined {
    const d = this.dirs;
    if (!d) return undefined;
    const text = d.unified
      ? tryRead(join(d.memory, 'memory.peak'))
      : tryRead(join(d.memory, 'memory.max_usage_in_bytes'));
    const value = Number(text?.trim());
    return Number.isFinite(value) && text !== undefined ? value : undefined;
  }

  /** Processes the kernel's OOM killer killed in this environment since it was made. */
  oomKills(): number {
    const d = this.dirs;
    if (!d) return 0;
    const text = d.unified
      ? tryRead(join(d.memory, 'memory.events'))
      : tryRead(join(d.memory, 'memory.oom_control'));
    return Number(/^oom_kill (\d+)$/m.exec(text ?? '')?.[1] ?? 0) - this.oomKillsAtStart;
  }

  /** CPU time used by the environment's processes so far, ms (cpuacct / cpu.stat). */
  cpuUsageMs(): number | undefined {
    const d = this.dirs;
    if (!d) return undefined;
    if (d.unified) {
      const usec = /^usage_usec (\d+)$/m.exec(tryRead(join(d.unified, 'cpu.stat')) ?? '')?.[1];
      return usec === undefined ? undefined : Number(usec) / 1000;
    }
    if (!d.cpuacct) return undefined;
    const ns = Number(tryRead(join(d.cpuacct, 'cpuacct.usage'))?.trim());
    return Number.isFinite(ns) ? ns / 1e6 : undefined;
  }

  /** CPU throttling so far: periods throttled and time throttled, ms. */
  throttling(): { throttledPeriods: number; throttledMs: number } | undefined {
    const d = this.dirs;
    if (!d?.cpu) return undefined;
    const stat = tryRead(join(d.cpu, 'cpu.stat')) ?? '';
    const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0);
    return d.unified
      ? { throttledPeriods: field('nr_throttled'), throttledMs: field('throttled_usec') / 1000 }
      : { throttledPeriods: field('nr_throttled'), throttledMs: field('throttled_time') / 1e6 };
  }

  /** SIGKILLs every process in the environment, thawing first so the kill is delivered. */
  killAll(): void {
    if (!this.dirs) return;
    this.thaw();
    killDir(this.dirs.memory);
  }

  /** Kills what is left and removes the cgroup, waiting up to `boundMs` for the tasks to leave. */
  async remove(boundMs = 2000): Promise<void> {
    if (!this.dirs || this.removed) return;
    this.killAll();
    const until = nowMs() + boundMs;
    while (this.pids().length > 0 && nowMs() < until) await sleep(5);
    this.removeNow();
  }

  /** Synchronous removal (process exit). */
  removeNow(): void {
    if (!this.dirs || this.removed) return;
    this.killAll();
    for (const dir of new Set(Object.values(this.dirs) as string[])) removeDirWithRetry(dir);
    this.removed = true;
    liveCgroups.delete(this);
  }
}
