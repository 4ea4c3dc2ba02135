// SHUTDOWN: the extensions that asked for it get the event and the budget, the runtime gets SIGTERM
// (SIGKILL after a failure), whatever is left at the deadline is killed, and the environment is
// removed.
import { nowMs, within } from './clock.js';
import { type Environment, removeEnvironment } from './execution-environment.js';
import type { LifecycleParts } from './lifecycle.js';
import type { ExtensionShutdownInfo, ShutdownReason, ShutdownResult } from './types.js';

/** The result of a shutdown with no environment to shut down. */
export function emptyShutdown(reason: ShutdownReason): ShutdownResult {
  const atMs = nowMs();
  return {
    reason,
    startedAtMs: atMs,
    deadlineMs: atMs,
    endedAtMs: atMs,
    extensions: [],
    undeliveredRecords: 0,
  };
}

/** Shuts `env` down; the simulator's APIs are reset for the next environment. */
export async function runShutdown(
  parts: LifecycleParts,
  env: Environment,
  reason: ShutdownReason,
): Promise<ShutdownResult> {
  const { timeline, supervisor, extensionsApi } = parts;
  env.initOver = true;
  parts.thaw();
  const startedAtMs = nowMs();
  const deadlineMs = startedAtMs + parts.options.shutdownBudgetMs;
  timeline.record({ kind: 'shutdown-start', reason, deadlineMs, atMs: startedAtMs });

  for (const [name, proc] of env.extensions) {
    if (proc.exit) continue;
    const reg = extensionsApi.get(name);
    if (reg?.events.includes('SHUTDOWN') && !reg.reportedError) {
      extensionsApi.dispatch(reg, {
        eventType: 'SHUTDOWN',
        shutdownReason: reason,
        deadlineMs: Math.round(deadlineMs),
      });
    } else {
      // Not listening for SHUTDOWN (or already reported it is exiting): nothing to wait for.
      supervisor.signal(proc, 'SIGKILL');
    }
  }
  const fn = env.functionProcess;
  if (fn && !fn.exit) supervisor.signal(fn, reason === 'spindown' ? 'SIGTERM' : 'SIGKILL');

  const extensionProcs = [...env.extensions.values()];
  await parts.conditions.waitUntil(() => extensionProcs.every((p) => p.exit !== undefined), deadlineMs);
  const all = [...extensionProcs, ...(fn ? [fn] : [])];
  for (const proc of all) if (!proc.exit) supervisor.signal(proc, 'SIGKILL');
  // Children that left their process group are still in the cgroup: they go with the environment.
  env.resources.killAll();
  await within(Promise.all(all.map((p) => p.exited)), 2000);
  await removeEnvironment(env);

  const undeliveredRecords = parts.hub.closeAll();
  const extensions: ExtensionShutdownInfo[] = extensionProcs.map((proc) => ({
    name: proc.name,
    pid: proc.pid,
    receivedShutdown: extensionsApi.get(proc.name)?.receivedShutdown ?? false,
    exitedBeforeDeadline:
      proc.exit !== undefined && proc.exit.atMs <= deadlineMs && proc.exit.signal !== 'SIGKILL',
    exitCode: proc.exit?.code ?? null,
    signal: proc.exit?.signal ?? null,
    exitAtMs: proc.exit?.atMs,
  }));
  extensionsApi.reset();
  parts.runtimeApi.reset();
  for (const [requestId, active] of parts.active) if (!active.outcome) parts.active.delete(requestId);
  const endedAtMs = nowMs();
  timeline.record({ kind: 'shutdown-end', reason, atMs: endedAtMs });
  return { reason, startedAtMs, deadlineMs, endedAtMs, extensions, undeliveredRecords };
}
