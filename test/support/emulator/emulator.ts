// AWS's Lambda Runtime Interface Emulator (aws-lambda-rie) running a function with AWS's Node.js
// runtime interface client (aws-lambda-ric) and, from /opt, a layer: the environment a user gets
// from `docker run` of a Lambda base image, without a container engine.
//
//   const rie = await startEmulator({ mode: 'default', layer: LAYER_DIR, handlerModule });
//   const res = await rie.invoke({ n: 1 });       // POST /2015-03-31/functions/function/invocations
//   await rie.stop();                             // SIGTERM: the emulator sends SHUTDOWN
//
// Modes (the emulator picks one from its environment):
//   default             Lambda's classic model; no Telemetry API (subscribing answers 202
//                       Telemetry.NotSupported); the runtime command comes from the command line.
//   managed-instances   AWS_LAMBDA_MAX_CONCURRENCY set: Lambda Managed Instances (concurrent
//                       invocations in one environment, no INVOKE event for extensions) with AWS's
//                       own Telemetry API (schema 2025-01-29); the runtime must be a bootstrap in
//                       /var/runtime, /var/task or /opt, and runs in /var/task.
//
// The layout the emulator expects (/opt/extensions, /var/task, sandbox.localdomain) is made by
// sandbox.sh in a private mount namespace (root, or passwordless sudo), so nothing is left on the
// machine. The emulator and the runtime client are built and cached by build.sh and
// install-runtime-client.sh (`make emulator`); a test file run on its own builds them when missing.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { canConnect } from '../tcp.js';
import { freeLoopbackPort } from '../../../tools/simulator/ports.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BUILD_SCRIPT = path.join(HERE, 'build.sh');
const RIC_SCRIPT = path.join(HERE, 'install-runtime-client.sh');
const SANDBOX_SCRIPT = path.join(HERE, 'sandbox.sh');
const INVOKE_PATH = '/2015-03-31/functions/function/invocations';
const OUTPUT_TAIL_LINES = 5000;
const EXTENSION_PREFIX = /^\[otel-lambda-extension\] /;

export type EmulatorMode = 'default' | 'managed-instances';

export interface EmulatorOptions {
  mode: EmulatorMode;
  /** A layer directory mounted at /opt (e.g. build/layer), or null for a function without layers. */
  layer: string | null;
  /** Absolute path of an ES module exporting `handler`; /var/task/index.mjs re-exports it. */
  handlerModule: string;
  /** Node options for the runtime process (e.g. ['--import', setupModule]). */
  nodeArgs?: string[];
  /** The function's environment (shared by runtime and extensions, as on Lambda). */
  env?: Record<string, string>;
  /** Managed Instances: AWS_LAMBDA_MAX_CONCURRENCY, also the runtime client's worker threads. Default 2. */
  maxConcurrency?: number;
  /** AWS_LAMBDA_FUNCTION_TIMEOUT in seconds (also the init timeout in Managed Instances, and counted
   *  from the request's arrival, init included). Default 120: worker threads start slowly on a
   *  loaded machine. */
  timeoutS?: number;
  /** How long to wait for the emulator's port. Default 20 s. */
  readyTimeoutMs?: number;
}

export interface InvokeOptions {
  /** X-Amzn-Trace-Id of the invoke request (the emulator passes it through to the runtime). */
  traceHeader?: string;
  /** Managed Instances: the request id (X-Amzn-RequestId); the emulator makes one otherwise. */
  requestId?: string;
  /** Default 150 s: the first invocation of the default mode includes init (generous: loaded CI machines). */
  timeoutMs?: number;
}

