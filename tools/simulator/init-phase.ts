// The init phase: the extensions start and register, then the runtime starts, and init is over when
// every process is parked on next (or it failed or ran out of time). SnapStart then takes its
// snapshot and restores from it.
import { resolve } from 'node:path';
import { nowMs } from './clock.js';
import {
  type EnvironmentSpec,
  extensionEnv,
  findExtensions,
  functionEnv,
  initializationTypeOf,
} from './environment.js';
import { platform } from './events.js';
import { type Environment, wrapCommand } from './execution-environment.js';
import { DELIVERY_SETTLE_MS, type LifecycleParts } from './lifecycle.js';
import type { ResolvedOptions } from './options.js';
import { randomHex } from './tracing.js';
import type { ExtensionInitInfo, InitResult } from './types.js';

const RUNTIME_VERSION = 'nodejs:20.v99';
const RUNTIME_VERSION_ARN = `arn:aws:lambda:us-east-1::runtime:${'0'.repeat(64)}`;

function environmentSpec(o: ResolvedOptions, runtimeApi: string): EnvironmentSpec {
  return {
    runtimeApi,
    functionName: o.functionName,
    functionVersion: o.functionVersion,
    memorySizeMB: o.memorySizeMB,
    region: o.region,
    mode: o.mode,
    optDir: o.optDir,
    callerEnv: o.env,
  };
}

/** Runs init in `env` (the current environment, no process started yet) and reports it. */
export async function runInit(parts: LifecycleParts, env: Environment): Promise<InitResult> {
  const { options: o, timeline, hub, supervisor, runtimeApi, extensionsApi, conditions } = parts;
  const phase = env.phase;
  const initializationType = initializationTypeOf(o.mode);
  timeline.record({ kind: 'resources', info: env.resources.info });
  const deadlineMs = env.startedAtMs + o.initTimeoutMs;
  // SnapStart inits before the snapshot, out of sight: the environment only reports its restore.
  const reportInit = o.mode !== 'snap-start';
  hub.beginInit();
  timeline.record({ kind: 'init-start', phase, initializationType, atMs: env.startedAtMs });
  if (reportInit) {
    hub.emit(
      'platform.initStart',
      platform.initStart({
        initializationType,
        phase,
        functionName: o.functionName,
        functionVersion: o.functionVersion,
        instanceId: o.mode === 'managed-instances' ? randomHex(16) : undefined,
        runtimeVersion: RUNTIME_VERSION,
        runtimeVersionArn: RUNTIME_VERSION_ARN,
      }),
      env.startedAtMs,
    );
  }

  const spec = environmentSpec(o, env.network.info.runtimeApi);
  const extEnv = extensionEnv(spec);
  for (const ext of findExtensions(o.optDir)) {
    const proc = supervisor.spawn({
      role: 'extension',
      name: ext.name,
      ...wrapCommand(env, ext.path, []),
      env: extEnv,
      cwd: o.optDir ?? process.cwd(),
    });
    env.extensions.set(ext.name, proc);
    proc.exited.then(() => parts.processExited(env, proc));
  }

  // Extensions register first; the runtime starts once they all have.
  const launched = [...env.extensions.keys()];
  let ok = await conditions.waitUntil(
    () => env.failure !== undefined || launched.every((name) => extensionsApi.get(name)),
    deadlineMs,
  );
  let runtimeDone = false;
  if (ok && !env.failure) {
    const proc = supervisor.spawn({
      role: 'function',
      name: 'function',
      ...wrapCommand(env, process.execPath, [...o.functionNodeArgs, o.runtimeBootstrap]),
      env: functionEnv(spec, {
        handlerFile: o.handler,
        handlerExport: o.handlerExport,
        logFormat: o.logFormat,
        bootstrap: o.runtimeBootstrap,
        maxConcurrency: o.maxConcurrency,
      }),
      cwd: resolve(o.handler, '..'),
    });
    env.functionProcess = proc;
    proc.exited.then(() => parts.processExited(env, proc));
    ok = await conditions.waitUntil(() => env.failure !== undefined || runtimeApi.nextCount > 0, deadlineMs);
    if (ok && !env.failure) {
      runtimeDone = true;
      if (reportInit) {
        hub.emit(
          'platform.initRuntimeDone',
          platform.initRuntimeDone({
            initializationType,
            phase,
            status: 'success',
          }),
        );
      }
      ok = await conditions.waitUntil(
        () =>
          env.failure !== undefined ||
          extensionsApi.registrations().every((r) => r.firstNextAtMs !== undefined),
        deadlineMs,
      );
    }
  }

  const endedAtMs = nowMs();
  const failure = env.failure;
  const status: InitResult['status'] = failure ? 'error' : ok ? 'success' : 'timeout';
  const errorType = failure?.errorType ?? (status === 'timeout' ? 'Sandbox.Timedout' : undefined);
  env.initOver = true;
  hub.endInit();
  if (reportInit) {
    if (!runtimeDone) {
      hub.emit(
        'platform.initRuntimeDone',
        platform.initRuntimeDone({ initializationType, phase, status, errorType }),
      );
    }
    hub.emit(
      'platform.initReport',
      platform.initReport({
        initializationType,
        phase,
        status,
        errorType,
        durationMs: endedAtMs - env.startedAtMs,
      }),
    );
  }
  const result: InitResult = {
    status,
    errorType,
    phase,
    initializationType,
    startedAtMs: env.startedAtMs,
    endedAtMs,
    durationMs: endedAtMs - env.startedAtMs,
    functionPid: env.functionProcess?.pid,
    extensions: extensionInitInfo(parts, env),
    resources: env.resources.info,
    sandboxHosts: env.hosts.info,
    network: env.network.info,
  };
  env.initResult = result;
  timeline.record({
    kind: 'init-end',
    status,
    errorType,
    durationMs: result.durationMs,
    atMs: endedAtMs,
  });
  return result;
}

