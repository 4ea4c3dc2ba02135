// Drives the extension through Lambda's lifecycle: register, start the telemetry listener, subscribe
// (before the first /event/next, or Lambda refuses), then loop on /event/next handing INVOKE and
// SHUTDOWN to the hooks. Every failure path ends the process with a clear message; none hangs.

import { describeDetail, type ExtensionLogger, log as defaultLog } from '../extension-log.js';
import {
  ExtensionsApiClient,
  type FunctionErrorType,
  type LifecycleEventType,
  type RegisterResult,
} from './extensions-api.js';
import { RuntimeHttp } from './runtime-http.js';
import { type SubscribeOutcome, subscribeTelemetry, type TelemetryBuffering } from './telemetry-api.js';
import type {
  InvokeEvent,
  LifecycleEvent,
  RegisterResponse,
  ShutdownEvent,
  TelemetryEvent,
} from './telemetry-events.js';
import { type ListenerStats, startTelemetryListener, type TelemetryListener } from './telemetry-listener.js';
import type { ParseStats } from './telemetry-parse.js';
import type { MemoryBudget } from '../pipeline/memory-budget.js';
import type { Clock, Scheduler, TimerHandle } from '../model/time.js';
import { platform } from '../platform/index.js';

export interface RegisteredInfo {
  extensionId: string;
  extensionName: string;
  register: RegisterResponse;
  /** INVOKE and SHUTDOWN, or SHUTDOWN only on Lambda Managed Instances. */
  events: LifecycleEventType[];
  telemetry: SubscribeOutcome;
  listener: { address: string; port: number };
  /** Live counters, for self-telemetry. */
  parseStats: ParseStats;
  listenerStats: ListenerStats;
  timings: InitTimings;
}

/** Milliseconds; `sinceProcessStartMs` covers Node's own start-up and module loading too. */
export interface InitTimings {
  registerMs: number;
  listenerMs: number;
  subscribeMs: number;
  sinceProcessStartMs: number;
}

export interface LifecycleHooks {
  /** Before the first /event/next. Telemetry pushed meanwhile is held back until it resolves. */
  onRegistered?(info: RegisteredInfo): void | Promise<void>;
  /** Each push's events; must not block (the push was already answered). */
  onTelemetry(events: TelemetryEvent[]): void;
  /** Resolves when the extension is ready to call /event/next again. Bounded by the invoke deadline. */
  onInvoke(event: InvokeEvent): Promise<void>;
  /** Final work; must finish before event.deadlineMs (it is cut off there). */
  onShutdown(event: ShutdownEvent): Promise<void>;
}

/** A hook error may name the init error Lambda should report, e.g. `Extension.ConfigInvalid`. */
export interface HookError extends Error {
  errorType?: string;
}

export interface LifecycleOptions {
  hooks: LifecycleHooks;
  env?: NodeJS.ProcessEnv;
  logger?: ExtensionLogger;
  buffering?: Partial<TelemetryBuffering>;
  maxBodyBytes?: number;
  /** The extension's memory budget, shared by the listener with the receiver and export queues. */
  budget?: MemoryBudget;
  /** Listener bind address override (default: what sandbox.localdomain resolves to). */
  listenHost?: string;
  /** Telemetry destination host override (default sandbox.localdomain, which Lambda requires). */
  destinationHost?: string;
  /** Ends the process; injectable for tests. Default process.exit. */
  exit?: (code: number) => void;
  /** Install SIGTERM/SIGINT handlers (default true). */
  handleSignals?: boolean;
  /** Time given to hooks when a signal, not Lambda, asks for shutdown. Default 1500 ms. */
  signalShutdownWindowMs?: number;
  /** Bound on register, subscribe and error reports. Default 5000 ms. */
  callTimeoutMs?: number;
  /** Wall clock for deadlines; default the platform's. */
  clock?: Clock;
  /** Timers for the invoke and shutdown deadlines; default the platform's (unref'd). */
  scheduler?: Scheduler;
}

/** Kept between the hard-exit timer and SIGKILL at the deadline. */
const DEADLINE_MARGIN_MS = 50;

