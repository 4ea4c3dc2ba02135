// A real OpenTelemetry Collector for end-to-end tests.
//
//   const col = await startCollector();
//   await fetch(`${col.endpoint}/v1/traces`, { method: 'POST', ... });
//   const out = await col.waitFor((o) => o.spans.length > 0);
//   await col.stop();
//
// The binary comes from test/support/collector/build.sh (ocb manifest in builder-config.yaml), or from
// OTELCOL_BIN when set. With OTELCOL_EXTERNAL_ENDPOINT (and OTELCOL_EXTERNAL_OUTPUT) set, an
// already running Collector is used instead (see externalCollector()). The collector listens for OTLP/HTTP on a free 127.0.0.1 port and writes
// every request it accepts to one JSON-lines file per signal (file exporter, OTLP/JSON: one
// Export*ServiceRequest per line, ids as hex strings, 64-bit integers as decimal strings).
// There is no batch processor, so a request answered 200 is already in the file: tests can read
// right after the response and only need waitFor() for asynchronous senders.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canConnect } from '../tcp.js';
import { freeLoopbackPort } from '../../../tools/simulator/ports.js';

// ---------------------------------------------------------------------------------------------
// OTLP/JSON shapes as written by the collector's pdata JSON marshaller (proto3 JSON mapping:
// lowerCamelCase keys, default values omitted, ids as lowercase hex, int64 as strings).

export interface OtlpAnyValueJson {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValueJson[] };
  kvlistValue?: { values?: OtlpKeyValueJson[] };
  bytesValue?: string;
}

export interface OtlpKeyValueJson {
  key: string;
  value?: OtlpAnyValueJson;
}

export interface OtlpResourceJson {
  attributes?: OtlpKeyValueJson[];
  droppedAttributesCount?: number;
}

export interface OtlpScopeJson {
  name?: string;
  version?: string;
  attributes?: OtlpKeyValueJson[];
}

export interface OtlpSpanJson {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  flags?: number;
  name: string;
  kind?: number;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  attributes?: OtlpKeyValueJson[];
  droppedAttributesCount?: number;
  events?: { timeUnixNano?: string; name?: string; attributes?: OtlpKeyValueJson[] }[];
  links?: { traceId: string; spanId: string; traceState?: string; attributes?: OtlpKeyValueJson[] }[];
  status?: { code?: number; message?: string };
}

export interface ExportTraceRequestJson {
  resourceSpans?: {
    resource?: OtlpResourceJson;
    schemaUrl?: string;
    scopeSpans?: { scope?: OtlpScopeJson; schemaUrl?: string; spans?: OtlpSpanJson[] }[];
  }[];
}

