// Resource use of an extension from /proc: the extension may fork helpers (or be a launcher script
// that forks instead of exec-ing), so its figures are summed over its whole process tree — every
// process in the group the simulator started it in, plus any descendant that left the group.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readMemoryKb } from '../../tools/simulator/processes.js';

interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  /** utime + stime of the process (all its threads), clock ticks. */
  ownTicks: number;
  /** cutime + cstime: children it has waited for. */
  reapedTicks: number;
}

/** Fields after the command name, which is in parentheses and may itself contain spaces or ')'. */
function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state) of proc(5): ppid 4, pgrp 5, utime 14, stime 15, cutime 16, cstime 17.
  const n = (field: number) => Number(f[field - 3] ?? 0);
  return { pid, ppid: n(4), pgrp: n(5), ownTicks: n(14) + n(15), reapedTicks: n(16) + n(17) };
}

let ticksPerSecond: number | undefined;
/** USER_HZ: the unit of the CPU times in /proc/<pid>/stat (100 on Linux almost everywhere). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** The root and every live process in its group or below it. */
export function processTree(rootPid: number): number[] {
  const stats: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat) stats.push(stat);
  }
  const members = new Set<number>();
  for (const s of stats) if (s.pid === rootPid || s.pgrp === rootPid) members.add(s.pid);
  // Descendants that started a group of their own (setsid/setpgid) are found through their parents.
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of stats) {
      if (!members.has(s.pid) && members.has(s.ppid)) {
        members.add(s.pid);
        grew = true;
      }
    }
  }
  return [...members].sort((a, b) => a - b);
}

export interface TreeMemory {
  /** Sum of VmRSS, kB. */
  rssKb: number;
  /** Sum of VmHWM (each process's peak RSS), kB: what Lambda sums into Max Memory Used. */
  peakKb: number;
  processes: number;
}

export function treeMemory(pids: readonly number[]): TreeMemory {
  let rssKb = 0;
  let peakKb = 0;
  let processes = 0;
  for (const pid of pids) {
    const m = readMemoryKb(pid);
    if (!m) continue;
    rssKb += m.rssKb;
    peakKb += m.peakKb;
    processes++;
  }
  return { rssKb, peakKb, processes };
}

/** CPU time (user + system) of the tree so far, ms: live processes plus the children they reaped. */
export function treeCpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const s = readStat(pid);
    if (s) ticks += s.ownTicks + s.reapedTicks;
  }
  return (ticks * 1000) / clockTicksPerSecond();
}

/** One live thread of a process tree and the CPU it has used. */
export interface ThreadCpu {
  pid: number;
  tid: number;
  /** The thread's name (/proc/<pid>/task/<tid>/comm), e.g. "JITWorker" or "HTTP Client" in Bun. */
  comm: string;
  ms: number;
}

/**
 * CPU time of each live thread of the tree, ms with nanosecond resolution (the first field of
 * /proc/<pid>/task/<tid>/schedstat); undefined where the kernel has no schedstat. A thread that ends
 * while it is being read is left out.
 */
export function treeThreadsCpu(pids: readonly number[]): ThreadCpu[] | undefined {
  const threads: ThreadCpu[] = [];
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const dir = `/proc/${pid}/task/${tid}`;
      try {
        const ns = Number(readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0]);
        const comm = readFileSync(`${dir}/comm`, 'utf8').trim();
        threads.push({ pid, tid: Number(tid), comm, ms: ns / 1e6 });
      } catch {
        if (existsSync(dir)) return undefined;
      }
    }
  }
  return threads;
}

/**
 * CPU time of the tree's live threads, ms with nanosecond resolution, for short windows such as init
 * where clock ticks are too coarse. Threads that already exited are not counted; without schedstat,
 * utime+stime is used.
 */
export function treeCpuPreciseMs(pids: readonly number[]): number {
  const threads = treeThreadsCpu(pids);
  if (threads === undefined) return treeCpuMs(pids);
  return threads.reduce((sum, t) => sum + t.ms, 0);
}
