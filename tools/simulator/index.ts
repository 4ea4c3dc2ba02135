// The Lambda simulator: an execution environment (Runtime, Extensions and Telemetry APIs, real
// processes, real freezing) for running the extension end to end on one machine.
export { LambdaSimulator } from './simulator.js';
export { freeLoopbackPort } from './ports.js';
export { readMemoryKb, readProcessState } from './processes.js';
export {
  cpuShareOf,
  EnvironmentResources,
  MB_PER_VCPU,
  type ResourceControl,
  type ResourceInfo,
  type ResourceMechanism,
  readFreezeState,
  removeStaleCgroups,
} from './resources.js';
export { BUFFERING_LIMITS, SCHEMA_VERSIONS, validateSubscription } from './telemetry-api.js';
export { functionTraceHeader, newXrayTraceValue, parseTraceValue } from './tracing.js';
export type * from './types.js';
