// Whether the function's runtime process is still there. At spindown the runtime gets SIGTERM with
// SHUTDOWN; once it has exited, nothing it runs (its OpenTelemetry SDK) can export any more. Two
// ways to tell, Linux only:
// - the runtime's own process: among the processes started beside the extension (its parent's and
//   grandparent's children), the one whose environment has the runtime-only `_HANDLER` and the same
//   AWS_LAMBDA_RUNTIME_API; once found, watching it costs a read of its /proc/<pid>/stat;
// - where it cannot be found (already gone, or /proc not readable that way): the kernel's socket
//   tables. A live runtime that is not invoking always holds a connection to the Runtime API (its
//   /next waits on it), so when no process but this one holds one, the runtime has exited.
// When neither can tell, the answer is "not exited" and callers keep their bounded waits.

import { nodeBuiltin } from '../platform/node-builtin.js';
import { parseRuntimeApi, RUNTIME_API_ENV } from './runtime-http.js';

/** node:fs when a look-up first needs it (SHUTDOWN), not at start-up. */
const fs = () => nodeBuiltin('node:fs');

/**
 * Open (ESTABLISHED) client connections to the Runtime API: this process's and other processes'.
 * Counting stops at the first other one (the runtime is there): `others` is then 1.
 */
export interface RuntimeApiConnections {
  own: number;
  others: number;
}

/** Reads the connections now; undefined when they cannot be known here. */
export type RuntimeApiProbe = () => RuntimeApiConnections | undefined;

/** The tables and this process's sockets, injectable for tests. */
export interface SocketTables {
  /** The text of /proc/net/tcp or /proc/net/tcp6; undefined when it cannot be read. */
  table(name: 'tcp' | 'tcp6'): string | undefined;
  /** Inodes of this process's sockets. */
  ownSocketInodes(): Set<string>;
}

const ESTABLISHED = '01';

const procTables: SocketTables = {
  // Reading a table walks the kernel's whole connection hash (a few ms on a large host, far less in
  // a function's small VM): tcp6 is read only when tcp does not already show the runtime.
  table: (name) => readOptional(`/proc/net/${name}`),
  ownSocketInodes() {
    const inodes = new Set<string>();
    for (const fd of fs().readdirSync('/proc/self/fd')) {
      let target: string;
      try {
        target = fs().readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        continue; // closed meanwhile (the directory's own descriptor, for one)
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m?.[1] !== undefined) inodes.add(m[1]);
    }
    return inodes;
  },
};

