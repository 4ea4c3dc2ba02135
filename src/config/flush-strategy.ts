// The textual flush strategy, validated with the configuration's messages and bounds. The grammar
// itself is the flush manager's (src/flush/strategy.ts); this adds the range a setting may take.

import {
  type FlushStrategy,
  FlushStrategyError,
  parseFlushStrategy as parseStrategy,
} from '../flush/strategy.js';
import { INVALID, type Invalid, Problem } from './schema.js';

/** The flush manager's own type: the configuration hands it over as is. */
export type { FlushStrategy };
export { formatFlushStrategy } from '../flush/strategy.js';

export const FLUSH_STRATEGY_FORMS = 'adaptive | end | end,<ms> | periodic,<ms> | continuous,<ms>';

/** Bounds of `<ms>`: below 100 ms flushing dominates; above 15 minutes (the longest invocation) it never fires. */
export const FLUSH_INTERVAL_MIN_MS = 100;
export const FLUSH_INTERVAL_MAX_MS = 900_000;

export function parseFlushStrategy(text: string): FlushStrategy | Problem | Invalid {
  // Blank means the default to the flush manager; as a setting's value it is not one of the forms.
  if (text.trim() === '') return INVALID;
  const comma = text.indexOf(',');
  const kind = (comma < 0 ? text : text.slice(0, comma)).trim().toLowerCase();
  const interval = comma < 0 ? undefined : text.slice(comma + 1).trim();
  const badInterval = () =>
    new Problem(
      `expected <ms> in "${kind},<ms>" to be an integer between ${FLUSH_INTERVAL_MIN_MS} and ${FLUSH_INTERVAL_MAX_MS}, got ${JSON.stringify((interval ?? '').slice(0, 40))}`,
    );
  let strategy: FlushStrategy;
  try {
    strategy = parseStrategy(text);
  } catch (err) {
    if (!(err instanceof FlushStrategyError)) throw err;
    // A known interval form with a bad number gets the range message; anything else, the forms.
    return interval !== undefined && INTERVAL_KINDS.has(kind) ? badInterval() : INVALID;
  }
  const ms =
    strategy.kind === 'end'
      ? strategy.backstopMs
      : strategy.kind === 'adaptive'
        ? undefined
        : strategy.intervalMs;
  if (ms !== undefined && (ms < FLUSH_INTERVAL_MIN_MS || ms > FLUSH_INTERVAL_MAX_MS)) return badInterval();
  return strategy;
}

const INTERVAL_KINDS = new Set(['end', 'periodic', 'continuous']);
