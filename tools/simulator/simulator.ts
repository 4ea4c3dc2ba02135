// The execution environment: one API server, the extension and function processes, and the
// lifecycle that drives them (init, invoke, freeze, reset, SHUTDOWN) in Lambda's order.
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nowMs, sleep, within } from './clock.js';
import {
  type EnvironmentSpec,
  extensionEnv,
  findExtensions,
  functionEnv,
  handlerSetting,
  initializationTypeOf,
} from './environment.js';
import { logRecord, platform, type SpanRecord, span, tracingRecord } from './events.js';
import { type ExtensionRegistration, ExtensionsApi } from './extensions-api.js';
import { Freezer } from './freezer.js';
import { ApiServer } from './http.js';
import { type ManagedProcess, ProcessSupervisor, readMemoryKb } from './processes.js';
import { EnvironmentResources, type ResourceInfo } from './resources.js';
import { EnvironmentNetwork } from './netns.js';
import { SandboxHosts } from './sandbox-hosts.js';
import { type RuntimeInvocation, type RuntimeOutcome, RuntimeApi } from './runtime-api.js';
import { TelemetryApi } from './telemetry-api.js';
import { TelemetryHub } from './telemetry-hub.js';
import { Timeline } from './timeline.js';
import { functionTraceHeader, randomHex, TRACE_HEADER_TYPE, traceValueFor } from './tracing.js';
import type {
  ExtensionInitInfo,
  ExtensionShutdownInfo,
  InitResult,
  InvocationResult,
  InvokeOptions,
  LogLine,
  ShutdownReason,
  ShutdownResult,
  SimulatorMode,
  SimulatorOptions,
  TelemetryEnvelope,
  TimelineEntryOf,
  TimelineKind,
} from './types.js';

const DEFAULT_BOOTSTRAP = fileURLToPath(new URL('./runtime.mjs', import.meta.url));
const RUNTIME_VERSION = 'nodejs:20.v99';
const RUNTIME_VERSION_ARN = `arn:aws:lambda:us-east-1::runtime:${'0'.repeat(64)}`;
/** How long the freezer waits for telemetry POSTs under way before stopping the listeners. */
const DELIVERY_SETTLE_MS = 1000;

type Resolved = Required<Omit<SimulatorOptions, 'optDir' | 'telemetry' | 'network' | 'memoryLimitMB'>> &
  Pick<SimulatorOptions, 'optDir' | 'telemetry' | 'network' | 'memoryLimitMB'>;

interface Failure {
  errorType: string;
}

/** One execution environment: what an init creates and a reset throws away. */
interface Environment {
  phase: string;
  startedAtMs: number;
  initOver: boolean;
  extensions: Map<string, ManagedProcess>;
  functionProcess?: ManagedProcess;
  failure?: Failure;
  initResult?: InitResult;
  /** The next invocation is the first after this init (cold start). */
  coldPending: boolean;
  restoreDurationMs?: number;
  teardown?: Promise<ShutdownResult>;
  /** Its cgroup (CPU quota, memory limit, freezer), or SIGSTOP freezing where none could be made. */
  resources: EnvironmentResources;
  /** /etc/hosts with sandbox.localdomain, in a private mount namespace per process. */
  hosts: SandboxHosts;
  /** This machine's loopback, or a network namespace of its own. */
  network: EnvironmentNetwork;
}

interface ActiveInvocation {
  requestId: string;
  outcome?: RuntimeOutcome;
}

function resolveOptions(options: SimulatorOptions): Resolved {
  const mode = options.mode ?? 'on-demand';
  return {
    optDir: options.optDir === undefined ? undefined : resolve(options.optDir),
    handler: resolve(options.handler),
    handlerExport: options.handlerExport ?? 'handler',
    functionName: options.functionName ?? 'simulated-function',
    functionVersion: options.functionVersion ?? '$LATEST',
    memorySizeMB: options.memorySizeMB ?? 128,
    unthrottled: options.unthrottled ?? false,
    memoryLimitMB: options.memoryLimitMB,
    resourceControl: options.resourceControl ?? 'auto',
    sandboxHosts: options.sandboxHosts ?? true,
    network: options.network,
    timeoutMs: options.timeoutMs ?? 3000,
    initTimeoutMs: options.initTimeoutMs ?? 10_000,
    env: options.env ?? {},
    logFormat: options.logFormat ?? 'text',
    mode,
    maxConcurrency: options.maxConcurrency ?? 4,
    // Managed Instances are never frozen: they serve concurrent invocations all the time.
    freeze: mode === 'managed-instances' ? false : (options.freeze ?? true),
    shutdownBudgetMs: options.shutdownBudgetMs ?? 2000,
    accountId: options.accountId ?? '123456789012',
    region: options.region ?? 'us-east-1',
    functionNodeArgs: options.functionNodeArgs ?? [],
    runtimeBootstrap: options.runtimeBootstrap ? resolve(options.runtimeBootstrap) : DEFAULT_BOOTSTRAP,
    echo: options.echo ?? false,
    keepHistory: options.keepHistory ?? true,
    telemetry: options.telemetry,
    tracing: options.tracing ?? 'pass-through',
  };
}

