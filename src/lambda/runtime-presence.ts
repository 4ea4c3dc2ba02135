// Whether the function's runtime process is still there, read from the kernel's socket tables. A live
// runtime that is not invoking always holds a connection to the Runtime API (its /next waits on it),
// so once SHUTDOWN has come and no process but this one holds an open connection to that address,
// the runtime has exited and nothing it runs (its OpenTelemetry SDK) can export any more.
// Linux only: elsewhere, or when the tables cannot be read or do not show this process's own
// connection, the answer is "unknown" and callers keep their bounded waits.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { parseRuntimeApi } from './runtime-http.js';

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
    for (const fd of readdirSync('/proc/self/fd')) {
      let target: string;
      try {
        target = readlinkSync(`/proc/self/fd/${fd}`);
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
    return readFileSync(path, 'latin1');
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

/** A probe may take at most this share of the time while it is polled. */
const PROBE_DUTY = 1 / 3;

/**
 * runtimeExited for polling: a probe that takes long (a large host's tables) is not repeated before
 * its cost is a third of the time since, so polling never takes the CPU an exiting runtime needs
 * (the function and the extension share it). Once exited, always exited.
 */
export function runtimeExitWatch(
  probe: RuntimeApiProbe,
  nowMs: () => number = () => performance.now(),
): () => boolean {
  let exited = false;
  let nextMs = Number.NEGATIVE_INFINITY;
  return () => {
    if (exited) return true;
    const start = nowMs();
    if (start < nextMs) return false;
    exited = runtimeExited(probe);
    const end = nowMs();
    nextMs = end + (end - start) * (1 / PROBE_DUTY - 1);
    return exited;
  };
}
