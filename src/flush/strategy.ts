// Flush strategies as users write them (config file or environment), parsed once at start-up.

export type FlushStrategy =
  /** Learn the invocation pattern; block at the end of rare invocations, flush in the background otherwise. */
  | { readonly kind: 'adaptive' }
  /** Block at the end of every invocation; with backstopMs, also flush in the background every backstopMs. */
  | { readonly kind: 'end'; readonly backstopMs?: number }
  /** Block at the end of an invocation when intervalMs has passed since the last flush. */
  | { readonly kind: 'periodic'; readonly intervalMs: number }
  /** Never in the invocation's path: background flushes every intervalMs while the environment runs. */
  | { readonly kind: 'continuous'; readonly intervalMs: number };

export const DEFAULT_FLUSH_STRATEGY: FlushStrategy = { kind: 'adaptive' };

/** Longest delay a Node timer honours; larger values fire immediately. */
export const MAX_TIMER_MS = 2_147_483_647;

const ACCEPTED_FORMS =
  'expected one of adaptive | end | end,<ms> | periodic,<ms> | continuous,<ms> (ms a positive integer)';

/** A configuration value the flush manager cannot work with. */
export class FlushConfigError extends Error {
  override readonly name: string = 'FlushConfigError';
}

export class FlushStrategyError extends FlushConfigError {
  override readonly name = 'FlushStrategyError';
  constructor(
    readonly value: string,
    detail?: string,
  ) {
    super(`invalid flush strategy ${JSON.stringify(value)}: ${ACCEPTED_FORMS}${detail ? `; ${detail}` : ''}`);
  }
}

/**
 * Parses `adaptive`, `end`, `end,<ms>`, `periodic,<ms>` or `continuous,<ms>` (case-insensitive,
 * blanks around the parts ignored). Unset or blank means adaptive.
 */
export function parseFlushStrategy(value: string | undefined): FlushStrategy {
  if (value === undefined || value.trim() === '') return DEFAULT_FLUSH_STRATEGY;
  const parts = value.split(',').map((part) => part.trim());
  const kind = parts[0]?.toLowerCase();
  if (parts.length > 2) throw new FlushStrategyError(value, 'too many parts');
  const msText = parts[1];
  switch (kind) {
    case 'adaptive':
      if (msText !== undefined) throw new FlushStrategyError(value, 'adaptive takes no interval');
      return DEFAULT_FLUSH_STRATEGY;
    case 'end':
      return msText === undefined ? { kind: 'end' } : { kind: 'end', backstopMs: parseMs(value, msText) };
    case 'periodic':
    case 'continuous':
      if (msText === undefined) throw new FlushStrategyError(value, `${kind} needs an interval in ms`);
      return { kind, intervalMs: parseMs(value, msText) };
    default:
      throw new FlushStrategyError(value);
  }
}

function parseMs(value: string, text: string): number {
  if (!/^\d+$/.test(text))
    throw new FlushStrategyError(value, `${JSON.stringify(text)} is not a positive integer`);
  const ms = Number(text);
  if (ms <= 0) throw new FlushStrategyError(value, `${text} is not a positive integer`);
  if (ms > MAX_TIMER_MS) throw new FlushStrategyError(value, `${text} exceeds ${MAX_TIMER_MS}`);
  return ms;
}

/** The strategy in the form it is written in configuration. */
export function formatFlushStrategy(strategy: FlushStrategy): string {
  switch (strategy.kind) {
    case 'adaptive':
      return 'adaptive';
    case 'end':
      return strategy.backstopMs === undefined ? 'end' : `end,${strategy.backstopMs}`;
    case 'periodic':
    case 'continuous':
      return `${strategy.kind},${strategy.intervalMs}`;
  }
}
