// Platform telemetry → OTLP spans and metrics. The pipeline creates one PlatformConverter per
// environment, feeds it the register answer, INVOKE events and parsed telemetry, and collects
// encoded chunks from it at flush time.

export type { ConverterStats, PlatformConverterOptions } from './converter.js';
export { PlatformConverter } from './converter.js';
export type { IdGenerator } from './ids.js';
export { RandomIdGenerator } from './ids.js';
export type { FunctionTrace, InvocationDirectory, InvocationIdentity } from './invocations.js';
export type { Temporality } from './metrics.js';
export { DURATION_BUCKETS_S, MEMORY_BUCKETS_BYTES, PAYLOAD_BUCKETS_BYTES } from './metrics.js';
export { isOutOfMemoryLine } from './oom.js';
export type { Environment } from './resource.js';
export { PlatformResource, parseResourceAttributes, unqualifiedFunctionArn } from './resource.js';
export { parseTraceparent, parseXRayTraceHeader } from './trace-context.js';
export { EXTENSION_NAME, EXTENSION_VERSION } from './version.js';
