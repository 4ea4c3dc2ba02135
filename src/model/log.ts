// The one logging interface every component takes: the extension's logger (src/extension-log.ts)
// implements it, tests pass a recorder. Components never write to stdout themselves.

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface Log {
  error(message: string, detail?: unknown): void;
  warn(message: string, detail?: unknown): void;
  info(message: string, detail?: unknown): void;
  /** `detail` may be a record of fields; it is rendered only when the level is enabled. */
  debug(message: string, detail?: unknown): void;
  /** True when a message at `level` would be written; check it before building costly text. */
  enabled?(level: LogLevel): boolean;
  /**
   * Writes only the first time `key` is seen (report once per kind: recurring problems are then
   * visible in the counters). Returns true when it was written.
   */
  once?(key: string, level: LogLevel, message: string, detail?: unknown): boolean;
}

/** Logs once per key when the logger can, else every time. */
export function logOnce(log: Log, key: string, level: LogLevel, message: string, detail?: unknown): void {
  if (log.once) log.once(key, level, message, detail);
  else log[level](message, detail);
}

/** A log whose lines all start with `prefix` (e.g. `flush: `), on top of another. */
export function prefixedLog(log: Log, prefix: string): Log {
  return {
    error: (m, d) => log.error(prefix + m, d),
    warn: (m, d) => log.warn(prefix + m, d),
    info: (m, d) => log.info(prefix + m, d),
    debug: (m, d) => {
      if (log.enabled?.('debug') ?? true) log.debug(prefix + m, d);
    },
    ...(log.enabled && { enabled: log.enabled }),
    ...(log.once && {
      once: (key: string, level: LogLevel, m: string, d?: unknown) => log.once!(key, level, prefix + m, d),
    }),
  };
}

/** For components built without a log (tests, tools): nothing is written. */
export const NO_LOG: Log = {
  error() {},
  warn() {},
  info() {},
  debug() {},
};
