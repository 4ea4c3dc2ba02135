// An environment's own network, as on Lambda: a network namespace per environment with its own
// loopback, so fixed ports (4318, 9003, …) in two environments do not clash. The simulator makes it
// itself (`ip netns`, as root); a forwarder inside gives the environment the Runtime API at
// 127.0.0.1:9001 and the host ports a test lists (its Collector, its sinks), and carries the
// Telemetry API's pushes to listeners inside. Off by default: without it every environment shares
// this machine's loopback.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { within } from './clock.js';

/** Where the Runtime API is inside a Lambda environment. */
export const LAMBDA_RUNTIME_API_PORT = 9001;
const FORWARDER = fileURLToPath(new URL('./netns-forwarder.mjs', import.meta.url));
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';
const NSENTER = ['/usr/bin/nsenter', '/bin/nsenter'].find((p) => existsSync(p)) ?? 'nsenter';
const PREFIX = 'lambda-sim-';

export interface NetworkOptions {
  /** A network namespace of its own (default false: the machine's loopback). */
  private?: boolean;
  /** Host ports (on 127.0.0.1) reachable from inside at the same 127.0.0.1:<port>. */
  hostPorts?: number[];
}

export interface NetworkInfo {
  mode: 'host' | 'private';
  /** The namespace's name under /run/netns. */
  namespace?: string;
  /** AWS_LAMBDA_RUNTIME_API as the environment's processes see it. */
  runtimeApi: string;
  hostPorts: number[];
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let staleSwept = false;

/** Deletes namespaces left by simulators whose process died without cleaning up. */
export function removeStaleNamespaces(): number {
  let names: string[] = [];
  try {
    names = execFileSync(IP, ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '');
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const owner = Number(/^lambda-sim-(\d+)-/.exec(name)?.[1]);
    if (!owner || pidAlive(owner)) continue;
    try {
      execFileSync(IP, ['netns', 'delete', name], { stdio: 'ignore' });
      removed++;
    } catch {
      // someone else removed it
    }
  }
  return removed;
}

/** Reads the first line of a relayed connection (the target port), then pipes both ways. */
function relayWithPrefix(socket: Socket, open: (port: number) => Socket | undefined): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const newline = buffered.indexOf(10);
    if (newline < 0) return;
    socket.off('data', onData);
    const target = open(Number(buffered.subarray(0, newline).toString('utf8')));
    if (!target) {
      socket.destroy();
      return;
    }
    const rest = buffered.subarray(newline + 1);
    target.on('error', () => socket.destroy());
    socket.on('error', () => target.destroy());
    if (rest.length > 0) target.write(rest);
    socket.pipe(target);
    target.pipe(socket);
  };
  socket.on('data', onData);
}

let counter = 0;

export class EnvironmentNetwork {
  private constructor(
    readonly info: NetworkInfo,
    private readonly dir: string | null,
    private readonly hostRelay: Server | null,
    private readonly forwarder: ChildProcess | null,
  ) {}

  /** The machine's loopback: the Runtime API at the simulator's own address. */
  static host(runtimeApi: string): EnvironmentNetwork {
    return new EnvironmentNetwork({ mode: 'host', runtimeApi, hostPorts: [] }, null, null, null);
  }

  /** A namespace of its own with the forwarder running in it; throws when it cannot be made. */
  static async create(apiPort: number, hostPorts: number[]): Promise<EnvironmentNetwork> {
    if (!staleSwept) {
      staleSwept = true;
      removeStaleNamespaces();
    }
    const name = `${PREFIX}${process.pid}-${++counter}`;
    execFileSync(IP, ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'] });
    const dir = mkdtempSync(join(tmpdir(), 'lambda-sim-net-'));
    let relay: Server | null = null;
    let forwarder: ChildProcess | null = null;
    try {
      execFileSync(IP, ['-n', name, 'link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
      const hostSocket = join(dir, 'host.sock');
      const inboundSocket = join(dir, 'inbound.sock');
      // Only the ports given here can be reached on the host from inside.
      const allowed = new Set([apiPort, ...hostPorts]);
      relay = createServer((socket) =>
        relayWithPrefix(socket, (port) => (allowed.has(port) ? connect(port, '127.0.0.1') : undefined)),
      );
      await new Promise<void>((resolve, reject) => relay!.listen(hostSocket, resolve).on('error', reject));
      const listen = [[LAMBDA_RUNTIME_API_PORT, apiPort], ...hostPorts.map((p) => [p, p])];
      forwarder = spawn(
        NSENTER,
        [
          `--net=/run/netns/${name}`,
          process.execPath,
          FORWARDER,
          JSON.stringify({ hostSocket, inboundSocket, listen }),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const started = forwarder;
      let stderr = '';
      started.stderr?.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      const ready = await within(
        new Promise<boolean>((resolve) => {
          started.stdout?.on('data', (c: Buffer) => {
            if (c.toString().includes('ready')) resolve(true);
          });
          started.on('exit', () => resolve(false));
        }),
        10_000,
      );
      if (ready !== true) throw new Error(`the namespace's forwarder did not start: ${stderr.trim()}`);
      return new EnvironmentNetwork(
        { mode: 'private', namespace: name, runtimeApi: `127.0.0.1:${LAMBDA_RUNTIME_API_PORT}`, hostPorts },
        dir,
        relay,
        forwarder,
      );
    } catch (error) {
      forwarder?.kill('SIGKILL');
      relay?.close();
      rmSync(dir, { recursive: true, force: true });
      try {
        execFileSync(IP, ['netns', 'delete', name], { stdio: 'ignore' });
      } catch {
        // not made
      }
      throw error;
    }
  }

  /** The command running `command args` inside the namespace (nsenter execs: same pid). */
  wrap(command: string, args: string[]): { command: string; args: string[] } {
    if (this.info.mode === 'host') return { command, args };
    return { command: NSENTER, args: [`--net=/run/netns/${this.info.namespace}`, command, ...args] };
  }

  /** A connection to 127.0.0.1:<port> inside the environment (for the Telemetry API's pushes). */
  connectInside(port: number): Socket | undefined {
    if (!this.dir) return undefined;
    const socket = connect(join(this.dir, 'inbound.sock'));
    socket.write(`${port}\n`);
    return socket;
  }

  get isPrivate(): boolean {
    return this.info.mode === 'private';
  }

  remove(): void {
    if (!this.dir) return;
    this.forwarder?.kill('SIGKILL');
    this.hostRelay?.close();
    rmSync(this.dir, { recursive: true, force: true });
    try {
      execFileSync(IP, ['netns', 'delete', this.info.namespace!], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}