/** A metric with its data kept as written (gauge / sum / histogram / exponentialHistogram / summary). */
export interface OtlpMetricJson {
  name: string;
  description?: string;
  unit?: string;
  metadata?: OtlpKeyValueJson[];
  gauge?: { dataPoints?: OtlpNumberDataPointJson[] };
  sum?: { dataPoints?: OtlpNumberDataPointJson[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints?: Record<string, unknown>[]; aggregationTemporality?: number };
  exponentialHistogram?: { dataPoints?: Record<string, unknown>[]; aggregationTemporality?: number };
  summary?: { dataPoints?: Record<string, unknown>[] };
}

export interface OtlpNumberDataPointJson {
  attributes?: OtlpKeyValueJson[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  asDouble?: number;
  asInt?: string | number;
  flags?: number;
}

export interface ExportMetricsRequestJson {
  resourceMetrics?: {
    resource?: OtlpResourceJson;
    schemaUrl?: string;
    scopeMetrics?: { scope?: OtlpScopeJson; schemaUrl?: string; metrics?: OtlpMetricJson[] }[];
  }[];
}

export interface OtlpLogRecordJson {
  timeUnixNano?: string;
  observedTimeUnixNano?: string;
  severityNumber?: number;
  severityText?: string;
  body?: OtlpAnyValueJson;
  attributes?: OtlpKeyValueJson[];
  droppedAttributesCount?: number;
  flags?: number;
  traceId?: string;
  spanId?: string;
  eventName?: string;
}

export interface ExportLogsRequestJson {
  resourceLogs?: {
    resource?: OtlpResourceJson;
    schemaUrl?: string;
    scopeLogs?: { scope?: OtlpScopeJson; schemaUrl?: string; logRecords?: OtlpLogRecordJson[] }[];
  }[];
}

/** A span/metric/log record together with the resource and scope it was sent under. */
export interface Scoped<T> {
  resource: OtlpResourceJson;
  scope: OtlpScopeJson;
  item: T;
}

/** Everything the collector has written so far (since the last clear()). */
export interface CollectorOutput {
  traces: ExportTraceRequestJson[];
  metrics: ExportMetricsRequestJson[];
  logs: ExportLogsRequestJson[];
  spans: Scoped<OtlpSpanJson>[];
  metricPoints: Scoped<OtlpMetricJson>[];
  logRecords: Scoped<OtlpLogRecordJson>[];
}

// ---------------------------------------------------------------------------------------------
// Value helpers, so assertions read like the SDK's attribute maps.

export type AttributeValue = string | number | bigint | boolean | null | AttributeValue[] | AttributeMap;
export interface AttributeMap {
  [key: string]: AttributeValue;
}

/** AnyValue -> JS value; intValue becomes a number when safe, else a bigint; bytes stay base64. */
export function anyValueToJs(v: OtlpAnyValueJson | undefined): AttributeValue {
  if (v === undefined) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) {
    const big = BigInt(v.intValue);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(big)
      : big;
  }
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(anyValueToJs);
  if (v.kvlistValue !== undefined) return attributesToObject(v.kvlistValue.values);
  if (v.bytesValue !== undefined) return v.bytesValue;
  return null; // an empty AnyValue is OTLP's "no value"
}

export function attributesToObject(kvs: OtlpKeyValueJson[] | undefined): AttributeMap {
  const out: AttributeMap = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValueToJs(kv.value);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Harness.

export interface CollectorOptions {
  /** Also open OTLP/gRPC on another free port (off by default: the extension speaks OTLP/HTTP). */
  grpc?: boolean;
  /** Debug exporter verbosity on the collector's stderr (see stderr()). Default 'basic'. */
  debugVerbosity?: 'basic' | 'normal' | 'detailed';
  /** Launch the process now (default). With false, the port is reserved and the config written,
   *  but nothing listens until restart(): the "collector down at start" case. */
  start?: boolean;
  /** How long to wait for the OTLP port to accept connections. Default 15 s. */
  readyTimeoutMs?: number;
  /** Binary to run; default OTELCOL_BIN, else the output of build.sh. */
  binary?: string;
  /** Extra environment for the collector process. */
  env?: Record<string, string>;
  /** The test stops, kills, pauses or restarts this collector: always a process of its own, even
   *  when an external collector is configured. */
  control?: boolean;
}

export interface Collector {
  /** OTLP/HTTP base URL, e.g. http://127.0.0.1:4318 (append /v1/traces, /v1/metrics, /v1/logs). */
  readonly endpoint: string;
  readonly port: number;
  /** host:port of OTLP/gRPC when enabled with { grpc: true }. */
  readonly grpcEndpoint: string | undefined;
  /** Directory holding config and output; removed by stop(). */
  readonly dir: string;
  /** True between a successful (re)start and the process exiting. */
  readonly running: boolean;
  readonly pid: number | undefined;

  readTraces(): Promise<ExportTraceRequestJson[]>;
  readMetrics(): Promise<ExportMetricsRequestJson[]>;
  readLogs(): Promise<ExportLogsRequestJson[]>;
  /** All three signals plus flattened spans / metrics / log records. */
  read(): Promise<CollectorOutput>;
  /** Polls the output until predicate holds; rejects with the last output summary on timeout. */
  waitFor(predicate: (out: CollectorOutput) => boolean, timeoutMs?: number): Promise<CollectorOutput>;
  /** Hides everything written so far from later reads (the files are not touched). */
  clear(): Promise<void>;

  /** SIGTERM (SIGKILL after graceMs), then removes the temp dir. Final; safe to call twice. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now (a crashed collector); output so far is kept and restart() works. */
  kill(): Promise<void>;
  /** SIGSTOP: the port still accepts connections but nothing is answered (a hung collector). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** (Re)starts the process on the same port(s), stopping a running one gracefully first. */
  restart(): Promise<void>;
  /** Tail of the collector's stdout+stderr (debug exporter lines, errors), for assertion messages. */
  stderr(): string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BUILD_SCRIPT = path.join(HERE, 'build.sh');
const SIGNALS = ['traces', 'metrics', 'logs'] as const;
type SignalName = (typeof SIGNALS)[number];
const LOG_TAIL_BYTES = 64 * 1024;

let binaryPromise: Promise<string> | undefined;

/** Path of the collector binary, building it once per process if needed. */
export function collectorBinary(): Promise<string> {
  const fromEnv = process.env['OTELCOL_BIN'];
  if (fromEnv) return Promise.resolve(fromEnv);
  binaryPromise ??= new Promise<string>((resolve, reject) => {
    // No timeout: a cold build downloads modules and compiles for minutes; progress goes to stderr.
    const child = execFile('bash', [BUILD_SCRIPT], { maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(
          new Error(`collector build failed (bash ${BUILD_SCRIPT}): ${err.message}\n${stderr.slice(-4000)}`),
        );
        return;
      }
      const last = stdout.trim().split('\n').pop()?.trim();
      if (!last) reject(new Error(`collector build printed no binary path\n${stderr.slice(-4000)}`));
      else resolve(last);
    });
    child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  });
  binaryPromise.catch(() => {
    binaryPromise = undefined; // let a later call retry
  });
  return binaryPromise;
}

// Children still alive when the test process exits are killed, so a failed test never leaves
// a collector behind holding ports.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function collectorConfig(opts: {
  port: number;
  grpcPort: number | undefined;
  files: Record<SignalName, string>;
  verbosity: string;
}): unknown {
  const protocols: Record<string, unknown> = { http: { endpoint: `127.0.0.1:${opts.port}` } };
  if (opts.grpcPort !== undefined) protocols['grpc'] = { endpoint: `127.0.0.1:${opts.grpcPort}` };
  const exporters: Record<string, unknown> = { debug: { verbosity: opts.verbosity } };
  const pipelines: Record<string, unknown> = {};
  for (const signal of SIGNALS) {
    exporters[`file/${signal}`] = {
      path: opts.files[signal],
      format: 'json',
      // With rotation configured the file exporter writes each request straight to the file
      // (unbuffered, opened for append so a restart keeps earlier output); the size limit is
      // far beyond what a test produces, so no rotation actually happens.
      rotation: { max_megabytes: 1024, max_backups: 1 },
      flush_interval: '100ms',
    };
    pipelines[signal] = { receivers: ['otlp'], exporters: [`file/${signal}`, 'debug'] };
  }
  return {
    receivers: { otlp: { protocols } },
    exporters,
    service: {
      // No internal metrics endpoint: parallel collectors would fight over :8888.
      telemetry: { metrics: { level: 'none' }, logs: { level: 'info', encoding: 'console' } },
      pipelines,
    },
  };
}