export interface EmulatorInvocation {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface Emulator {
  readonly mode: EmulatorMode;
  /** The emulator's pid (inside the namespace wrapper) while it runs. */
  readonly pid: number | undefined;
  invoke(event: unknown, options?: InvokeOptions): Promise<EmulatorInvocation>;
  /** Everything the emulator, the runtime and the extensions wrote, line by line (tail). */
  lines(): string[];
  /** The extension's own lines ([otel-lambda-extension] …). */
  extensionLines(): string[];
  /** SIGTERM (SIGKILL after graceMs), then removes the scratch directory. Safe to call twice. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runScript(script: string, what: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    // No timeout: a cold build downloads and compiles for minutes; progress goes to stderr.
    const child = execFile('bash', [script], { maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${what} failed (bash ${script}): ${err.message}\n${stderr.slice(-4000)}`));
        return;
      }
      const last = stdout.trim().split('\n').pop()?.trim();
      if (!last) reject(new Error(`${what} printed no path\n${stderr.slice(-4000)}`));
      else resolve(last);
    });
    child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  });
}

let emulatorPromise: Promise<string> | undefined;
let runtimeClientPromise: Promise<string> | undefined;

/** Path of the aws-lambda-rie binary (AWS_LAMBDA_RIE_BIN, else built once per process). */
export function emulatorBinary(): Promise<string> {
  const fromEnv = process.env['AWS_LAMBDA_RIE_BIN'];
  if (fromEnv) return Promise.resolve(fromEnv);
  emulatorPromise ??= runScript(BUILD_SCRIPT, 'emulator build');
  emulatorPromise.catch(() => {
    emulatorPromise = undefined;
  });
  return emulatorPromise;
}

/** Path of aws-lambda-ric's entry point (AWS_LAMBDA_RIC_ENTRY, else installed once per process). */
export function runtimeClientEntry(): Promise<string> {
  const fromEnv = process.env['AWS_LAMBDA_RIC_ENTRY'];
  if (fromEnv) return Promise.resolve(fromEnv);
  runtimeClientPromise ??= runScript(RIC_SCRIPT, 'runtime client install');
  runtimeClientPromise.catch(() => {
    runtimeClientPromise = undefined;
  });
  return runtimeClientPromise;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

// Emulators still running when the test process exits are killed with their process group.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const [rie, ric] = await Promise.all([emulatorBinary(), runtimeClientEntry()]);
  const scratch = await mkdtemp(path.join(tmpdir(), 'lambda-rie-'));
  const taskDir = path.join(scratch, 'task');
  await mkdir(taskDir);

  // The function: a handler module re-exporting the fixture (its imports resolve from where it
  // lives), and the bootstrap Managed Instances needs (the default mode gets the same command).
  await writeFile(
    path.join(taskDir, 'index.mjs'),
    `export { handler } from ${JSON.stringify(pathToFileURL(options.handlerModule).href)};\n`,
  );
  const nodeArgs = (options.nodeArgs ?? []).map(shellQuote).join(' ');
  await writeFile(
    path.join(taskDir, 'bootstrap'),
    `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${nodeArgs} ${shellQuote(ric)}\n`,
    { mode: 0o755 },
  );
  const hosts = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1 localhost\n');
  await writeFile(path.join(scratch, 'hosts'), `${hosts.trimEnd()}\n127.0.0.1 sandbox.localdomain\n`);

  const [riePort, runtimePort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const concurrency = options.maxConcurrency ?? 2;
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/root',
    LAMBDA_TASK_ROOT: '/var/task',
    _HANDLER: 'index.handler',
    AWS_LAMBDA_FUNCTION_NAME: 'emulated-fn',
    AWS_LAMBDA_FUNCTION_TIMEOUT: String(options.timeoutS ?? 120),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1769',
    AWS_REGION: 'us-east-1',
    ...(options.mode === 'managed-instances' && {
      AWS_LAMBDA_MAX_CONCURRENCY: String(concurrency),
      // The client starts 8 worker threads per CPU unless told; one per concurrent invocation.
      AWS_LAMBDA_NODEJS_WORKER_COUNT: String(concurrency),
    }),
    ...options.env,
  };
  const rieArgs = [
    rie,
    '--runtime-api-address',
    `127.0.0.1:${runtimePort}`,
    '--runtime-interface-emulator-address',
    `127.0.0.1:${riePort}`,
    // Managed Instances looks for a bootstrap itself; the default mode runs the command given.
    ...(options.mode === 'default' ? ['/var/task/bootstrap', 'index.handler'] : []),
  ];
  const command = [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--',
    'sh',
    SANDBOX_SCRIPT,
    scratch,
    options.layer ?? '-',
    '--',
    ...rieArgs,
  ];
  // Mount namespaces need root; contributors' machines and CI runners have passwordless sudo.
  const argv = process.getuid?.() === 0 ? command : ['sudo', '-n', '--preserve-env', ...command];

  const output: string[] = [];
  let partial = '';
  const onData = (d: Buffer) => {
    const parts = (partial + d.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    output.push(...parts);
    if (output.length > OUTPUT_TAIL_LINES) output.splice(0, output.length - OUTPUT_TAIL_LINES);
  };
  const child = spawn(argv[0] as string, argv.slice(1), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so stop() reaches the runtime and extensions too
  });
  track(child);
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const running = () => child.exitCode === null && child.signalCode === null;

  let stopped: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  const stop = (graceMs = 10_000) => {
    stopped ??= (async () => {
      if (running()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        killGroup(child, 'SIGKILL'); // anything the emulator left behind
        await rm(scratch, { recursive: true, force: true });
        return result;
      }
      await rm(scratch, { recursive: true, force: true });
      return { code: child.exitCode, signal: child.signalCode };
    })();
    return stopped;
  };
  const tail = () => [...output, ...(partial ? [partial] : [])];

  const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
  try {
    for (;;) {
      if (spawnError) throw new Error(`cannot run the emulator: ${spawnError.message}`);
      if (!running()) {
        throw new Error(
          `emulator exited during start-up (${child.exitCode ?? child.signalCode})\n${tail().join('\n')}`,
        );
      }
      if (await canConnect(riePort)) break;
      if (Date.now() > deadline)
        throw new Error(`emulator not listening on ${riePort}\n${tail().join('\n')}`);
      await sleep(25);
    }
  } catch (err) {
    await stop(2000);
    throw err;
  }

  return {
    mode: options.mode,
    get pid() {
      return running() ? child.pid : undefined;
    },
    async invoke(event, invokeOptions = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (invokeOptions.traceHeader) headers['x-amzn-trace-id'] = invokeOptions.traceHeader;
      if (invokeOptions.requestId) headers['x-amzn-requestid'] = invokeOptions.requestId;
      const res = await fetch(`http://127.0.0.1:${riePort}${INVOKE_PATH}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(invokeOptions.timeoutMs ?? 150_000),
      });
      return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
    },
    lines: tail,
    extensionLines: () => tail().filter((l) => EXTENSION_PREFIX.test(l)),
    stop,
  };
}
