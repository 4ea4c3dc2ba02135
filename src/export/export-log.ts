// The logging the exporter and pipeline need. The extension's logger (src/extension-log.ts) satisfies
// it; tests pass a recorder.

export interface ExportLog {
  debug(message: string, detail?: unknown): void;
  info(message: string, detail?: unknown): void;
  warn(message: string, detail?: unknown): void;
  error(message: string, detail?: unknown): void;
  /** Writes only the first time `key` is seen; recurring problems are then visible in the counters. */
  once?(key: string, level: 'error' | 'warn' | 'info' | 'debug', message: string, detail?: unknown): boolean;
}

/** Logs once per key when the logger can, else every time. */
export function logOnce(
  log: ExportLog,
  key: string,
  level: 'error' | 'warn' | 'info' | 'debug',
  message: string,
): void {
  if (log.once) log.once(key, level, message);
  else log[level](message);
}