function parseJsonLines<T>(text: string, file: string): T[] {
  const out: T[] = [];
  const lines = text.split('\n');
  // The exporter writes a record and its newline separately; a reader racing it may see a
  // record without the newline (complete) or half a record (skipped until the next read).
  const last = lines.pop() ?? '';
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as T);
    } catch (err) {
      throw new Error(`${file}:${i + 1}: file exporter wrote a line that is not JSON (${String(err)})`);
    }
  });
  if (last.trim() !== '') {
    try {
      out.push(JSON.parse(last) as T);
    } catch {
      // still being written
    }
  }
  return out;
}

function flatten<R, S, I>(
  requests: R[],
  resourceKey: (r: R) => { resource?: OtlpResourceJson; scopes?: S[] }[] | undefined,
  scopeItems: (s: S) => { scope?: OtlpScopeJson; items?: I[] },
): Scoped<I>[] {
  const out: Scoped<I>[] = [];
  for (const req of requests) {
    for (const rs of resourceKey(req) ?? []) {
      for (const ss of rs.scopes ?? []) {
        const { scope, items } = scopeItems(ss);
        for (const item of items ?? []) out.push({ resource: rs.resource ?? {}, scope: scope ?? {}, item });
      }
    }
  }
  return out;
}

function summarize(out: CollectorOutput): string {
  return `${out.spans.length} spans, ${out.metricPoints.length} metrics, ${out.logRecords.length} log records`;
}

