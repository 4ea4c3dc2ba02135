// One execution environment: what an init creates and a reset throws away (the processes, their
// cgroup, /etc/hosts and network), and what Lambda measures of it.
import { nowMs } from './clock.js';
import { EnvironmentNetwork } from './netns.js';
import type { ResolvedOptions } from './options.js';
import { type ManagedProcess, readMemoryKb } from './processes.js';
import { EnvironmentResources } from './resources.js';
import { SandboxHosts } from './sandbox-hosts.js';
import type { InitResult, ShutdownResult } from './types.js';

export interface Failure {
  errorType: string;
}

export interface Environment {
  phase: string;
  startedAtMs: number;
  initOver: boolean;
  extensions: Map<string, ManagedProcess>;
  functionProcess?: ManagedProcess;
  failure?: Failure;
  initResult?: InitResult;
  /** The next invocation is the first after this init (cold start). */
  coldPending: boolean;
  restoreDurationMs?: number;
  teardown?: Promise<ShutdownResult>;
  /** Its cgroup (CPU quota, memory limit, freezer), or SIGSTOP freezing where none could be made. */
  resources: EnvironmentResources;
  /** /etc/hosts with sandbox.localdomain, in a private mount namespace per process. */
  hosts: SandboxHosts;
  /** This machine's loopback, or a network namespace of its own. */
  network: EnvironmentNetwork;
}

/** A new environment, no process started yet; `apiAddress` is the APIs' host:port on this machine. */
export async function createEnvironment(
  o: ResolvedOptions,
  phase: string,
  apiAddress: string,
): Promise<Environment> {
  const startedAtMs = nowMs();
  // Made first: it is the one part that can fail (and then there is nothing to clean up).
  const network = o.network?.private
    ? await EnvironmentNetwork.create(Number(apiAddress.split(':')[1]), o.network.hostPorts ?? [])
    : EnvironmentNetwork.host(apiAddress);
  const resources = EnvironmentResources.create({
    memorySizeMB: o.memorySizeMB,
    memoryLimitMB: o.memoryLimitMB,
    unthrottled: o.unthrottled,
    control: o.resourceControl,
  });
  return {
    phase,
    startedAtMs,
    initOver: false,
    extensions: new Map(),
    coldPending: true,
    resources,
    hosts: SandboxHosts.create('127.0.0.1', o.sandboxHosts),
    network,
  };
}

/** The command that starts a process inside the environment: its cgroup, network, then /etc/hosts. */
export function wrapCommand(
  env: Environment,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  const inHosts = env.hosts.wrap(command, args);
  const inNetwork = env.network.wrap(inHosts.command, inHosts.args);
  return env.resources.wrap(inNetwork.command, inNetwork.args);
}

/** Removes the cgroup, the hosts file and the network namespace (the processes are gone). */
export async function removeEnvironment(env: Environment): Promise<void> {
  await env.resources.remove();
  env.hosts.remove();
  env.network.remove();
}

/** Read through a call: the environment's failure changes while an invocation awaits. */
export function failureOf(env: Environment): Failure | undefined {
  return env.failure;
}

/**
 * What Lambda reports as Max Memory Used, MB: the peak memory charged to the environment's cgroup
 * (resident memory and page cache of every process); without a cgroup, the sum of the processes'
 * peak RSS (VmHWM).
 */
export function maxMemoryUsedMB(env: Environment, memorySizeMB: number): number {
  const peak = env.resources.peakMemoryBytes();
  if (peak !== undefined) {
    const limitMB = env.resources.info.memoryLimitMB ?? memorySizeMB;
    return Math.min(limitMB, Math.ceil(peak / (1024 * 1024)));
  }
  let kb = 0;
  const procs = [env.functionProcess, ...env.extensions.values()];
  for (const proc of procs) {
    if (proc?.pid && !proc.exit) kb += readMemoryKb(proc.pid)?.peakKb ?? 0;
  }
  return Math.ceil(kb / 1024);
}