export class LambdaSimulator {
  readonly timeline = new Timeline();
  readonly options: Resolved;
  readonly invocations: InvocationResult[] = [];
  readonly inits: InitResult[] = [];
  readonly shutdowns: ShutdownResult[] = [];

  private readonly hub: TelemetryHub;
  private readonly server: ApiServer;
  private readonly runtimeApi: RuntimeApi;
  private readonly extensionsApi: ExtensionsApi;
  private readonly supervisor: ProcessSupervisor;
  private readonly freezer: Freezer;
  private env: Environment | null = null;
  private nextPhase: 'init' | 'invoke' = 'init';
  private initializing: Promise<InitResult> | null = null;
  private serial: Promise<unknown> = Promise.resolve();
  private readonly active = new Map<string, ActiveInvocation>();
  private readonly waiters = new Map<() => void, (value: boolean) => void>();
  private closed = false;
  /** Invocations started, for the tracing mode's alternation. */
  private invokeCount = 0;

  constructor(options: SimulatorOptions) {
    this.options = resolveOptions(options);
    const opts = this.options;
    this.hub = new TelemetryHub(this.timeline, opts.keepHistory);
    this.supervisor = new ProcessSupervisor(
      this.timeline,
      (proc, stream, line, atMs) => this.onLogLine(proc, stream, line, atMs),
      opts.echo,
      opts.keepHistory,
    );
    this.freezer = new Freezer(this.timeline);
    const initOver = () => this.env === null || this.env.initOver;
    this.runtimeApi = new RuntimeApi({
      timeline: this.timeline,
      initOver,
      onOutcome: (invocation, outcome) => this.onRuntimeOutcome(invocation, outcome),
      onInitError: (errorType) => this.fail(this.env, errorType),
      onChange: () => this.changed(),
    });
    this.extensionsApi = new ExtensionsApi({
      mode: opts.mode,
      timeline: this.timeline,
      registerInfo: {
        functionName: opts.functionName,
        functionVersion: opts.functionVersion,
        handler: handlerSetting(opts.handler, opts.handlerExport),
        accountId: opts.accountId,
      },
      initOver,
      isLaunched: (name) => this.env?.extensions.has(name) ?? false,
      onChange: () => this.changed(),
      onError: (_reg, _which, errorType) => this.fail(this.env, errorType),
      onFirstNext: (reg) => {
        this.hub.emit(
          'platform.extension',
          platform.extension({ name: reg.name, state: 'Ready', events: reg.events }),
        );
      },
    });
    const telemetryApi = new TelemetryApi({
      mode: opts.mode,
      options: { keepDeliveredRecords: opts.keepHistory, ...opts.telemetry },
      timeline: this.timeline,
      hub: this.hub,
      extensionName: (identifier) => this.extensionsApi.nameOf(identifier),
      initOver,
      onSubscribed: (name, types) => {
        this.hub.emit(
          'platform.telemetrySubscription',
          platform.telemetrySubscription({ name, state: 'Subscribed', types }),
        );
      },
    });
    this.server = new ApiServer([this.runtimeApi, this.extensionsApi, telemetryApi]);
  }

  // ---- public surface ---------------------------------------------------------------------------

  /** AWS_LAMBDA_RUNTIME_API (host:port); available after listen() or start(). */
  get runtimeApiAddress(): string {
    return this.server.address;
  }

  get mode(): SimulatorMode {
    return this.options.mode;
  }

  get invokedFunctionArn(): string {
    const o = this.options;
    return `arn:aws:lambda:${o.region}:${o.accountId}:function:${o.functionName}`;
  }

  get isFrozen(): boolean {
    return this.freezer.isFrozen;
  }

  /** The current environment's resources: mechanism, CPU share, memory limit (undefined between environments). */
  get resources(): ResourceInfo | undefined {
    return this.env?.resources.info;
  }

  /** CPU time the current environment's processes used so far, ms (cgroup accounting; undefined without a cgroup). */
  environmentCpuMs(): number | undefined {
    return this.env?.resources.cpuUsageMs();
  }

  get frozenIntervals() {
    return this.freezer.intervals;
  }