class LifecycleFailure extends Error {
  constructor(
    readonly errorType: FunctionErrorType,
    message: string,
    readonly phase: 'init' | 'invoke',
  ) {
    super(message);
  }
}

const VALID_ERROR_TYPE = /^[A-Za-z][A-Za-z0-9]*\.[A-Za-z0-9]+$/;

/** Runs the extension until shutdown or failure; resolves with the exit code after calling exit(). */
export async function runLifecycle(options: LifecycleOptions): Promise<number> {
  const lifecycle = new Lifecycle(options);
  const code = await lifecycle.run();
  (options.exit ?? exitProcess)(code);
  return code;
}

/**
 * Ends the process. The layer's launcher waits for the executable it started; once the work is done
 * it is told so (SIGUSR1) and exits at once, instead of after the runtime has torn this process down
 * (a few ms, counted in Lambda's SHUTDOWN phase).
 */
function exitProcess(code: number): void {
  const launcher = process.env['LAMBDA_OTEL_LAUNCHER_PID'];
  // Only with every line written: once the launcher has gone, this process may be killed before
  // it flushes anything still buffered.
  const written = process.stdout.writableLength === 0 && process.stderr.writableLength === 0;
  if (code === 0 && written && launcher !== undefined && launcher === String(process.ppid)) {
    try {
      process.kill(process.ppid, 'SIGUSR1');
    } catch {
      // the launcher is gone: nothing waits for this process
    }
  }
  process.exit(code);
}

class Lifecycle {
  private readonly hooks: LifecycleHooks;
  private readonly env: NodeJS.ProcessEnv;
  private readonly logger: ExtensionLogger;
  private api: ExtensionsApiClient | undefined;
  private listener: TelemetryListener | undefined;
  private pendingTelemetry: TelemetryEvent[][] | undefined = [];
  private stopRequested: ShutdownEvent | undefined;
  private wakeOnStop: ((event: ShutdownEvent) => void) | undefined;
  private shuttingDown = false;
  private readonly removeSignalHandlers: () => void;
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;

  constructor(private readonly options: LifecycleOptions) {
    this.clock = options.clock ?? platform().clock;
    this.scheduler = options.scheduler ?? platform().scheduler;
    this.hooks = options.hooks;
    this.env = options.env ?? process.env;
    this.logger = options.logger ?? defaultLog;
    this.removeSignalHandlers = options.handleSignals === false ? () => {} : this.installSignalHandlers();
  }

  async run(): Promise<number> {
    try {
      await this.init();
      return await this.loop();
    } catch (err) {
      return await this.fail(err);
    } finally {
      this.removeSignalHandlers();
      this.listener?.close(100).catch(() => {});
      this.api?.close();
    }
  }