function readOptional(path: string): string | undefined {
  try {
    return fs().readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/** How /proc/net/tcp* writes an IPv4 address: the 32-bit word in host (little-endian) byte order. */
function ipv4Hex(address: string): string | undefined {
  const parts = address.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = parts.map(Number);
  if (bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) return undefined;
  return bytes
    .reverse()
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

/**
 * A probe for the Runtime API at `runtimeApi` (AWS_LAMBDA_RUNTIME_API). The address is matched
 * exactly for an IPv4 host (also IPv4-mapped in tcp6), by port alone otherwise.
 */
export function runtimeApiProbe(
  runtimeApi: string | undefined,
  tables: SocketTables = procTables,
): RuntimeApiProbe {
  let target: { port: string; v4: string | undefined };
  try {
    const { host, port } = parseRuntimeApi(runtimeApi);
    target = { port: port.toString(16).toUpperCase().padStart(4, '0'), v4: ipv4Hex(host) };
  } catch {
    return () => undefined;
  }
  const matches = (remote: string): boolean => {
    const colon = remote.indexOf(':');
    if (colon < 0 || remote.slice(colon + 1) !== target.port) return false;
    if (target.v4 === undefined) return true;
    const address = remote.slice(0, colon);
    return address === target.v4 || address === `0000000000000000FFFF0000${target.v4}`;
  };
  /** Inodes of the open connections to the Runtime API in one table. */
  const connections = (text: string): string[] => {
    const inodes: string[] = [];
    for (const line of text.split('\n')) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== ESTABLISHED || !matches(fields[2] ?? '')) continue;
      inodes.push(fields[9] ?? '');
    }
    return inodes;
  };
  return () => {
    try {
      let own: Set<string> | undefined;
      const counts: RuntimeApiConnections = { own: 0, others: 0 };
      let readable = false;
      for (const name of ['tcp', 'tcp6'] as const) {
        const text = tables.table(name);
        if (text === undefined) continue;
        readable = true;
        for (const inode of connections(text)) {
          own ??= tables.ownSocketInodes();
          if (own.has(inode)) counts.own++;
          else counts.others++;
        }
        if (counts.others > 0) return counts;
      }
      return readable ? counts : undefined;
    } catch {
      return undefined;
    }
  };
}

/**
 * The runtime has exited: the tables show this process's own connection to the Runtime API (so
 * they describe this network namespace faithfully) and no other process holds one. Another
 * extension still running keeps the answer false, which only means waiting longer.
 */
export function runtimeExited(probe: RuntimeApiProbe): boolean {
  const c = probe();
  return c !== undefined && c.own > 0 && c.others === 0;
}

/** The process table as far as the runtime's search needs it; injectable for tests. */
export interface ProcessTable {
  readonly self: number;
  /** The parent's pid, from /proc/<pid>/stat. */
  parentOf(pid: number): number | undefined;
  /** Children of every thread of `pid` (/proc/<pid>/task/<tid>/children). */
  childrenOf(pid: number): number[];
  /** The NUL-separated environment, when readable. */
  environ(pid: number): string | undefined;
  /** State letter and start time (clock ticks since boot), or undefined when there is no such process. */
  stat(pid: number): { state: string; startTime: string; parent: number } | undefined;
}

function readStat(pid: number): { state: string; startTime: string; parent: number } | undefined {
  const text = readOptional(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  // pid (comm) state ppid … starttime (the 22nd field); comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19];
  const parent = Number(fields[1]);
  if (state === undefined || startTime === undefined || !Number.isInteger(parent)) return undefined;
  return { state, startTime, parent };
}

const procProcesses: ProcessTable = {
  self: process.pid,
  parentOf: (pid) => readStat(pid)?.parent,
  childrenOf(pid) {
    const children: number[] = [];
    for (const tid of fs().readdirSync(`/proc/${pid}/task`)) {
      const text = readOptional(`/proc/${pid}/task/${tid}/children`);
      for (const child of text?.split(' ') ?? []) if (child !== '') children.push(Number(child));
    }
    return children;
  },
  environ: (pid) => readOptional(`/proc/${pid}/environ`),
  stat: readStat,
};

interface WatchedProcess {
  pid: number;
  startTime: string;
}

/**
 * The runtime's processes: those started beside the extension (children of its parent or of its
 * parent's parent, which covers a launcher in between) whose environment has `_HANDLER` (Lambda
 * gives it to the runtime only) and this AWS_LAMBDA_RUNTIME_API. Empty when none can be found.
 */
export function findRuntimeProcesses(
  runtimeApi: string,
  procs: ProcessTable = procProcesses,
): WatchedProcess[] {
  const found: WatchedProcess[] = [];
  try {
    const parent = procs.parentOf(procs.self);
    if (parent === undefined) return found;
    const grandparent = procs.parentOf(parent);
    const ancestors = new Set([procs.self, parent, grandparent]);
    const candidates = new Set<number>();
    for (const pid of [parent, grandparent]) {
      if (pid === undefined || pid <= 0) continue;
      try {
        for (const child of procs.childrenOf(pid)) if (!ancestors.has(child)) candidates.add(child);
      } catch {
        // not readable: the other one may be
      }
    }
    const api = `\0${RUNTIME_API_ENV}=${runtimeApi}\0`;
    for (const pid of candidates) {
      const env = procs.environ(pid);
      if (env === undefined) continue;
      const padded = `\0${env}`;
      if (!padded.includes('\0_HANDLER=') || !`${padded}\0`.includes(api)) continue;
      const stat = procs.stat(pid);
      if (stat && stat.state !== 'Z') found.push({ pid, startTime: stat.startTime });
    }
  } catch {
    // no /proc as expected: nothing found
  }
  return found;
}

/** Every watched process has exited (gone, a zombie, or its pid taken by another process). */
function processesExited(watched: WatchedProcess[], procs: ProcessTable): boolean {
  return watched.every((w) => {
    const stat = procs.stat(w.pid);
    return stat === undefined || stat.state === 'Z' || stat.startTime !== w.startTime;
  });
}

/** A probe may take at most this share of the time while it is polled. */
const PROBE_DUTY = 1 / 3;

/**
 * Whether the runtime has exited, for polling at SHUTDOWN. The runtime's processes are looked for
 * once, at the first `exited()` (SHUTDOWN: not during an invocation, where the look-up's CPU,
 * node:fs loading included, would slow the function); found, they are watched (cheap). Where none
 * is found (already gone, or /proc not readable that way) the socket tables are read, and a read
 * that takes long (a large host's tables) is not repeated before its cost is a third of the time
 * since, so polling never takes the CPU an exiting runtime needs (the function and the extension
 * share it). Once exited, always exited.
 */
export class RuntimeExitWatch {
  private hasExited = false;
  private watched: WatchedProcess[] | undefined;
  private nextProbeMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly runtimeApi: string | undefined,
    private readonly probe: RuntimeApiProbe = runtimeApiProbe(runtimeApi),
    private readonly procs: ProcessTable = procProcesses,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  exited(): boolean {
    if (this.hasExited) return true;
    this.watched ??= this.runtimeApi === undefined ? [] : findRuntimeProcesses(this.runtimeApi, this.procs);
    if (this.watched.length > 0) {
      this.hasExited = processesExited(this.watched, this.procs);
      return this.hasExited;
    }
    const start = this.nowMs();
    if (start < this.nextProbeMs) return false;
    this.hasExited = runtimeExited(this.probe);
    const end = this.nowMs();
    this.nextProbeMs = end + (end - start) * (1 / PROBE_DUTY - 1);
    return this.hasExited;
  }
}
