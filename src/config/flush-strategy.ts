// The textual flush strategy (`adaptive`, `end`, `end,<ms>`, `periodic,<ms>`, `continuous,<ms>`),
// validated with the configuration's messages and bounds into the flush manager's FlushStrategy.

import type { FlushStrategy } from '../flush/strategy.js';
import { INVALID, type Invalid, Problem } from './schema.js';

/** The flush manager's own type: the configuration hands it over as is. */
export type { FlushStrategy };

export const FLUSH_STRATEGY_FORMS = 'adaptive | end | end,<ms> | periodic,<ms> | continuous,<ms>';

/** Bounds of `<ms>`: below 100 ms flushing dominates; above 15 minutes (the longest invocation) it never fires. */
export const FLUSH_INTERVAL_MIN_MS = 100;
export const FLUSH_INTERVAL_MAX_MS = 900_000;

const FORM = /^(adaptive|end|periodic|continuous)(?:\s*,\s*(.*))?$/i;

export function parseFlushStrategy(text: string): FlushStrategy | Problem | Invalid {
  const match = FORM.exec(text.trim());
  if (!match) return INVALID;
  const kind = match[1]!.toLowerCase() as FlushStrategy['kind'];
  const interval = match[2];
  if (interval === undefined) {
    if (kind === 'adaptive' || kind === 'end') return { kind };
    return INVALID; // periodic and continuous need an interval
  }
  if (kind === 'adaptive') return INVALID;
  const ms = /^\d+$/.test(interval) ? Number(interval) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < FLUSH_INTERVAL_MIN_MS || ms > FLUSH_INTERVAL_MAX_MS) {
    return new Problem(
      `expected <ms> in "${kind},<ms>" to be an integer between ${FLUSH_INTERVAL_MIN_MS} and ${FLUSH_INTERVAL_MAX_MS}, got ${JSON.stringify(interval.slice(0, 40))}`,
    );
  }
  return kind === 'end' ? { kind, backstopMs: ms } : { kind, intervalMs: ms };
}

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
