// Learns the invocation pattern from INVOKE arrival times, fast: every estimate moves halfway to a
// new observation, so a change of pace shows within two or three invocations.
//
// Three views of the gaps between arrivals:
// - typical and upper gap: an EWMA of log(gap) and of its absolute deviation. Working in logs keeps
//   one 10-minute idle period from swamping a stream of 20 ms gaps, and the deviation widens the
//   upper estimate whenever the pace changes (slowing down, a burst starting), which is exactly
//   when background flushing is risky.
// - burst-end rate: an EWMA of "this gap was long" (long = data held in the background would go
//   stale). It remembers idle periods for several invocations after the gaps turn short again.
// - burst length: how many invocations came between long gaps. When bursts have a regular size
//   (a scheduled batch, a queue drained in a fixed number of calls) the end of the next one can be
//   expected, and its last invocations flushed in their own time rather than left in a freeze.

export interface ArrivalEstimates {
  readonly invocations: number;
  readonly gaps: number;
  readonly lastGapMs: number | undefined;
  /** Geometric moving mean of the gaps. */
  readonly typicalGapMs: number | undefined;
  /** typical × e^(2·deviation): the gap to plan for. */
  readonly upperGapMs: number | undefined;
  /** Moving share of gaps longer than longGapMs. */
  readonly burstEndRate: number;
  /** 1 for the first invocation after a long gap (or after init), then 2, 3, … */
  readonly burstIndex: number;
  /** Smaller and larger of (moving mean, last) completed burst length; undefined before one ended. */
  readonly burstLengthLow: number | undefined;
  readonly burstLengthHigh: number | undefined;
}

export interface ArrivalEstimatorOptions {
  /** A gap longer than this ends a burst. */
  longGapMs: number;
  /** Weight of a new gap in the typical gap and its deviation. */
  alpha?: number;
  /** Weight of a new gap in the burst-end rate. */
  burstAlpha?: number;
  /** Burst-end rate before any gap: an environment was just created, so the pace is unknown. */
  initialBurstEndRate?: number;
  /** Log-deviation assumed after the first gap (one gap says nothing about variability). */
  initialDeviation?: number;
}

const UPPER_DEVIATIONS = 2;

export class ArrivalEstimator {
  readonly longGapMs: number;
  private readonly alpha: number;
  private readonly burstAlpha: number;
  private readonly initialDeviation: number;
  private lastArrivalMs: number | undefined;
  private invocations = 0;
  private gaps = 0;
  private lastGapMs: number | undefined;
  private logMean = 0;
  private logDeviation = 0;
  private burstEndRate: number;
  private burstIndex = 0;
  private burstLengthMean: number | undefined;
  private lastBurstLength: number | undefined;

  constructor(options: ArrivalEstimatorOptions) {
    this.longGapMs = options.longGapMs;
    this.alpha = options.alpha ?? 0.5;
    this.burstAlpha = options.burstAlpha ?? 0.3;
    this.burstEndRate = options.initialBurstEndRate ?? 0.25;
    this.initialDeviation = options.initialDeviation ?? 1;
  }

  /** Records an INVOKE arrival; returns the gap since the previous one (undefined for the first). */
  observe(arrivalMs: number): number | undefined {
    this.invocations++;
    const previous = this.lastArrivalMs;
    this.lastArrivalMs = arrivalMs;
    if (previous === undefined) {
      this.burstIndex = 1;
      return undefined;
    }
    // Clocks can step backwards (NTP); a negative gap is "back to back".
    const gap = Math.max(0, arrivalMs - previous);
    this.gaps++;
    this.lastGapMs = gap;
    const logGap = Math.log(Math.max(gap, 1));
    if (this.gaps === 1) {
      this.logMean = logGap;
      this.logDeviation = this.initialDeviation;
    } else {
      this.logDeviation = this.alpha * Math.abs(logGap - this.logMean) + (1 - this.alpha) * this.logDeviation;
      this.logMean = this.alpha * logGap + (1 - this.alpha) * this.logMean;
    }
    const long = gap > this.longGapMs;
    this.burstEndRate = this.burstAlpha * (long ? 1 : 0) + (1 - this.burstAlpha) * this.burstEndRate;
    if (long) {
      const length = this.burstIndex;
      this.lastBurstLength = length;
      this.burstLengthMean =
        this.burstLengthMean === undefined ? length : 0.5 * length + 0.5 * this.burstLengthMean;
      this.burstIndex = 1;
    } else {
      this.burstIndex++;
    }
    return gap;
  }

  estimates(): ArrivalEstimates {
    const hasGap = this.gaps > 0;
    const mean = this.burstLengthMean;
    const last = this.lastBurstLength;
    return {
      invocations: this.invocations,
      gaps: this.gaps,
      lastGapMs: this.lastGapMs,
      typicalGapMs: hasGap ? Math.exp(this.logMean) : undefined,
      upperGapMs: hasGap ? Math.exp(this.logMean + UPPER_DEVIATIONS * this.logDeviation) : undefined,
      burstEndRate: this.burstEndRate,
      burstIndex: this.burstIndex,
      burstLengthLow: mean === undefined || last === undefined ? undefined : Math.min(mean, last),
      burstLengthHigh: mean === undefined || last === undefined ? undefined : Math.max(mean, last),
    };
  }
}
