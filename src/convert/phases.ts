// The environment's init or SnapStart restore phase: one span from initStart (restoreStart) to
// initRuntimeDone/initReport (restoreRuntimeDone/restoreReport), with the phase's own child spans.

import type { PlatformSpan } from '../lambda/telemetry-events.js';
import type { Invocation } from './invocations.js';

export type PhaseKind = 'init' | 'restore';

export class EnvironmentPhase {
  startMs: number | undefined = undefined;
  endMs: number | undefined = undefined;
  lastSeenMs: number;
  /** initRuntimeDone/initReport (or the restore equivalents) came. */
  ended = false;
  phase: string | undefined = undefined;
  status: string | undefined = undefined;
  errorType: string | undefined = undefined;
  runtimeVersion: string | undefined = undefined;
  children: PlatformSpan[] = [];
  childrenFrom: 'runtimeDone' | 'report' | undefined = undefined;
  durationCounted = false;
  /** The first invocation, when the phase is exported inside its trace. */
  attachedTo: Invocation | undefined = undefined;
  exported = false;

  constructor(
    readonly kind: PhaseKind,
    public initializationType: string,
    /** Pre-assigned; replaced by the first invocation's trace when attached to it. */
    public traceId: string,
    public spanId: string,
    seenMs: number,
  ) {
    this.lastSeenMs = seenMs;
  }
}