  /** Every telemetry record emitted, in order (optionally of some types only). */
  records(types?: string | string[]): TelemetryEnvelope[] {
    if (types === undefined) return [...this.hub.records];
    const wanted = new Set(Array.isArray(types) ? types : [types]);
    return this.hub.records.filter((r) => wanted.has(r.type));
  }

  /** Calls `listener` for every record as it is emitted. */
  onRecord(listener: (record: TelemetryEnvelope) => void): () => void {
    return this.hub.onRecord(listener);
  }

  get functionLogs(): LogLine[] {
    return this.supervisor.lines.filter((l) => l.role === 'function');
  }

  get extensionLogs(): LogLine[] {
    return this.supervisor.lines.filter((l) => l.role === 'extension');
  }

  /** Pids of the live processes (read /proc/<pid>/status for RSS). */
  pids(): { function?: number; extensions: Record<string, number> } {
    const extensions: Record<string, number> = {};
    for (const [name, proc] of this.env?.extensions ?? [])
      if (!proc.exit && proc.pid) extensions[name] = proc.pid;
    const fn = this.env?.functionProcess;
    return { function: fn && !fn.exit ? fn.pid : undefined, extensions };
  }

  /** The extension registrations of the current environment. */
  registrations(): ExtensionRegistration[] {
    return this.extensionsApi.registrations();
  }

  waitFor<K extends TimelineKind>(
    kind: K,
    predicate?: (entry: TimelineEntryOf<K>) => boolean,
    timeoutMs?: number,
  ): Promise<TimelineEntryOf<K>> {
    return this.timeline.waitFor(kind, predicate, timeoutMs);
  }

  async listen(): Promise<void> {
    await this.server.listen();
  }

  /** Init: spawns the extensions and the function, resolves when all are parked on next (or init failed). */
  async start(): Promise<InitResult> {
    this.assertOpen();
    return this.ensureInitialized(true);
  }

  /** One invocation, resolved once platform.report is emitted (and any reset it caused is over). */
  invoke(payload: unknown = {}, options: InvokeOptions = {}): Promise<InvocationResult> {
    this.assertOpen();
    if (this.options.mode === 'managed-instances') return this.invokeOnce(payload, options);
    return this.serialize(() => this.invokeOnce(payload, options));
  }

  /** Lets the environment sit (frozen, unless freezing is off) for `ms`. */
  idle(ms: number): Promise<void> {
    return this.serialize(async () => {
      const frozen = this.freezer.isFrozen;
      await sleep(ms);
      this.timeline.record({ kind: 'idle', ms, frozen });
    });
  }

  /** SHUTDOWN: extensions get the event and `shutdownBudgetMs`, then whatever remains is killed. */
  shutdown(reason: ShutdownReason = 'spindown'): Promise<ShutdownResult> {
    return this.serialize(async () => {
      const env = this.env;
      if (!env) {
        const atMs = nowMs();
        return {
          reason,
          startedAtMs: atMs,
          deadlineMs: atMs,
          endedAtMs: atMs,
          extensions: [],
          undeliveredRecords: 0,
        };
      }
      const result = await this.teardown(env, reason);
      // A later invocation starts a new environment, as after a spin-down.
      this.nextPhase = 'init';
      return result;
    });
  }

