// Public types of the simulator: options, results and the timeline entries tests assert on.
import type { NetworkInfo, NetworkOptions } from './netns.js';
import type { ResourceControl, ResourceInfo } from './resources.js';
import type { SandboxHostsInfo } from './sandbox-hosts.js';

export type SimulatorMode = 'on-demand' | 'managed-instances' | 'snap-start';
export type LogFormat = 'text' | 'json';
export type ShutdownReason = 'spindown' | 'timeout' | 'failure';
export type ProcessRole = 'extension' | 'function';
/**
 * Lambda's tracing mode as the trace header shows it. `pass-through` (Lambda's default) alternates
 * `Root;Parent;Sampled=0;Lineage` and `Root;Lineage`; the two `pass-through-*` modes give one form
 * only; `active` is X-Ray active tracing (`Sampled=1`); `upstream-sampled` a caller that traced and
 * sampled the request (`Sampled=1` under its own Parent).
 */
export type TracingMode =
  | 'pass-through'
  | 'pass-through-sampled-0'
  | 'pass-through-undecided'
  | 'active'
  | 'upstream-sampled';

/** What the Telemetry API pushes: `{time, type, record}`. */
export interface TelemetryEnvelope {
  time: string;
  type: string;
  record: unknown;
}

export interface TelemetryApiOptions {
  /**
   * Answer every subscribe with this status instead of validating it: 202 behaves like the local
   * emulators (accepted, nothing delivered), 500 like a broken platform.
   */
  subscribeStatus?: 202 | 500;
  /** Schema versions answered with 400 even though Lambda knows them, to exercise fallbacks. */
  refuseSchemaVersions?: string[];
  /** Require the destination host to be sandbox.localdomain (default true, as on Lambda). */
  strictDestinationHost?: boolean;
  /**
   * Queued bytes per subscriber beyond which new log records are dropped and later reported with
   * platform.logsDropped (default 4 × the subscriber's maxBytes).
   */
  maxQueuedBytes?: number;
  /** Backoff between delivery attempts after a failure: first wait, cap (defaults 50 ms, 1000 ms). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** A delivery POST that gets no answer within this time counts as failed (default 5000 ms). */
  deliveryTimeoutMs?: number;
  /**
   * When platform.report is delivered on on-demand environments. 'after-thaw' (default, what Lambda
   * does in practice): the environment freezes right after the report is emitted, so it reaches the
   * extension on the next invocation or at SHUTDOWN. 'before-freeze': delivered before the freeze.
   */
  reportDelivery?: 'after-thaw' | 'before-freeze';
  /** Keep every delivered batch in the timeline (default: the simulator's keepHistory). */
  keepDeliveredRecords?: boolean;
}