/**
 * An external collector, when the environment names one and the test needs nothing but a
 * destination: OTELCOL_EXTERNAL_ENDPOINT is its OTLP/HTTP base URL, OTELCOL_EXTERNAL_OUTPUT the
 * directory where its file exporters write traces.jsonl, metrics.jsonl and logs.jsonl in the same
 * format as collectorConfig() (test/support/collector/external-config.yaml; the GitHub workflow runs the
 * official image with it). Collectors sharing it see only what arrived after they started, so
 * test files using it must run one at a time.
 */
function externalCollector(
  options: CollectorOptions,
): { endpoint: string; port: number; dir: string } | undefined {
  const endpoint = process.env['OTELCOL_EXTERNAL_ENDPOINT'];
  if (!endpoint) return undefined;
  const dir = process.env['OTELCOL_EXTERNAL_OUTPUT'];
  if (!dir)
    throw new Error('OTELCOL_EXTERNAL_ENDPOINT is set without OTELCOL_EXTERNAL_OUTPUT (its file output)');
  if (options.control || options.start === false || options.grpc || options.binary || options.env)
    return undefined;
  const url = new URL(endpoint);
  return {
    endpoint: url.origin,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    dir,
  };
}

export async function startCollector(options: CollectorOptions = {}): Promise<Collector> {
  const external = externalCollector(options);
  const binary = external ? '' : (options.binary ?? (await collectorBinary()));
  const dir = external ? external.dir : await mkdtemp(path.join(tmpdir(), 'otelcol-test-'));
  const files: Record<SignalName, string> = {
    traces: path.join(dir, 'traces.jsonl'),
    metrics: path.join(dir, 'metrics.jsonl'),
    logs: path.join(dir, 'logs.jsonl'),
  };
  const configPath = path.join(dir, 'config.yaml');
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  let port = 0;
  let grpcPort: number | undefined;
  let child: ChildProcess | undefined;
  let running = false;
  let stopped = false;
  let logTail = '';
  // Byte offsets hidden by clear(), per signal.
  const skip: Record<SignalName, number> = { traces: 0, metrics: 0, logs: 0 };

  const appendLog = (d: Buffer) => {
    logTail += d.toString('utf8');
    if (logTail.length > LOG_TAIL_BYTES) logTail = logTail.slice(-LOG_TAIL_BYTES);
  };

  async function writeConfig(): Promise<void> {
    port = await freeLoopbackPort();
    grpcPort = options.grpc ? await freeLoopbackPort() : undefined;
    const config = collectorConfig({ port, grpcPort, files, verbosity: options.debugVerbosity ?? 'basic' });
    // JSON is YAML, and the collector's file provider reads YAML.
    await writeFile(configPath, JSON.stringify(config, null, 2));
  }

  function waitExit(c: ChildProcess): Promise<void> {
    if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
    return new Promise((r) => c.once('exit', () => r()));
  }

  async function launch(): Promise<void> {
    const c = spawn(binary, [`--config=file:${configPath}`], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    track(c);
    child = c;
    c.stdout?.on('data', appendLog);
    c.stderr?.on('data', appendLog);
    let spawnError: Error | undefined;
    c.once('error', (err) => {
      spawnError = err;
    });
    c.once('exit', () => {
      if (child === c) running = false;
    });
    const deadline = Date.now() + readyTimeoutMs;
    // The receiver starts last (after exporters), so an accepting port means a ready pipeline.
    for (;;) {
      if (spawnError) throw new Error(`cannot run collector ${binary}: ${spawnError.message}`);
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(
          `collector exited during start-up (code ${c.exitCode}, signal ${c.signalCode})\n${logTail.slice(-4000)}`,
        );
      }
      if (await canConnect(port)) break;
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        await waitExit(c);
        throw new Error(
          `collector not listening on 127.0.0.1:${port} after ${readyTimeoutMs} ms\n${logTail.slice(-4000)}`,
        );
      }
      await sleep(25);
    }
    running = true;
  }

  async function terminate(c: ChildProcess, graceMs: number): Promise<void> {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = waitExit(c);
    c.kill('SIGTERM');
    c.kill('SIGCONT'); // a paused process would otherwise never see the SIGTERM
    const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  async function readSignal<T>(signal: SignalName): Promise<T[]> {
    let buf: Buffer;
    try {
      buf = await readFile(files[signal]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []; // nothing written yet
      throw err;
    }
    return parseJsonLines<T>(buf.subarray(skip[signal]).toString('utf8'), files[signal]);
  }

  async function read(): Promise<CollectorOutput> {
    const [traces, metrics, logs] = await Promise.all([
      readSignal<ExportTraceRequestJson>('traces'),
      readSignal<ExportMetricsRequestJson>('metrics'),
      readSignal<ExportLogsRequestJson>('logs'),
    ]);
    return {
      traces,
      metrics,
      logs,
      spans: flatten(
        traces,
        (r) => r.resourceSpans?.map((rs) => ({ resource: rs.resource, scopes: rs.scopeSpans })),
        (s) => ({ scope: s.scope, items: s.spans }),
      ),
      metricPoints: flatten(
        metrics,
        (r) => r.resourceMetrics?.map((rm) => ({ resource: rm.resource, scopes: rm.scopeMetrics })),
        (s) => ({ scope: s.scope, items: s.metrics }),
      ),
      logRecords: flatten(
        logs,
        (r) => r.resourceLogs?.map((rl) => ({ resource: rl.resource, scopes: rl.scopeLogs })),
        (s) => ({ scope: s.scope, items: s.logRecords }),
      ),
    };
  }

  const cleanup = async (): Promise<void> => {
    if (!external) await rm(dir, { recursive: true, force: true });
  };
  const ownProcessOnly = (what: string): Error =>
    new Error(`${what}: an external collector is in use; start this one with { control: true }`);

  async function clear(): Promise<void> {
    for (const signal of SIGNALS) {
      try {
        const buf = await readFile(files[signal]);
        // Hide only complete lines, so a record being written right now stays visible.
        skip[signal] = buf.lastIndexOf(0x0a) + 1;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  try {
    if (external) {
      port = external.port;
      running = true;
      await clear(); // what other collectors' tests sent before is not ours
    } else await writeConfig();
    if (!external && options.start !== false) {
      // Another process may grab the port between freeLoopbackPort() and the collector's bind: retry
      // once on a fresh port before giving up.
      try {
        await launch();
      } catch (err) {
        if (!/address already in use/i.test(logTail)) throw err;
        logTail = '';
        await writeConfig();
        await launch();
      }
    }
  } catch (err) {
    if (child) await terminate(child, 1000);
    await cleanup();
    throw err;
  }

  const col: Collector = {
    get endpoint() {
      return external ? external.endpoint : `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get grpcEndpoint() {
      return grpcPort === undefined ? undefined : `127.0.0.1:${grpcPort}`;
    },
    dir,
    get running() {
      return running;
    },
    get pid() {
      return running ? child?.pid : undefined;
    },
    readTraces: () => readSignal<ExportTraceRequestJson>('traces'),
    readMetrics: () => readSignal<ExportMetricsRequestJson>('metrics'),
    readLogs: () => readSignal<ExportLogsRequestJson>('logs'),
    read,
    async waitFor(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const out = await read();
        if (predicate(out)) return out;
        if (Date.now() > deadline) {
          throw new Error(
            `collector output did not match within ${timeoutMs} ms (has ${summarize(out)})\n${logTail.slice(-2000)}`,
          );
        }
        await sleep(25);
      }
    },
    clear,
    async stop(graceMs = 5000) {
      if (stopped) return;
      stopped = true;
      if (child) await terminate(child, graceMs);
      running = false;
      await cleanup();
    },
    async kill() {
      if (external) throw ownProcessOnly('kill()');
      if (!child) return;
      const exited = waitExit(child);
      child.kill('SIGKILL');
      await exited;
      running = false;
    },
    pause() {
      if (external) throw ownProcessOnly('pause()');
      if (!running || !child) throw new Error('pause(): collector is not running');
      child.kill('SIGSTOP');
    },
    resume() {
      if (external) throw ownProcessOnly('resume()');
      if (!child) throw new Error('resume(): collector was never started');
      child.kill('SIGCONT');
    },
    async restart() {
      if (external) throw ownProcessOnly('restart()');
      if (stopped) throw new Error('restart(): collector was stopped for good; start a new one');
      if (child) await terminate(child, 5000);
      running = false;
      await launch();
    },
    stderr: () => logTail,
  };
  return col;
}