  private async init(): Promise<void> {
    const t0 = performance.now();
    let http: RuntimeHttp;
    try {
      http = new RuntimeHttp(this.env['AWS_LAMBDA_RUNTIME_API']);
    } catch (err) {
      throw new LifecycleFailure('Extension.RuntimeApiMissing', describeDetail(err), 'init');
    }
    const api = new ExtensionsApiClient({
      http,
      env: this.env,
      ...(this.options.callTimeoutMs !== undefined && { callTimeoutMs: this.options.callTimeoutMs }),
    });
    this.api = api;

    let registered: RegisterResult;
    try {
      registered = await api.register();
    } catch (err) {
      throw new LifecycleFailure(
        'Extension.RegisterFailed',
        `register as ${JSON.stringify(api.extensionName)} failed: ${describeDetail(err)}`,
        'init',
      );
    }
    const t1 = performance.now();
    this.logger.debug(`registered as ${api.extensionName} for ${registered.events.join(', ')}`);

    try {
      this.listener = await startTelemetryListener({
        onEvents: (events) => this.deliverTelemetry(events),
        logger: this.logger,
        ...(this.options.maxBodyBytes !== undefined && { maxBodyBytes: this.options.maxBodyBytes }),
        ...(this.options.listenHost !== undefined && { host: this.options.listenHost }),
        ...(this.options.budget !== undefined && { budget: this.options.budget }),
      });
    } catch (err) {
      throw new LifecycleFailure(
        'Extension.TelemetryListenerFailed',
        `telemetry listener could not start: ${describeDetail(err)}`,
        'init',
      );
    }
    const t2 = performance.now();

    let telemetry: SubscribeOutcome;
    try {
      telemetry = await subscribeTelemetry({
        http,
        extensionId: registered.extensionId,
        port: this.listener.port,
        logger: this.logger,
        ...(this.options.buffering !== undefined && { buffering: this.options.buffering }),
        ...(this.options.destinationHost !== undefined && { destinationHost: this.options.destinationHost }),
        ...(this.options.callTimeoutMs !== undefined && { timeoutMs: this.options.callTimeoutMs }),
      });
    } catch (err) {
      throw new LifecycleFailure('Extension.TelemetrySubscribeFailed', describeDetail(err), 'init');
    }
    const t3 = performance.now();

    const info: RegisteredInfo = {
      extensionId: registered.extensionId,
      extensionName: api.extensionName,
      register: registered.response,
      events: registered.events,
      telemetry,
      listener: { address: this.listener.address, port: this.listener.port },
      parseStats: this.listener.parser.stats,
      listenerStats: this.listener.stats,
      timings: {
        registerMs: t1 - t0,
        listenerMs: t2 - t1,
        subscribeMs: t3 - t2,
        sinceProcessStartMs: performance.now(),
      },
    };
    try {
      await this.hooks.onRegistered?.(info);
    } catch (err) {
      const named = (err as HookError | undefined)?.errorType;
      const deliberate = typeof named === 'string' && VALID_ERROR_TYPE.test(named);
      // A hook that names the error type has already said what is wrong, in the user's terms.
      throw new LifecycleFailure(
        (deliberate ? named : 'Extension.InitFailed') as FunctionErrorType,
        deliberate && err instanceof Error
          ? err.message
          : `extension start-up failed: ${describeDetail(err)}`,
        'init',
      );
    }
    // Release telemetry that arrived while the hooks were getting ready, in arrival order.
    const held = this.pendingTelemetry ?? [];
    this.pendingTelemetry = undefined;
    for (const events of held) this.safeTelemetry(events);
  }

  private deliverTelemetry(events: TelemetryEvent[]): void {
    if (this.pendingTelemetry !== undefined) this.pendingTelemetry.push(events);
    else this.safeTelemetry(events);
  }

  private safeTelemetry(events: TelemetryEvent[]): void {
    try {
      this.hooks.onTelemetry(events);
    } catch (err) {
      this.logger.once('lifecycle.onTelemetry', 'error', 'telemetry hook failed; batch lost', err);
    }
  }

  private async loop(): Promise<number> {
    const api = this.api as ExtensionsApiClient;
    let phase: 'init' | 'invoke' = 'init';
    for (;;) {
      const stop = this.stopRequested;
      if (stop !== undefined) return this.shutdown(stop);
      const next = api.nextEvent();
      let event: LifecycleEvent;
      try {
        event = await this.untilStop(next);
      } catch (err) {
        if (this.stopRequested !== undefined) continue;
        throw new LifecycleFailure('Extension.NextEventFailed', describeDetail(err), phase);
      }
      phase = 'invoke';
      if (event.eventType === 'SHUTDOWN') {
        // A signal may have won the race; the pending /event/next dies with the agent.
        next.catch(() => {});
        return this.shutdown(event);
      }
      await this.invoke(event);
    }
  }

  /** Resolves with the promise's value, or with the stop event if a signal asks for shutdown first. */
  private untilStop<T>(promise: Promise<T>): Promise<T | ShutdownEvent> {
    return new Promise((resolve, reject) => {
      const stop = this.stopRequested;
      if (stop !== undefined) {
        resolve(stop);
        return;
      }
      const wake = (event: ShutdownEvent): void => resolve(event);
      this.wakeOnStop = wake;
      promise.then(resolve, reject).finally(() => {
        // A later wait may already have installed its own wake-up.
        if (this.wakeOnStop === wake) this.wakeOnStop = undefined;
      });
    });
  }

