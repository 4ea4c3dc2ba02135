// The adaptive flush manager: when to flush, decided per invocation, freeze-safe and deadline-aware.

export { type ArrivalEstimates, ArrivalEstimator } from './arrival-estimator.js';
export {
  type DecisionEstimates,
  type DecisionInput,
  type DecisionReason,
  decide,
  type FlushDecision,
  type FlushMode,
  type StartFlushReason,
} from './decision.js';
export {
  type DecisionRecord,
  FlushManager,
  type FlushManagerOptions,
  type FlushStats,
  type ShutdownSummary,
} from './manager.js';
export { DEFAULT_FLUSH_SETTINGS, type FlushSettings, resolveFlushSettings } from './settings.js';
export {
  DEFAULT_FLUSH_STRATEGY,
  FlushConfigError,
  type FlushStrategy,
  FlushStrategyError,
  formatFlushStrategy,
  parseFlushStrategy,
} from './strategy.js';
export { systemClock, systemScheduler } from '../platform/system-time.js';
export type { FlushReport, FlushRequest, FlushTarget, PendingSummary } from '../model/flush-contract.js';
export type { Clock, Scheduler, TimerHandle } from '../model/time.js';
