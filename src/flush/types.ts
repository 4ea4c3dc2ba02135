// The flush manager's logger; the flush contract and the time seams it works through are in model/.

export interface FlushLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}
