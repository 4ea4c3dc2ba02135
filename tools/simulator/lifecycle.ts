// What the init, invoke and shutdown phases share: the simulator's parts, the invocations under
// way, and the few things the simulator does for every phase (it owns the current environment).
import type { Conditions } from './conditions.js';
import type { Environment } from './execution-environment.js';
import type { ExtensionsApi } from './extensions-api.js';
import type { Freezer } from './freezer.js';
import type { ResolvedOptions } from './options.js';
import type { ManagedProcess, ProcessSupervisor } from './processes.js';
import type { RuntimeApi, RuntimeOutcome } from './runtime-api.js';
import type { TelemetryHub } from './telemetry-hub.js';
import type { Timeline } from './timeline.js';
import type { ShutdownReason, ShutdownResult } from './types.js';

/** How long the freezer waits for telemetry POSTs under way before stopping the listeners. */
export const DELIVERY_SETTLE_MS = 1000;

export interface ActiveInvocation {
  requestId: string;
  outcome?: RuntimeOutcome;
}

export interface LifecycleParts {
  readonly options: ResolvedOptions;
  readonly timeline: Timeline;
  readonly hub: TelemetryHub;
  readonly supervisor: ProcessSupervisor;
  readonly freezer: Freezer;
  readonly runtimeApi: RuntimeApi;
  readonly extensionsApi: ExtensionsApi;
  readonly conditions: Conditions;
  /** Invocations under way, by request id. */
  readonly active: Map<string, ActiveInvocation>;
  /** The environment failed (the first failure counts); ends the waits that watch for it. */
  fail(env: Environment, errorType: string): void;
  /** A process of `env` exited. */
  processExited(env: Environment, proc: ManagedProcess): void;
  /** Telemetry delivery pauses and every process of the current environment stops. */
  freeze(): Promise<void>;
  thaw(): void;
  /** SHUTDOWN of `env`, once however many times it is asked for. */
  teardown(env: Environment, reason: ShutdownReason): Promise<ShutdownResult>;
}