  private async invoke(event: InvokeEvent): Promise<void> {
    const budget = event.deadlineMs - this.clock.now() - DEADLINE_MARGIN_MS;
    let timer: TimerHandle | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = this.scheduler.setTimeout(() => resolve('deadline'), Math.max(0, budget));
    });
    try {
      const hook = Promise.resolve()
        .then(() => this.hooks.onInvoke(event))
        .then(() => 'done' as const);
      const outcome = await this.untilStop(Promise.race([hook, deadline]));
      if (outcome === 'deadline') {
        hook.catch(() => {});
        this.logger.warn(
          `invoke hook for ${event.requestId} still running at the invocation deadline; moving on`,
        );
      }
    } catch (err) {
      this.logger.once(
        'lifecycle.onInvoke',
        'error',
        'invoke hook failed (further failures not logged)',
        err,
      );
    } finally {
      timer?.cancel();
    }
  }

  private async shutdown(event: ShutdownEvent): Promise<number> {
    if (this.shuttingDown) return 0;
    this.shuttingDown = true;
    const startedMs = performance.now();
    const startCpu = process.cpuUsage();
    const budget = event.deadlineMs - this.clock.now() - DEADLINE_MARGIN_MS;
    this.logger.debug(`shutdown (${event.shutdownReason}), ${Math.round(budget)} ms left`);
    // Safety net: whatever is still running at the deadline, leave before SIGKILL.
    const exit = this.options.exit ?? exitProcess;
    const hardExit = this.scheduler.setTimeout(
      () => {
        this.logger.warn('shutdown work overran the deadline; exiting');
        exit(0);
      },
      Math.max(0, budget),
    );

    let timer: TimerHandle | undefined;
    try {
      const hook = Promise.resolve().then(() => this.hooks.onShutdown(event));
      const cutOff = new Promise<'deadline'>((resolve) => {
        timer = this.scheduler.setTimeout(() => resolve('deadline'), Math.max(0, budget - 10));
      });
      const outcome = await Promise.race([hook, cutOff]);
      if (outcome === 'deadline') {
        hook.catch(() => {});
        this.logger.warn('shutdown hook cut off at the deadline');
      }
    } catch (err) {
      this.logger.error('shutdown hook failed', err);
    } finally {
      timer?.cancel();
    }
    const left = event.deadlineMs - this.clock.now() - DEADLINE_MARGIN_MS;
    await this.listener?.close(Math.max(0, Math.min(200, left - 10)));
    hardExit.cancel();
    if (this.logger.enabled('debug')) {
      const cpu = process.cpuUsage(startCpu);
      this.logger.debug(
        `exiting ${(performance.now() - startedMs).toFixed(1)} ms after SHUTDOWN` +
          ` (CPU ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms)`,
      );
    }
    return 0;
  }

  /** Reports the failure to Lambda when an identifier exists, then picks the exit code. */
  private async fail(err: unknown): Promise<number> {
    const failure =
      err instanceof LifecycleFailure
        ? err
        : new LifecycleFailure('Extension.UnexpectedError', describeDetail(err), 'invoke');
    this.logger.error(`${failure.errorType}: ${failure.message}`);
    const api = this.api;
    if (api?.extensionId !== undefined) {
      try {
        if (failure.phase === 'init') await api.initError(failure.errorType, failure.message);
        else await api.exitError(failure.errorType, failure.message);
      } catch (reportErr) {
        this.logger.error(`could not report ${failure.errorType} to Lambda`, reportErr);
      }
    }
    return 1;
  }

  private installSignalHandlers(): () => void {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (this.shuttingDown || this.stopRequested !== undefined) return;
      const windowMs = this.options.signalShutdownWindowMs ?? 1500;
      const event: ShutdownEvent = {
        eventType: 'SHUTDOWN',
        shutdownReason: signal.toLowerCase(),
        deadlineMs: this.clock.now() + windowMs,
      };
      this.logger.debug(`${signal} received; shutting down`);
      this.stopRequested = event;
      this.wakeOnStop?.(event);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    return () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    };
  }
}
