// The cgroup filesystem as the resource model uses it: which hierarchy (v1 or v2) and which cgroup
// this process is in, reading its files, thawing, emptying and removing a cgroup directory, cleaning
// up what a dead simulator left, and telling whether a process is frozen.
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CGROUP_ROOT = '/sys/fs/cgroup';

export function read(path: string): string {
  return readFileSync(path, 'utf8');
}

export function tryRead(path: string): string | undefined {
  try {
    return read(path);
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process's cgroup path per v1 controller, or the v2 path under key ''. */
export function ownCgroups(): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of (tryRead('/proc/self/cgroup') ?? '').split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers === undefined || path === undefined) continue;
    for (const c of controllers.split(',')) map.set(c, path);
  }
  return map;
}

export function isV2(): boolean {
  return existsSync(join(CGROUP_ROOT, 'cgroup.controllers'));
}

/** v1 controllers the environment uses: cpu (quota), memory (limit, peak, OOM), freezer; cpuacct for CPU time. */
export const V1_REQUIRED = ['cpu', 'memory', 'freezer'] as const;
export const V1_OPTIONAL = ['cpuacct'] as const;

/** Removes cgroups left by simulators whose process died without cleaning up (a crash, SIGKILL). */
export function removeStaleCgroups(): number {
  let removed = 0;
  const parents = new Set<string>();
  if (isV2()) {
    const path = ownCgroups().get('');
    if (path !== undefined) parents.add(join(CGROUP_ROOT, path));
  } else {
    const own = ownCgroups();
    for (const c of [...V1_REQUIRED, ...V1_OPTIONAL]) {
      const path = own.get(c);
      if (path !== undefined) parents.add(join(CGROUP_ROOT, c, path));
    }
  }
  for (const parent of parents) {
    let names: string[];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      const owner = Number(/^lambda-sim-(\d+)-/.exec(name)?.[1]);
      if (!owner || pidAlive(owner)) continue;
      const dir = join(parent, name);
      thawDir(dir);
      killDir(dir);
      if (removeDirWithRetry(dir)) removed++;
    }
  }
  return removed;
}

export function thawDir(dir: string): void {
  try {
    if (existsSync(join(dir, 'freezer.state'))) writeFileSync(join(dir, 'freezer.state'), 'THAWED');
    else if (existsSync(join(dir, 'cgroup.freeze'))) writeFileSync(join(dir, 'cgroup.freeze'), '0');
  } catch {
    // already gone
  }
}

export function pidsIn(dir: string): number[] {
  return (tryRead(join(dir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean).map(Number);
}

export function killDir(dir: string): void {
  for (const pid of pidsIn(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

/** rmdir, retrying briefly while killed tasks leave (synchronous: used at process exit too). */
export function removeDirWithRetry(dir: string, boundMs = 300): boolean {
  const until = Date.now() + boundMs;
  for (;;) {
    try {
      rmdirSync(dir);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' || Date.now() > until) return false;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/** The freezer state of a process: 'frozen' by a freezer cgroup, 'stopped' by SIGSTOP, or 'running'. */
export function readFreezeState(pid: number): 'frozen' | 'stopped' | 'running' | undefined {
  const cgroup = tryRead(`/proc/${pid}/cgroup`);
  if (cgroup === undefined) return undefined;
  for (const line of cgroup.split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined || controllers === undefined) continue;
    if (controllers.split(',').includes('freezer')) {
      const state = tryRead(join(CGROUP_ROOT, 'freezer', path, 'freezer.state'))?.trim();
      if (state === 'FROZEN') return 'frozen';
    } else if (controllers === '' && path !== '/') {
      if (/^frozen 1$/m.test(tryRead(join(CGROUP_ROOT, path, 'cgroup.events')) ?? '')) return 'frozen';
    }
  }
  const stat = tryRead(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  return stat.charAt(stat.lastIndexOf(')') + 2) === 'T' ? 'stopped' : 'running';
}