  /** Kills everything and closes the server; safe to call at any time, more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const done of this.waiters.values()) done(false);
    this.waiters.clear();
    const live = this.supervisor.live();
    this.env?.resources.killAll();
    for (const proc of live) this.supervisor.signal(proc, 'SIGKILL');
    await within(Promise.all(live.map((p) => p.exited)), 2000);
    await this.env?.resources.remove();
    this.env?.hosts.remove();
    this.env?.network.remove();
    this.hub.closeAll();
    this.extensionsApi.reset();
    this.runtimeApi.reset();
    await this.server.close();
  }

  // ---- waiting --------------------------------------------------------------------------------

  private changed(): void {
    for (const check of [...this.waiters.keys()]) check();
  }

  /** Resolves true when `condition` holds, false at `deadlineMs` or on close. */
  private waitUntil(condition: () => boolean, deadlineMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolveWait) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (value: boolean) => {
        this.waiters.delete(check);
        clearTimeout(timer);
        resolveWait(value);
      };
      const check = () => {
        if (condition()) finish(true);
      };
      this.waiters.set(check, finish);
      if (Number.isFinite(deadlineMs)) {
        timer = setTimeout(() => finish(condition()), Math.max(0, deadlineMs - nowMs()));
      }
    });
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = this.serial.then(work);
    this.serial = run.catch(() => undefined);
    return run;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the simulator is closed');
  }

  // ---- events from the APIs and processes -----------------------------------------------------

  private fail(env: Environment | null, errorType: string): void {
    if (!env || env.failure) return;
    env.failure = { errorType };
    this.changed();
  }

  private onRuntimeOutcome(invocation: RuntimeInvocation, outcome: RuntimeOutcome): void {
    const active = this.active.get(invocation.requestId);
    if (active && !active.outcome) active.outcome = outcome;
    this.changed();
  }

  private onProcessExit(env: Environment, proc: ManagedProcess): void {
    if (this.env === env && !env.teardown) {
      // The kernel's OOM killer picked a process: Lambda ends the whole environment for it.
      const oomKills = env.resources.oomKills();
      if (oomKills > 0) {
        this.timeline.record({
          kind: 'out-of-memory',
          oomKills,
          memoryLimitMB: env.resources.info.memoryLimitMB,
        });
        this.fail(env, 'Runtime.OutOfMemory');
        env.resources.killAll();
      } else if (proc.role === 'function') this.fail(env, 'Runtime.ExitError');
      else {
        const reported = this.extensionsApi.get(proc.name)?.reportedError;
        this.fail(env, reported?.errorType ?? 'Extension.Crash');
      }
    }
    this.changed();
  }

  private onLogLine(proc: ManagedProcess, stream: 'stdout' | 'stderr', line: string, atMs: number): void {
    // In JSON format a wrapped line carries the invocation it belongs to, when that is unambiguous.
    const requestId = this.active.size === 1 ? this.active.keys().next().value : undefined;
    const type = proc.role === 'function' ? 'function' : 'extension';
    this.hub.emit(type, logRecord(this.options.logFormat, line, atMs, stream, requestId), atMs);
  }

  // ---- init -----------------------------------------------------------------------------------

  private ensureInitialized(explicit = false): Promise<InitResult> {
    if (this.env && !this.env.failure && this.env.initResult?.status === 'success') {
      return Promise.resolve(this.env.initResult);
    }
    if (!this.initializing) {
      this.initializing = (async () => {
        try {
          if (this.env) await this.teardown(this.env, 'failure');
          return await this.initialize(explicit);
        } finally {
          this.initializing = null;
        }
      })();
    }
    return this.initializing;
  }

  private environmentSpec(runtimeApi: string): EnvironmentSpec {
    const o = this.options;
    return {
      runtimeApi,
      functionName: o.functionName,
      functionVersion: o.functionVersion,
      memorySizeMB: o.memorySizeMB,
      region: o.region,
      mode: o.mode,
      optDir: o.optDir,
      callerEnv: o.env,
    };
  }

  private async initialize(freezeAfter: boolean): Promise<InitResult> {
    await this.server.listen();
    const o = this.options;
    const phase = o.mode === 'snap-start' ? 'snap-start' : this.nextPhase;
    this.nextPhase = 'invoke';
    const initializationType = initializationTypeOf(o.mode);
    const startedAtMs = nowMs();
    // Made first: it is the one part that can fail (and then there is nothing to clean up).
    const network = o.network?.private
      ? await EnvironmentNetwork.create(Number(this.server.address.split(':')[1]), o.network.hostPorts ?? [])
      : EnvironmentNetwork.host(this.server.address);
    const resources = EnvironmentResources.create({
      memorySizeMB: o.memorySizeMB,
      memoryLimitMB: o.memoryLimitMB,
      unthrottled: o.unthrottled,
      control: o.resourceControl,
    });
    const env: Environment = {
      phase,
      startedAtMs,
      initOver: false,
      extensions: new Map(),
      coldPending: true,
      resources,
      hosts: SandboxHosts.create('127.0.0.1', o.sandboxHosts),
      network,
    };
    // Telemetry pushes go to listeners inside the environment's own network.
    this.hub.connectInside = env.network.isPrivate ? (port) => env.network.connectInside(port) : undefined;
    this.env = env;
    this.timeline.record({ kind: 'resources', info: resources.info });
    const deadlineMs = env.startedAtMs + o.initTimeoutMs;
    // SnapStart inits before the snapshot, out of sight: the environment only reports its restore.
    const reportInit = o.mode !== 'snap-start';
    this.hub.beginInit();
    this.timeline.record({ kind: 'init-start', phase, initializationType, atMs: env.startedAtMs });
    if (reportInit) {
      this.hub.emit(
        'platform.initStart',
        platform.initStart({
          initializationType,
          phase,
          functionName: o.functionName,
          functionVersion: o.functionVersion,
          instanceId: o.mode === 'managed-instances' ? randomHex(16) : undefined,
          runtimeVersion: RUNTIME_VERSION,
          runtimeVersionArn: RUNTIME_VERSION_ARN,
        }),
        env.startedAtMs,
      );
    }

    const spec = this.environmentSpec(env.network.info.runtimeApi);
    const extEnv = extensionEnv(spec);
    for (const ext of findExtensions(o.optDir)) {
      const proc = this.supervisor.spawn({
        role: 'extension',
        name: ext.name,
        ...this.wrap(env, ext.path, []),
        env: extEnv,
        cwd: o.optDir ?? process.cwd(),
      });
      env.extensions.set(ext.name, proc);
      proc.exited.then(() => this.onProcessExit(env, proc));
    }

    // Extensions register first; the runtime starts once they all have.
    const launched = [...env.extensions.keys()];
    let ok = await this.waitUntil(
      () => env.failure !== undefined || launched.every((name) => this.extensionsApi.get(name)),
      deadlineMs,
    );
    let runtimeDone = false;
    if (ok && !env.failure) {
      const proc = this.supervisor.spawn({
        role: 'function',
        name: 'function',
        ...this.wrap(env, process.execPath, [...o.functionNodeArgs, o.runtimeBootstrap]),
        env: functionEnv(spec, {
          handlerFile: o.handler,
          handlerExport: o.handlerExport,
          logFormat: o.logFormat,
          bootstrap: o.runtimeBootstrap,
          maxConcurrency: o.maxConcurrency,
        }),
        cwd: resolve(o.handler, '..'),
      });
      env.functionProcess = proc;
      proc.exited.then(() => this.onProcessExit(env, proc));
      ok = await this.waitUntil(() => env.failure !== undefined || this.runtimeApi.nextCount > 0, deadlineMs);
      if (ok && !env.failure) {
        runtimeDone = true;
        if (reportInit) {
          this.hub.emit(
            'platform.initRuntimeDone',
            platform.initRuntimeDone({
              initializationType,
              phase,
              status: 'success',
            }),
          );
        }
        ok = await this.waitUntil(
          () =>
            env.failure !== undefined ||
            this.extensionsApi.registrations().every((r) => r.firstNextAtMs !== undefined),
          deadlineMs,
        );
      }
    }

    const endedAtMs = nowMs();
    const failure = env.failure;
    const status: InitResult['status'] = failure ? 'error' : ok ? 'success' : 'timeout';
    const errorType = failure?.errorType ?? (status === 'timeout' ? 'Sandbox.Timedout' : undefined);
    env.initOver = true;
    this.hub.endInit();
    if (reportInit) {
      if (!runtimeDone) {
        this.hub.emit(
          'platform.initRuntimeDone',
          platform.initRuntimeDone({ initializationType, phase, status, errorType }),
        );
      }
      this.hub.emit(
        'platform.initReport',
        platform.initReport({
          initializationType,
          phase,
          status,
          errorType,
          durationMs: endedAtMs - env.startedAtMs,
        }),
      );
    }
    const result: InitResult = {
      status,
      errorType,
      phase,
      initializationType,
      startedAtMs: env.startedAtMs,
      endedAtMs,
      durationMs: endedAtMs - env.startedAtMs,
      functionPid: env.functionProcess?.pid,
      extensions: this.extensionInitInfo(env),
      resources: env.resources.info,
      sandboxHosts: env.hosts.info,
      network: env.network.info,
    };
    env.initResult = result;
    this.inits.push(result);
    this.timeline.record({
      kind: 'init-end',
      status,
      errorType,
      durationMs: result.durationMs,
      atMs: endedAtMs,
    });

    if (status !== 'success') {
      await this.teardown(env, 'failure');
      return result;
    }
    if (o.mode === 'snap-start') await this.snapshotAndRestore(env);
    if (freezeAfter) await this.settleAndFreeze();
    return result;
  }

  /** The command that starts a process inside the environment: its cgroup, then its /etc/hosts. */
  private wrap(env: Environment, command: string, args: string[]): { command: string; args: string[] } {
    const inHosts = env.hosts.wrap(command, args);
    const inNetwork = env.network.wrap(inHosts.command, inHosts.args);
    return env.resources.wrap(inNetwork.command, inNetwork.args);
  }

  private extensionInitInfo(env: Environment): ExtensionInitInfo[] {
    return [...env.extensions.values()].map((proc) => {
      const reg = this.extensionsApi.get(proc.name);
      return {
        name: proc.name,
        pid: proc.pid,
        startedAtMs: proc.startedAtMs,
        registeredAtMs: reg?.registeredAtMs,
        firstNextAtMs: reg?.firstNextAtMs,
        startToFirstNextMs:
          reg?.firstNextAtMs === undefined ? undefined : reg.firstNextAtMs - proc.startedAtMs,
        events: reg?.events ?? [],
      };
    });
  }

  /** The snapshot is taken with everything parked; restore resumes the very same processes. */
  private async snapshotAndRestore(env: Environment): Promise<void> {
    const o = this.options;
    await this.hub.flushAll(DELIVERY_SETTLE_MS);
    await this.freezer.freeze(this.supervisor.live(), env.resources);
    const restoreStartMs = nowMs();
    this.hub.emit(
      'platform.restoreStart',
      platform.restoreStart({
        functionName: o.functionName,
        functionVersion: o.functionVersion,
        runtimeVersion: RUNTIME_VERSION,
        runtimeVersionArn: RUNTIME_VERSION_ARN,
      }),
      restoreStartMs,
    );
    this.freezer.thaw();
    // The runtime's after-restore hooks would run here; the parked processes just resume.
    await new Promise((r) => setImmediate(r));
    const restoreEndMs = nowMs();
    this.hub.emit(
      'platform.restoreRuntimeDone',
      platform.restoreRuntimeDone({
        status: 'success',
      }),
    );
    env.restoreDurationMs = restoreEndMs - restoreStartMs;
    this.hub.emit(
      'platform.restoreReport',
      platform.restoreReport({ status: 'success', durationMs: env.restoreDurationMs }),
    );
    this.timeline.record({ kind: 'restore', durationMs: env.restoreDurationMs });
  }

  /** Telemetry queued so far goes out, then every process is stopped. */
  private async settleAndFreeze(): Promise<void> {
    if (!this.options.freeze) return;
    await this.hub.flushAll(DELIVERY_SETTLE_MS);
    await this.freeze();
  }

  private async freeze(): Promise<void> {
    this.hub.pause();
    await this.freezer.freeze(this.supervisor.live(), this.env?.resources);
  }

  private thaw(): void {
    this.freezer.thaw();
    this.hub.resume();
  }

  // ---- invoke ---------------------------------------------------------------------------------

  private failedInit(init: InitResult, requestId: string): InvocationResult {
    const atMs = nowMs();
    const result: InvocationResult = {
      requestId,
      status: 'error',
      errorType: init.errorType,
      coldStart: true,
      init,
      tracing: { value: '', spanId: '', functionHeader: '' },
      timestamps: { startMs: atMs, reportMs: atMs },
      durationMs: 0,
      extensionNextMs: {},
    };
    this.invocations.push(result);
    return result;
  }

  private async invokeOnce(payload: unknown, options: InvokeOptions): Promise<InvocationResult> {
    const o = this.options;
    const managed = o.mode === 'managed-instances';
    const requestId = options.requestId ?? randomUUID();
    const init = await this.ensureInitialized();
    const env = this.env;
    if (init.status !== 'success' || !env) return this.failedInit(init, requestId);
    const cold = env.coldPending;
    env.coldPending = false;
    this.thaw();

    this.invokeCount++;
    const tracingValue = options.tracing ?? traceValueFor(options.tracingMode ?? o.tracing, this.invokeCount);
    const spanId = randomHex(8);
    const tracing = tracingRecord(spanId, tracingValue);
    const functionHeader = functionTraceHeader(tracingValue, spanId);
    const startMs = nowMs();
    const deadlineMs = startMs + (options.timeoutMs ?? o.timeoutMs);
    const active: ActiveInvocation = { requestId };
    this.active.set(requestId, active);
    this.timeline.record({ kind: 'invoke-start', requestId, atMs: startMs });
    this.hub.emit(
      'platform.start',
      platform.start({ requestId, version: o.functionVersion, tracing }),
      startMs,
    );

    const invokeExtensions = managed
      ? []
      : this.extensionsApi.registrations().filter((r) => r.events.includes('INVOKE') && !r.reportedError);
    for (const reg of invokeExtensions) {
      this.extensionsApi.dispatch(reg, {
        eventType: 'INVOKE',
        deadlineMs: Math.round(deadlineMs),
        requestId,
        invokedFunctionArn: this.invokedFunctionArn,
        tracing: { type: TRACE_HEADER_TYPE, value: tracingValue },
      });
    }
    const invocation: RuntimeInvocation = {
      requestId,
      payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload ?? null)),
      deadlineMs,
      invokedFunctionArn: this.invokedFunctionArn,
      traceHeader: functionHeader,
    };
    this.runtimeApi.enqueue(invocation);

    let outOfMemory = false;
    if (options.outOfMemory) {
      await this.waitUntil(
        () => invocation.deliveredAtMs !== undefined || env.failure !== undefined,
        deadlineMs,
      );
      if (!env.failure && env.functionProcess) {
        outOfMemory = true;
        this.fail(env, 'Runtime.OutOfMemory');
        this.supervisor.signal(env.functionProcess, 'SIGKILL');
      }
    }

    // The function answers, fails, or runs out of time.
    await this.waitUntil(() => active.outcome !== undefined || env.failure !== undefined, deadlineMs);
    // One turn of the event loop lets the function's last lines, written before it answered, in.
    await new Promise((r) => setImmediate(r));
    const outcome = active.outcome;
    let status: InvocationResult['status'];
    let errorType: string | undefined;
    if (outcome) {
      status = outcome.kind === 'response' ? 'success' : 'error';
      errorType = outcome.errorType;
    } else if (env.failure) {
      status = 'error';
      errorType = env.failure.errorType;
    } else {
      status = 'timeout';
      errorType = 'Sandbox.Timedout';
    }
    if (!outcome) this.runtimeApi.abandon(requestId);
    const responseEndMs = outcome?.endMs ?? nowMs();
    const responseSpans: SpanRecord[] = outcome
      ? [
          span('responseLatency', startMs, outcome.startMs),
          span('responseDuration', outcome.startMs, outcome.endMs),
        ]
      : [];
    if (!managed) {
      this.hub.emit(
        'platform.runtimeDone',
        platform.runtimeDone({
          requestId,
          status,
          errorType,
          durationMs: responseEndMs - startMs,
          producedBytes: outcome?.body.length ?? 0,
          spans: responseSpans,
          tracing,
        }),
      );
    }

    // The invocation ends when the runtime and every INVOKE extension are back on next.
    let extensionsNextMs: number | undefined;
    const extensionNextMs: Record<string, number> = {};
    if (!managed && outcome) {
      // Already failed (an extension died while the function ran): nothing to wait for.
      const done = await this.waitUntil(
        () =>
          env.failure !== undefined ||
          (this.runtimeApi.parkedCount > 0 &&
            invokeExtensions.every(
              (r) => this.extensionsApi.isParked(r) && (r.lastNextAtMs ?? 0) >= startMs,
            )),
        deadlineMs,
      );
      const failure = failureOf(env);
      if (failure) {
        status = 'error';
        errorType = failure.errorType;
      } else if (!done) {
        status = 'timeout';
        errorType = 'Sandbox.Timedout';
      } else {
        for (const reg of invokeExtensions) extensionNextMs[reg.name] = reg.lastNextAtMs!;
        extensionsNextMs = Math.max(responseEndMs, ...Object.values(extensionNextMs));
      }
    }
    const endMs = extensionsNextMs ?? responseEndMs;
    const durationMs = endMs - startMs;
    const postRuntimeExtensionsDurationMs =
      extensionsNextMs === undefined ? undefined : Math.max(0, extensionsNextMs - responseEndMs);
    const maxMemoryUsedMB =
      outOfMemory || errorType === 'Runtime.OutOfMemory' ? o.memorySizeMB : this.maxMemoryUsedMB(env);
    const reportSpans: SpanRecord[] = [];
    if (invokeExtensions.length > 0 && extensionsNextMs !== undefined) {
      reportSpans.push(span('extensionOverhead', responseEndMs, extensionsNextMs));
    }
    const report = managed
      ? platform.report({
          requestId,
          status,
          errorType,
          metrics: { durationMs },
          spans: responseSpans,
          tracing,
        })
      : platform.report({
          requestId,
          status,
          errorType,
          metrics: {
            durationMs,
            billedDurationMs: Math.ceil(durationMs),
            memorySizeMB: o.memorySizeMB,
            maxMemoryUsedMB,
            initDurationMs: cold && o.mode !== 'snap-start' ? env.initResult?.durationMs : undefined,
            restoreDurationMs: cold && o.mode === 'snap-start' ? env.restoreDurationMs : undefined,
          },
          spans: reportSpans,
          tracing,
        });

    const needsReset = env.failure !== undefined || (status === 'timeout' && !managed);
    const freezeNow = !needsReset && o.freeze && this.active.size === 1;
    if (freezeNow) await this.hub.flushAll(DELIVERY_SETTLE_MS);
    const reportMs = nowMs();
    this.hub.emit('platform.report', report, reportMs);
    this.active.delete(requestId);
    this.timeline.record({ kind: 'invoke-end', requestId, status, errorType, atMs: reportMs });

    const result: InvocationResult = {
      requestId,
      status,
      errorType,
      responseText: outcome?.body.toString('utf8'),
      response: outcome ? parseResponse(outcome.body) : undefined,
      coldStart: cold,
      init: cold ? env.initResult : undefined,
      tracing: { value: tracingValue, spanId, functionHeader },
      timestamps: {
        startMs,
        responseStartMs: outcome?.startMs,
        runtimeResponseMs: outcome?.endMs,
        runtimeNextMs: outcome ? this.runtimeApi.lastNextAtMs : undefined,
        extensionsNextMs,
        reportMs,
      },
      durationMs,
      billedDurationMs: managed ? undefined : Math.ceil(durationMs),
      maxMemoryUsedMB: managed ? undefined : maxMemoryUsedMB,
      postRuntimeExtensionsDurationMs,
      extensionNextMs,
    };

    if (needsReset) {
      result.reset = await this.teardown(env, status === 'timeout' ? 'timeout' : 'failure');
    } else if (freezeNow) {
      if (o.telemetry?.reportDelivery === 'before-freeze') await this.hub.flushAll(DELIVERY_SETTLE_MS);
      else await this.hub.idle(DELIVERY_SETTLE_MS);
      await this.freeze();
    }
    this.invocations.push(result);
    return result;
  }

  /**
   * What Lambda reports as Max Memory Used, MB: the peak memory charged to the environment's cgroup
   * (resident memory and page cache of every process); without a cgroup, the sum of the processes'
   * peak RSS (VmHWM).
   */
  private maxMemoryUsedMB(env: Environment): number {
    const peak = env.resources.peakMemoryBytes();
    if (peak !== undefined) {
      const limitMB = env.resources.info.memoryLimitMB ?? this.options.memorySizeMB;
      return Math.min(limitMB, Math.ceil(peak / (1024 * 1024)));
    }
    let kb = 0;
    const procs = [env.functionProcess, ...env.extensions.values()];
    for (const proc of procs) {
      if (proc?.pid && !proc.exit) kb += readMemoryKb(proc.pid)?.peakKb ?? 0;
    }
    return Math.ceil(kb / 1024);
  }

  // ---- shutdown -------------------------------------------------------------------------------

  private teardown(env: Environment, reason: ShutdownReason): Promise<ShutdownResult> {
    env.teardown ??= this.runTeardown(env, reason);
    return env.teardown;
  }

  private async runTeardown(env: Environment, reason: ShutdownReason): Promise<ShutdownResult> {
    env.initOver = true;
    this.thaw();
    const startedAtMs = nowMs();
    const deadlineMs = startedAtMs + this.options.shutdownBudgetMs;
    this.timeline.record({ kind: 'shutdown-start', reason, deadlineMs, atMs: startedAtMs });

    for (const [name, proc] of env.extensions) {
      if (proc.exit) continue;
      const reg = this.extensionsApi.get(name);
      if (reg?.events.includes('SHUTDOWN') && !reg.reportedError) {
        this.extensionsApi.dispatch(reg, {
          eventType: 'SHUTDOWN',
          shutdownReason: reason,
          deadlineMs: Math.round(deadlineMs),
        });
      } else {
        // Not listening for SHUTDOWN (or already reported it is exiting): nothing to wait for.
        this.supervisor.signal(proc, 'SIGKILL');
      }
    }
    const fn = env.functionProcess;
    if (fn && !fn.exit) this.supervisor.signal(fn, reason === 'spindown' ? 'SIGTERM' : 'SIGKILL');

    const extensionProcs = [...env.extensions.values()];
    await this.waitUntil(() => extensionProcs.every((p) => p.exit !== undefined), deadlineMs);
    const all = [...extensionProcs, ...(fn ? [fn] : [])];
    for (const proc of all) if (!proc.exit) this.supervisor.signal(proc, 'SIGKILL');
    // Children that left their process group are still in the cgroup: they go with the environment.
    env.resources.killAll();
    await within(Promise.all(all.map((p) => p.exited)), 2000);
    await env.resources.remove();
    env.hosts.remove();
    env.network.remove();

    const undeliveredRecords = this.hub.closeAll();
    const extensions: ExtensionShutdownInfo[] = extensionProcs.map((proc) => ({
      name: proc.name,
      pid: proc.pid,
      receivedShutdown: this.extensionsApi.get(proc.name)?.receivedShutdown ?? false,
      exitedBeforeDeadline:
        proc.exit !== undefined && proc.exit.atMs <= deadlineMs && proc.exit.signal !== 'SIGKILL',
      exitCode: proc.exit?.code ?? null,
      signal: proc.exit?.signal ?? null,
      exitAtMs: proc.exit?.atMs,
    }));
    this.extensionsApi.reset();
    this.runtimeApi.reset();
    for (const [requestId, active] of this.active) if (!active.outcome) this.active.delete(requestId);
    const endedAtMs = nowMs();
    this.timeline.record({ kind: 'shutdown-end', reason, atMs: endedAtMs });
    if (this.env === env) this.env = null;
    const result: ShutdownResult = {
      reason,
      startedAtMs,
      deadlineMs,
      endedAtMs,
      extensions,
      undeliveredRecords,
    };
    this.shutdowns.push(result);
    return result;
  }
}

/** Read through a call: the environment's failure changes while the invocation awaits. */
function failureOf(env: Environment): Failure | undefined {
  return env.failure;
}

function parseResponse(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
