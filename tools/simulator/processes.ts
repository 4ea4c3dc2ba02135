// Child processes of the execution environment: the extensions and the function runtime. Each runs
// in its own process group (so the freezer and the shutdown reach launchers' children too); its
// stdout/stderr are split into lines, kept, and turned into telemetry log records by the simulator.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { nowMs } from './clock.js';
import type { Timeline } from './timeline.js';
import type { LogLine, ProcessRole } from './types.js';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  atMs: number;
  error?: string;
}

export interface ManagedProcess {
  role: ProcessRole;
  name: string;
  pid: number | undefined;
  startedAtMs: number;
  child: ChildProcess;
  /** Set once the process has exited (or failed to start). */
  exit?: ExitInfo;
  exited: Promise<ExitInfo>;
}

export interface SpawnSpec {
  role: ProcessRole;
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

type LineListener = (proc: ManagedProcess, stream: 'stdout' | 'stderr', line: string, atMs: number) => void;

// Process groups still alive, killed if this process exits without closing the simulator, so no
// stopped or orphaned child outlives a test run.
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  };
  process.on('exit', killAll);
  // The children live in their own process groups, so a terminal's or runner's signal does not
  // reach them: take them down, then die of the signal as if nobody had listened.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAll();
      process.off(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Sends `signal` to the process group led by `pid`; false when it is gone already. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** VmRSS and VmHWM (peak) of a process in kB, from /proc. */
export function readMemoryKb(pid: number): { rssKb: number; peakKb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { rssKb: field('VmRSS'), peakKb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** The one-letter state in /proc/<pid>/stat (R, S, T for stopped, Z, ...). */
export function readProcessState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

export class ProcessSupervisor {
  readonly processes: ManagedProcess[] = [];
  readonly lines: LogLine[] = [];

  constructor(
    private readonly timeline: Timeline,
    private readonly onLine: LineListener,
    private readonly echo: boolean,
    private readonly keepLines = true,
  ) {
    installExitHook();
  }

  live(): ManagedProcess[] {
    return this.processes.filter((p) => !p.exit);
  }

  spawn(spec: SpawnSpec): ManagedProcess {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let resolveExit!: (info: ExitInfo) => void;
    const proc: ManagedProcess = {
      role: spec.role,
      name: spec.name,
      pid: child.pid,
      startedAtMs: nowMs(),
      child,
      exited: new Promise((resolve) => {
        resolveExit = resolve;
      }),
    };
    this.processes.push(proc);
    if (child.pid) liveGroups.add(child.pid);
    this.timeline.record({ kind: 'process-start', role: spec.role, name: spec.name, pid: child.pid });

    const flushers = (['stdout', 'stderr'] as const).map((stream) => this.splitLines(proc, stream));
    const finish = (info: Omit<ExitInfo, 'atMs'>) => {
      if (proc.exit) return;
      for (const flush of flushers) flush();
      proc.exit = { ...info, atMs: nowMs() };
      if (child.pid) liveGroups.delete(child.pid);
      this.timeline.record({
        kind: 'process-exit',
        role: proc.role,
        name: proc.name,
        pid: proc.pid,
        code: info.code,
        signal: info.signal,
        error: info.error,
        atMs: proc.exit.atMs,
      });
      resolveExit(proc.exit);
    };
    // 'close' waits for stdio to end, so every line is captured before the exit is reported.
    child.on('close', (code, signal) => finish({ code, signal }));
    // A descendant that left the process group may hold the pipes open: do not wait for it forever.
    child.on('exit', (code, signal) => {
      setTimeout(() => finish({ code, signal }), 500).unref();
    });
    child.on('error', (error) => finish({ code: null, signal: null, error: error.message }));
    return proc;
  }

  signal(proc: ManagedProcess, signal: NodeJS.Signals): void {
    if (proc.exit || !proc.pid) return;
    if (signal === 'SIGKILL' || signal === 'SIGTERM') {
      this.timeline.record({ kind: 'kill', role: proc.role, name: proc.name, pid: proc.pid, signal });
    }
    signalGroup(proc.pid, signal);
  }

  private splitLines(proc: ManagedProcess, stream: 'stdout' | 'stderr'): () => void {
    let partial = '';
    const emit = (line: string) => {
      const atMs = nowMs();
      const text = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (this.keepLines)
        this.lines.push({ atMs, role: proc.role, name: proc.name, pid: proc.pid, stream, line: text });
      if (this.echo) process.stderr.write(`[${proc.name} ${stream}] ${text}\n`);
      this.onLine(proc, stream, text, atMs);
    };
    const source = proc.child[stream];
    source?.setEncoding('utf8');
    source?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) emit(line);
    });
    return () => {
      if (partial) emit(partial);
      partial = '';
    };
  }
}
