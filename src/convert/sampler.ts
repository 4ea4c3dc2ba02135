// Which of the extension's own (platform) spans are exported: the OpenTelemetry sampler vocabulary
// (OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG), read from our own settings so the function's SDK
// keeps its own. The parent of a platform span is Lambda's trace header: `Sampled=1` / `Sampled=0`
// is the parent's decision; a header without `Sampled` (PassThrough without an upstream decision,
// `Root=…;Lineage=…`) has none, so parent-based samplers fall back to their root sampler.
//
// Lambda's default tracing mode (PassThrough) sends `Sampled=0` for most invocations: a decision
// made upstream for X-Ray, not for this extension. So the default is always_on; parentbased_* is
// for users whose upstream decision is theirs (X-Ray active tracing, or a caller that samples).

export const SAMPLER_NAMES = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export type SamplerName = (typeof SAMPLER_NAMES)[number];

export interface PlatformSampler {
  /**
   * `parentSampled`: the trace header's `Sampled` flag, undefined when it has none (or when the
   * trace id was made here).
   */
  shouldSample(traceId: string, parentSampled: boolean | undefined): boolean;
  /** For the log, e.g. `parentbased_traceidratio(0.1)`. */
  readonly description: string;
}

const TWO_POW_32 = 4294967296;

/**
 * The trace id ratio test the OpenTelemetry JS SDK uses (TraceIdRatioBasedSampler): the four 32-bit
 * words of the trace id XORed, below ratio × (2^32 − 1). The same rule as the function's Node SDK,
 * so both keep or drop the same traces.
 */
export function traceIdRatioSampled(traceId: string, ratio: number): boolean {
  if (!(ratio > 0)) return false;
  if (traceId.length !== 32 || !/^[0-9a-f]{32}$/i.test(traceId) || /^0+$/.test(traceId)) return false;
  const upperBound = ratio >= 1 ? TWO_POW_32 : Math.floor(ratio * (TWO_POW_32 - 1));
  let accumulation = 0;
  for (let i = 0; i < 32; i += 8) {
    accumulation = (accumulation ^ Number.parseInt(traceId.slice(i, i + 8), 16)) >>> 0;
  }
  return accumulation < upperBound;
}

/** `ratio` is OTEL_TRACES_SAMPLER_ARG's meaning: used by the *traceidratio samplers only, clamped to [0, 1]. */
export function createSampler(name: SamplerName, ratio = 1): PlatformSampler {
  const r = Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 1;
  const root: (traceId: string) => boolean =
    name === 'always_off' || name === 'parentbased_always_off'
      ? () => false
      : name === 'traceidratio' || name === 'parentbased_traceidratio'
        ? (traceId) => traceIdRatioSampled(traceId, r)
        : () => true;
  const description = name.endsWith('traceidratio') ? `${name}(${r})` : name;
  if (!name.startsWith('parentbased_')) {
    return { description, shouldSample: (traceId) => root(traceId) };
  }
  return {
    description,
    shouldSample: (traceId, parentSampled) => parentSampled ?? root(traceId),
  };
}

export const ALWAYS_ON: PlatformSampler = createSampler('always_on');