export interface SimulatorOptions {
  /** The layer directory (Lambda's /opt): every executable in <optDir>/extensions/ is started. */
  optDir?: string;
  /** Path of the handler module (.mjs/.js exporting `handler`), resolved from the current directory. */
  handler: string;
  /** Exported function name in the handler module (default 'handler'). */
  handlerExport?: string;
  functionName?: string;
  functionVersion?: string;
  /**
   * The function's memory (default 128): the environment's memory limit (exceeding it kills the
   * environment: Runtime.OutOfMemory) and its CPU, memorySizeMB ÷ 1,769 of one CPU, as on Lambda.
   */
  memorySizeMB?: number;
  /** No CPU quota: the environment may use whole CPUs (the memory limit still applies). */
  unthrottled?: boolean;
  /**
   * The cgroup's memory limit when it must differ from memorySizeMB (default: memorySizeMB, as on
   * Lambda). Tests that do not test the model give headroom with it without changing the
   * function's configured memory, which the extension reads.
   */
  memoryLimitMB?: number;
  /**
   * How limits and freezing are applied: 'auto' (default) a cgroup per environment when one can be
   * made, else no limits and SIGSTOP freezing; 'cgroup' fails init when none can be made;
   * 'signals' never makes one (SIGSTOP freezing, no limits).
   */
  resourceControl?: ResourceControl;
  /**
   * Give every process an /etc/hosts where sandbox.localdomain is the environment (a private mount
   * namespace per process; default true). Without it the name goes to the system resolver.
   */
  sandboxHosts?: boolean;
  /**
   * `{private: true}`: a network namespace per environment (its own loopback, the Runtime API at
   * 127.0.0.1:9001, `hostPorts` of this machine forwarded in). Default: this machine's loopback.
   */
  network?: NetworkOptions;
  /** Function timeout (default 3000 ms). */
  timeoutMs?: number;
  /** Init limit (default 10000 ms, Lambda's on-demand limit). */
  initTimeoutMs?: number;
  /** Caller environment, given to the function and the extensions alike (as on Lambda). */
  env?: Record<string, string>;
  logFormat?: LogFormat;
  mode?: SimulatorMode;
  /** Runtime concurrency on Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY, default 4). */
  maxConcurrency?: number;
  /** Freeze every process between invocations (default true; Managed Instances never freeze). */
  freeze?: boolean;
  /** Time between SHUTDOWN and SIGKILL (default 2000 ms). */
  shutdownBudgetMs?: number;
  accountId?: string;
  region?: string;
  /** Extra node arguments for the function process (e.g. --import for auto-instrumentation). */
  functionNodeArgs?: string[];
  /** Replace the bundled Node bootstrap (tools/simulator/runtime.mjs). */
  runtimeBootstrap?: string;
  /** Echo every child process line to this process's stderr, prefixed with its name. */
  echo?: boolean;
  /**
   * Keep every telemetry record, process line and delivered batch for assertions (default true).
   * Long benchmarks turn it off so the simulator's own memory stays flat; the timeline is kept.
   */
  keepHistory?: boolean;
  telemetry?: TelemetryApiOptions;
  /** The trace headers invocations get (default 'pass-through', Lambda's default). */
  tracing?: TracingMode;
}

export interface InvokeOptions {
  /** Full X-Ray tracing value for this invocation (default: one of the simulator's tracing mode). */
  tracing?: string;
  /** The tracing mode of this invocation only (ignored when `tracing` is given). */
  tracingMode?: TracingMode;
  requestId?: string;
  /** Make the function run out of memory: it is killed and the invocation reports Runtime.OutOfMemory. */
  outOfMemory?: boolean;
  /** A different function timeout for this invocation only. */
  timeoutMs?: number;
}

export interface ExtensionInitInfo {
  name: string;
  pid: number | undefined;
  startedAtMs: number;
  registeredAtMs?: number;
  firstNextAtMs?: number;
  /** Process start to first /event/next: the extension's own init cost. */
  startToFirstNextMs?: number;
  events: string[];
}

export interface InitResult {
  status: 'success' | 'error' | 'timeout';
  errorType?: string;
  phase: string;
  initializationType: string;
  startedAtMs: number;
  endedAtMs: number;
  durationMs: number;
  functionPid?: number;
  extensions: ExtensionInitInfo[];
  /** What the environment runs under: its cgroup (CPU share, memory limit) or SIGSTOP only. */
  resources: ResourceInfo;
  /** How sandbox.localdomain resolves for its processes. */
  sandboxHosts: SandboxHostsInfo;
  /** The environment's network: this machine's loopback, or a namespace of its own. */
  network: NetworkInfo;
}

export interface InvocationTimestamps {
  /** platform.start */
  startMs: number;
  /** The function began posting its response (or error). */
  responseStartMs?: number;
  /** The response body was complete: the caller has the result from here on. */
  runtimeResponseMs?: number;
  /** The function called next again. */
  runtimeNextMs?: number;
  /** The last extension called /event/next after this INVOKE. */
  extensionsNextMs?: number;
  /** platform.report was emitted. */
  reportMs: number;
}

