// The Lambda simulator: one API server, the extension and function processes of the current
// execution environment, and the lifecycle that drives them (init, invoke, freeze, reset, SHUTDOWN)
// in Lambda's order. The phases themselves are in init-phase.ts, invocation.ts and shutdown.ts;
// this class owns the state they share and serialises the calls that must not overlap.
import { randomUUID } from 'node:crypto';
import { sleep, within } from './clock.js';
import { Conditions } from './conditions.js';
import { handlerSetting } from './environment.js';
import { logRecord, platform } from './events.js';
import { createEnvironment, type Environment, removeEnvironment } from './execution-environment.js';
import { type ExtensionRegistration, ExtensionsApi } from './extensions-api.js';
import { Freezer } from './freezer.js';
import { ApiServer } from './http.js';
import { runInit, snapshotAndRestore } from './init-phase.js';
import { failedInit, runInvocation } from './invocation.js';
import { type ActiveInvocation, DELIVERY_SETTLE_MS, type LifecycleParts } from './lifecycle.js';
import { invokedFunctionArn, type ResolvedOptions, resolveOptions } from './options.js';
import { type ManagedProcess, ProcessSupervisor } from './processes.js';
import type { ResourceInfo } from './resources.js';
import { type RuntimeInvocation, type RuntimeOutcome, RuntimeApi } from './runtime-api.js';
import { emptyShutdown, runShutdown } from './shutdown.js';
import { TelemetryApi } from './telemetry-api.js';
import { TelemetryHub } from './telemetry-hub.js';
import { Timeline } from './timeline.js';
import type {
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

export class LambdaSimulator {
  readonly timeline = new Timeline();
  readonly options: ResolvedOptions;
  readonly invocations: InvocationResult[] = [];
  readonly inits: InitResult[] = [];
  readonly shutdowns: ShutdownResult[] = [];

  private readonly hub: TelemetryHub;
  private readonly server: ApiServer;
  private readonly runtimeApi: RuntimeApi;
  private readonly extensionsApi: ExtensionsApi;
  private readonly supervisor: ProcessSupervisor;
  private readonly freezer: Freezer;
  private readonly conditions = new Conditions();
  /** What the init, invoke and shutdown phases work with. */
  private readonly parts: LifecycleParts;
  private env: Environment | null = null;
  private nextPhase: 'init' | 'invoke' = 'init';
  private initializing: Promise<InitResult> | null = null;
  private serial: Promise<unknown> = Promise.resolve();
  private readonly active = new Map<string, ActiveInvocation>();
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
    const changed = () => this.conditions.changed();
    this.runtimeApi = new RuntimeApi({
      timeline: this.timeline,
      initOver,
      onOutcome: (invocation, outcome) => this.onRuntimeOutcome(invocation, outcome),
      onInitError: (errorType) => this.fail(this.env, errorType),
      onChange: changed,
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
      onChange: changed,
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
    this.parts = {
      options: opts,
      timeline: this.timeline,
      hub: this.hub,
      supervisor: this.supervisor,
      freezer: this.freezer,
      runtimeApi: this.runtimeApi,
      extensionsApi: this.extensionsApi,
      conditions: this.conditions,
      active: this.active,
      fail: (env, errorType) => this.fail(env, errorType),
      processExited: (env, proc) => this.onProcessExit(env, proc),
      freeze: () => this.freeze(),
      thaw: () => this.thaw(),
      teardown: (env, reason) => this.teardown(env, reason),
    };
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
    return invokedFunctionArn(this.options);
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
      if (!env) return emptyShutdown(reason);
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
    this.conditions.close();
    const live = this.supervisor.live();
    this.env?.resources.killAll();
    for (const proc of live) this.supervisor.signal(proc, 'SIGKILL');
    await within(Promise.all(live.map((p) => p.exited)), 2000);
    if (this.env) await removeEnvironment(this.env);
    this.hub.closeAll();
    this.extensionsApi.reset();
    this.runtimeApi.reset();
    await this.server.close();
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
    this.conditions.changed();
  }

  private onRuntimeOutcome(invocation: RuntimeInvocation, outcome: RuntimeOutcome): void {
    const active = this.active.get(invocation.requestId);
    if (active && !active.outcome) active.outcome = outcome;
    this.conditions.changed();
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
    this.conditions.changed();
  }

  private onLogLine(proc: ManagedProcess, stream: 'stdout' | 'stderr', line: string, atMs: number): void {
    // In JSON format a wrapped line carries the invocation it belongs to, when that is unambiguous.
    const requestId = this.active.size === 1 ? this.active.keys().next().value : undefined;
    const type = proc.role === 'function' ? 'function' : 'extension';
    this.hub.emit(type, logRecord(this.options.logFormat, line, atMs, stream, requestId), atMs);
  }

  // ---- the lifecycle ----------------------------------------------------------------------------

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

  private async initialize(freezeAfter: boolean): Promise<InitResult> {
    await this.server.listen();
    const o = this.options;
    const phase = o.mode === 'snap-start' ? 'snap-start' : this.nextPhase;
    this.nextPhase = 'invoke';
    const env = await createEnvironment(o, phase, this.server.address);
    // Telemetry pushes go to listeners inside the environment's own network.
    this.hub.connectInside = env.network.isPrivate ? (port) => env.network.connectInside(port) : undefined;
    this.env = env;
    const result = await runInit(this.parts, env);
    this.inits.push(result);
    if (result.status !== 'success') {
      await this.teardown(env, 'failure');
      return result;
    }
    if (o.mode === 'snap-start') await snapshotAndRestore(this.parts, env);
    // Telemetry queued so far goes out, then every process is stopped.
    if (freezeAfter && o.freeze) {
      await this.hub.flushAll(DELIVERY_SETTLE_MS);
      await this.freeze();
    }
    return result;
  }

  private async invokeOnce(payload: unknown, options: InvokeOptions): Promise<InvocationResult> {
    const requestId = options.requestId ?? randomUUID();
    const init = await this.ensureInitialized();
    const env = this.env;
    const result =
      init.status !== 'success' || !env
        ? failedInit(init, requestId)
        : await runInvocation(this.parts, env, { requestId, payload, options, ordinal: ++this.invokeCount });
    this.invocations.push(result);
    return result;
  }

  private async freeze(): Promise<void> {
    this.hub.pause();
    await this.freezer.freeze(this.supervisor.live(), this.env?.resources);
  }

  private thaw(): void {
    this.freezer.thaw();
    this.hub.resume();
  }

  private teardown(env: Environment, reason: ShutdownReason): Promise<ShutdownResult> {
    env.teardown ??= (async () => {
      const result = await runShutdown(this.parts, env, reason);
      if (this.env === env) this.env = null;
      this.shutdowns.push(result);
      return result;
    })();
    return env.teardown;
  }
}