function extensionInitInfo(parts: LifecycleParts, env: Environment): ExtensionInitInfo[] {
  return [...env.extensions.values()].map((proc) => {
    const reg = parts.extensionsApi.get(proc.name);
    return {
      name: proc.name,
      pid: proc.pid,
      startedAtMs: proc.startedAtMs,
      registeredAtMs: reg?.registeredAtMs,
      firstNextAtMs: reg?.firstNextAtMs,
      startToFirstNextMs: reg?.firstNextAtMs === undefined ? undefined : reg.firstNextAtMs - proc.startedAtMs,
      events: reg?.events ?? [],
    };
  });
}

/** SnapStart: the snapshot is taken with everything parked; restore resumes the very same processes. */
export async function snapshotAndRestore(parts: LifecycleParts, env: Environment): Promise<void> {
  const { options: o, hub, freezer } = parts;
  await hub.flushAll(DELIVERY_SETTLE_MS);
  await freezer.freeze(parts.supervisor.live(), env.resources);
  const restoreStartMs = nowMs();
  hub.emit(
    'platform.restoreStart',
    platform.restoreStart({
      functionName: o.functionName,
      functionVersion: o.functionVersion,
      runtimeVersion: RUNTIME_VERSION,
      runtimeVersionArn: RUNTIME_VERSION_ARN,
    }),
    restoreStartMs,
  );
  freezer.thaw();
  // The runtime's after-restore hooks would run here; the parked processes just resume.
  await new Promise((r) => setImmediate(r));
  const restoreEndMs = nowMs();
  hub.emit(
    'platform.restoreRuntimeDone',
    platform.restoreRuntimeDone({
      status: 'success',
    }),
  );
  env.restoreDurationMs = restoreEndMs - restoreStartMs;
  hub.emit(
    'platform.restoreReport',
    platform.restoreReport({ status: 'success', durationMs: env.restoreDurationMs }),
  );
  parts.timeline.record({ kind: 'restore', durationMs: env.restoreDurationMs });
}