export interface InvocationResult {
  requestId: string;
  status: 'success' | 'error' | 'timeout';
  errorType?: string;
  /** Response (or error) body as sent by the function; `response` is its JSON form when it parses. */
  responseText?: string;
  response?: unknown;
  coldStart: boolean;
  /** The init that preceded this invocation, if it was the first after an init. */
  init?: InitResult;
  tracing: { value: string; spanId: string; functionHeader: string };
  timestamps: InvocationTimestamps;
  durationMs: number;
  billedDurationMs?: number;
  maxMemoryUsedMB?: number;
  /** Response end to the last extension's next (PostRuntimeExtensionsDuration). */
  postRuntimeExtensionsDurationMs?: number;
  /** Each INVOKE extension's /event/next time after this invocation. */
  extensionNextMs: Record<string, number>;
  /** The environment reset this invocation caused (timeout, crash, out of memory). */
  reset?: ShutdownResult;
}

export interface ExtensionShutdownInfo {
  name: string;
  pid: number | undefined;
  receivedShutdown: boolean;
  exitedBeforeDeadline: boolean;
  exitCode: number | null;
  signal: string | null;
  exitAtMs?: number;
}

export interface ShutdownResult {
  reason: ShutdownReason;
  startedAtMs: number;
  deadlineMs: number;
  endedAtMs: number;
  extensions: ExtensionShutdownInfo[];
  /** Records still queued for subscribers when the environment went away. */
  undeliveredRecords: number;
}

export interface LogLine {
  atMs: number;
  role: ProcessRole;
  name: string;
  pid: number | undefined;
  stream: 'stdout' | 'stderr';
  line: string;
}

interface At {
  atMs: number;
}

export type TimelineEntry = At &
  (
    | { kind: 'process-start'; role: ProcessRole; name: string; pid: number | undefined }
    | {
        kind: 'process-exit';
        role: ProcessRole;
        name: string;
        pid: number | undefined;
        code: number | null;
        signal: string | null;
        error?: string;
      }
    | { kind: 'kill'; role: ProcessRole; name: string; pid: number | undefined; signal: string }
    | {
        kind: 'register';
        name: string;
        status: number;
        events?: string[];
        identifier?: string;
        error?: string;
        acceptFeature?: string;
      }
    | {
        kind: 'subscribe';
        name?: string;
        status: number;
        schemaVersion?: string;
        types?: string[];
        buffering?: { maxItems: number; maxBytes: number; timeoutMs: number };
        destination?: string;
        error?: string;
      }
    | { kind: 'extension-next'; name: string; status: number }
    | { kind: 'extension-event'; name: string; event: Record<string, unknown> }
    | {
        kind: 'extension-error';
        which: 'init' | 'exit';
        name?: string;
        status: number;
        errorType?: string;
        body?: unknown;
      }
    | { kind: 'runtime-next' }
    | { kind: 'runtime-invocation'; requestId: string }
    | { kind: 'runtime-response'; requestId: string; bytes: number }
    | { kind: 'runtime-error'; requestId: string; errorType: string; body?: unknown }
    | { kind: 'runtime-init-error'; errorType: string; body?: unknown }
    | {
        kind: 'telemetry-delivery';
        subscriber: string;
        attempt: number;
        status: number | null;
        error?: string;
        recordCount: number;
        bytes: number;
        durationMs: number;
        records?: TelemetryEnvelope[];
      }
    | { kind: 'logs-dropped'; subscriber: string; droppedRecords: number; droppedBytes: number }
    | { kind: 'freeze'; pids: number[]; via: 'cgroup' | 'sigstop' }
    | { kind: 'resources'; info: ResourceInfo }
    | { kind: 'out-of-memory'; oomKills: number; memoryLimitMB: number | null }
    | { kind: 'thaw'; pids: number[]; frozenMs: number }
    | { kind: 'idle'; ms: number; frozen: boolean }
    | { kind: 'init-start'; phase: string; initializationType: string }
    | { kind: 'init-end'; status: string; errorType?: string; durationMs: number }
    | { kind: 'restore'; durationMs: number }
    | { kind: 'invoke-start'; requestId: string }
    | { kind: 'invoke-end'; requestId: string; status: string; errorType?: string }
    | { kind: 'shutdown-start'; reason: ShutdownReason; deadlineMs: number }
    | { kind: 'shutdown-end'; reason: ShutdownReason }
  );

export type TimelineKind = TimelineEntry['kind'];
export type TimelineEntryOf<K extends TimelineKind> = Extract<TimelineEntry, { kind: K }>;
