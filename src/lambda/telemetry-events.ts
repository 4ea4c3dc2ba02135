// The typed, validated form of what the Telemetry API pushes. The parser (telemetry-parse.ts) builds
// these one record at a time; the converter consumes them. Times are epoch milliseconds (fractional
// where Lambda gives sub-millisecond precision) so every later stage does plain arithmetic.

export type InitializationType =
  | 'on-demand'
  | 'provisioned-concurrency'
  | 'snap-start'
  | 'lambda-managed-instances'
  | (string & {});

export type InitPhase = 'init' | 'invoke' | 'snap-start' | (string & {});

/** success | failure | error | timeout; anything else Lambda adds later is kept as given. */
export type InvocationStatus = 'success' | 'failure' | 'error' | 'timeout' | (string & {});

/** A phase span inside a platform record: responseLatency, responseDuration, runtimeOverhead, … */
export interface PlatformSpan {
  name: string;
  startMs: number;
  durationMs: number;
}

/** The X-Ray tracing value as Lambda sends it, plus the span id when Lambda gives one. */
export interface TracingContext {
  type: string;
  value: string;
  spanId?: string;
}

interface EventBase {
  /** The envelope's `time`, epoch ms. */
  timeMs: number;
}

export interface InitStartEvent extends EventBase {
  type: 'platform.initStart';
  initializationType: InitializationType;
  phase: InitPhase;
  functionName?: string;
  functionVersion?: string;
  instanceId?: string;
  instanceMaxMemory?: number;
  runtimeVersion?: string;
  runtimeVersionArn?: string;
}

export interface InitRuntimeDoneEvent extends EventBase {
  type: 'platform.initRuntimeDone';
  initializationType: InitializationType;
  phase: InitPhase;
  status: InvocationStatus;
  errorType?: string;
  spans: PlatformSpan[];
}

export interface InitReportEvent extends EventBase {
  type: 'platform.initReport';
  initializationType: InitializationType;
  phase: InitPhase;
  status: InvocationStatus;
  errorType?: string;
  durationMs: number;
  spans: PlatformSpan[];
}

export interface StartEvent extends EventBase {
  type: 'platform.start';
  requestId: string;
  version?: string;
  tracing?: TracingContext;
}

export interface RuntimeDoneEvent extends EventBase {
  type: 'platform.runtimeDone';
  requestId: string;
  status: InvocationStatus;
  errorType?: string;
  durationMs?: number;
  producedBytes?: number;
  spans: PlatformSpan[];
  tracing?: TracingContext;
}

export interface ReportEvent extends EventBase {
  type: 'platform.report';
  requestId: string;
  status: InvocationStatus;
  errorType?: string;
  durationMs: number;
  /** Absent on Managed Instances, which report durationMs only. */
  billedDurationMs?: number;
  memorySizeMB?: number;
  maxMemoryUsedMB?: number;
  initDurationMs?: number;
  restoreDurationMs?: number;
  spans: PlatformSpan[];
  tracing?: TracingContext;
}

export interface RestoreStartEvent extends EventBase {
  type: 'platform.restoreStart';
  functionName?: string;
  functionVersion?: string;
  instanceId?: string;
  instanceMaxMemory?: number;
  runtimeVersion?: string;
  runtimeVersionArn?: string;
}

export interface RestoreRuntimeDoneEvent extends EventBase {
  type: 'platform.restoreRuntimeDone';
  status: InvocationStatus;
  errorType?: string;
  spans: PlatformSpan[];
}

export interface RestoreReportEvent extends EventBase {
  type: 'platform.restoreReport';
  status: InvocationStatus;
  errorType?: string;
  durationMs?: number;
  spans: PlatformSpan[];
}

export interface ExtensionStateEvent extends EventBase {
  type: 'platform.extension';
  name: string;
  state: string;
  events: string[];
  errorType?: string;
}

export interface TelemetrySubscriptionEvent extends EventBase {
  type: 'platform.telemetrySubscription';
  name: string;
  state: string;
  types: string[];
}

export interface LogsDroppedEvent extends EventBase {
  type: 'platform.logsDropped';
  droppedBytes: number;
  droppedRecords: number;
  reason: string;
}

/** A `function` or `extension` log line, text or JSON log format. */
export interface LogLineEvent extends EventBase {
  type: 'function' | 'extension';
  /** The line as text: the string record, or the JSON record's `message` (stringified if not a string). */
  message: string;
  /** JSON log format only: the record's level (TRACE/DEBUG/INFO/WARN/ERROR/FATAL), as given. */
  level?: string;
  /** JSON log format only. */
  requestId?: string;
  /** JSON log format: the record's own timestamp, epoch ms (falls back to the envelope time). */
  recordTimeMs?: number;
  /** JSON log format: the other fields of the record (without timestamp/level/requestId/message). */
  fields?: Record<string, unknown>;
  /** True when the record came as an object (JSON log format). */
  structured: boolean;
}

/** A type this version does not know: kept, counted, passed on untouched. */
export interface UnknownEvent extends EventBase {
  type: 'unknown';
  originalType: string;
  record: unknown;
}

export type TelemetryEvent =
  | InitStartEvent
  | InitRuntimeDoneEvent
  | InitReportEvent
  | StartEvent
  | RuntimeDoneEvent
  | ReportEvent
  | RestoreStartEvent
  | RestoreRuntimeDoneEvent
  | RestoreReportEvent
  | ExtensionStateEvent
  | TelemetrySubscriptionEvent
  | LogsDroppedEvent
  | LogLineEvent
  | UnknownEvent;

/** What the Extensions API hands the extension on `/event/next`. */
export interface InvokeEvent {
  eventType: 'INVOKE';
  deadlineMs: number;
  requestId: string;
  invokedFunctionArn: string;
  tracing?: { type: string; value: string };
}

export interface ShutdownEvent {
  eventType: 'SHUTDOWN';
  /** spindown | timeout | failure, lower-cased. */
  shutdownReason: string;
  deadlineMs: number;
}

export type LifecycleEvent = InvokeEvent | ShutdownEvent;

/** The register answer's body. */
export interface RegisterResponse {
  functionName: string;
  functionVersion: string;
  handler: string;
  accountId?: string;
}
