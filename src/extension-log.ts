// The extension's own logger. Every line costs the user CloudWatch ingestion, so the default level is
// `warn`, each message is exactly one line, and recurring problems are reported once per kind.
// Lines carry a fixed prefix: Lambda hands them back to us as `extension` telemetry records, and the
// pipeline must recognise and skip them instead of exporting its own chatter.

import type { Log, LogLevel } from './model/log.js';

export type { Log, LogLevel };

/** Starts every line this extension writes. */
export const LOG_PREFIX = '[otel-lambda-extension]';

export const LOG_LEVEL_ENV = 'LAMBDA_OTEL_LOG_LEVEL';

const LEVEL_RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
const LEVEL_LABEL: Record<LogLevel, string> = { error: 'ERROR', warn: 'WARN', info: 'INFO', debug: 'DEBUG' };
const DEFAULT_LEVEL: LogLevel = 'warn';

/** The extension's implementation of Log: every optional part present, and a level to set. */
export interface ExtensionLogger extends Log {
  level: LogLevel;
  setLevel(level: LogLevel): void;
  enabled(level: LogLevel): boolean;
  /**
   * Writes the message only the first time `key` is seen (report-once-per-kind). Returns true when
   * it was written. The key is remembered even when the level is disabled, so raising the level
   * later does not replay old kinds.
   */
  once(key: string, level: LogLevel, message: string, detail?: unknown): boolean;
}

export interface ExtensionLoggerOptions {
  /** Defaults to LAMBDA_OTEL_LOG_LEVEL, else warn. */
  level?: LogLevel;
  /** Where finished lines go (without trailing newline handling by the caller). Defaults to stdout. */
  write?: (line: string) => void;
}

/** Parses a level name case-insensitively; undefined when it is not one of error|warn|info|debug. */
export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'warning') return 'warn';
  return v in LEVEL_RANK ? (v as LogLevel) : undefined;
}

/**
 * A line writer for a stream (stdout by default) that stops writing once the stream fails (EPIPE
 * when the reader is gone): an unhandled stream error would reach the uncaught-exception logger,
 * which would write again and fail again, forever, at a full core.
 */
export function streamLineWriter(stream: NodeJS.WritableStream = process.stdout): (line: string) => void {
  let broken = false;
  stream.on('error', () => {
    broken = true;
  });
  return (line) => {
    if (broken) return;
    try {
      // Stdout to a pipe is synchronous on Linux, so lines written right before exit are not lost.
      stream.write(line);
    } catch {
      broken = true;
    }
  };
}

let stdoutWriter: ((line: string) => void) | undefined;

function writeStdout(line: string): void {
  stdoutWriter ??= streamLineWriter();
  stdoutWriter(line);
}

export function createExtensionLogger(options: ExtensionLoggerOptions = {}): ExtensionLogger {
  const raw = process.env[LOG_LEVEL_ENV];
  const fromEnv = parseLogLevel(raw);
  const level = options.level ?? fromEnv ?? DEFAULT_LEVEL;
  let rank = LEVEL_RANK[level];
  const write = options.write ?? writeStdout;
  const seen = new Set<string>();

  const emit = (lvl: LogLevel, message: string, detail: unknown): void => {
    if (LEVEL_RANK[lvl] > rank) return;
    let text = message;
    if (detail !== undefined) text += ': ' + describeDetail(detail);
    write(`${LOG_PREFIX} ${LEVEL_LABEL[lvl]} ${toOneLine(text)}\n`);
  };

  const logger: ExtensionLogger = {
    level,
    setLevel(lvl) {
      // The config file may set the level after modules captured this logger.
      logger.level = lvl;
      rank = LEVEL_RANK[lvl];
    },
    enabled: (lvl) => LEVEL_RANK[lvl] <= rank,
    error: (m, d) => emit('error', m, d),
    warn: (m, d) => emit('warn', m, d),
    info: (m, d) => emit('info', m, d),
    debug: (m, d) => emit('debug', m, d),
    once(key, lvl, m, d) {
      if (seen.has(key)) return false;
      seen.add(key);
      if (LEVEL_RANK[lvl] > rank) return false;
      emit(lvl, m, d);
      return true;
    },
  };

  if (raw !== undefined && raw.trim() !== '' && fromEnv === undefined && options.level === undefined) {
    logger.warn(
      `${LOG_LEVEL_ENV}=${JSON.stringify(raw.slice(0, 32))} is not one of error|warn|info|debug; using ${level}`,
    );
  }
  return logger;
}

/** The process-wide logger, configured from the environment at first import. */
export const log: ExtensionLogger = createExtensionLogger();

/** Escapes line breaks so one message is one CloudWatch line. */
function toOneLine(text: string): string {
  return /[\r\n]/.test(text) ? text.replace(/\r?\n|\r/g, '\\n') : text;
}

/** Renders an error or value compactly: name, message, and the status/code an API error carries. */
export function describeDetail(detail: unknown): string {
  if (detail instanceof Error) {
    const extra: string[] = [];
    const e = detail as Error & { code?: unknown; status?: unknown };
    if (typeof e.status === 'number') extra.push(`status ${e.status}`);
    if (typeof e.code === 'string') extra.push(e.code);
    let text = `${detail.name}: ${detail.message}`;
    if (extra.length > 0) text += ` (${extra.join(', ')})`;
    // Wrapping errors usually repeat their cause's message; add the cause only when it says more.
    const cause = detail.cause;
    if (cause !== undefined && cause !== detail) {
      const causeMessage = cause instanceof Error ? cause.message : String(cause);
      if (!detail.message.includes(causeMessage)) text += `; cause: ${describeDetail(cause)}`;
    }
    return text;
  }
  if (typeof detail === 'string') return detail;
  try {
    return JSON.stringify(detail) ?? String(detail);
  } catch {
    return String(detail);
  }
}

// ---------------------------------------------------------------------------------------------------
// Recognising our own lines when they come back through the Telemetry API.

/** True when a log line (text format, or the `message` of a JSON-format record) was written by us. */
export function isOwnLogLine(line: string): boolean {
  return line.startsWith(LOG_PREFIX);
}

/** True for an `extension` telemetry record that is one of our own log lines. */
export function isOwnLogRecord(event: { type: string; message?: unknown }): boolean {
  return event.type === 'extension' && typeof event.message === 'string' && isOwnLogLine(event.message);
}

// ---------------------------------------------------------------------------------------------------
// Redaction: header values and keys must never reach a log line.

const REDACTED = '<redacted>';

// Header names whose values carry no credentials and help diagnose export problems.
const SAFE_HEADERS = new Set([
  'content-type',
  'content-encoding',
  'content-length',
  'accept',
  'accept-encoding',
  'user-agent',
  'retry-after',
  'dd-otlp-source',
]);

/** Replaces a secret with a fixed marker; its length is not revealed either. */
export function redact(_secret: unknown): string {
  return REDACTED;
}

/** A copy of the headers with every value redacted except well-known harmless ones. */
export function redactHeaders(
  headers: Record<string, string | string[] | number | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = SAFE_HEADERS.has(name.toLowerCase()) ? String(value) : REDACTED;
  }
  return out;
}

/** An endpoint URL safe to print: user info removed and query values redacted (keys may ride there). */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return REDACTED;
  }
  parsed.username = '';
  parsed.password = '';
  parsed.hash = '';
  let query = '';
  if (parsed.search !== '') {
    const keys = [...new Set(parsed.searchParams.keys())];
    query = '?' + keys.map((k) => `${encodeURIComponent(k)}=${REDACTED}`).join('&');
    parsed.search = '';
  }
  return parsed.toString() + query;
}
