// The simulator's options with Lambda's defaults filled in, and what follows from them.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimulatorOptions } from './types.js';

const DEFAULT_BOOTSTRAP = fileURLToPath(new URL('./runtime.mjs', import.meta.url));

export type ResolvedOptions = Required<
  Omit<SimulatorOptions, 'optDir' | 'telemetry' | 'network' | 'memoryLimitMB'>
> &
  Pick<SimulatorOptions, 'optDir' | 'telemetry' | 'network' | 'memoryLimitMB'>;

export function resolveOptions(options: SimulatorOptions): ResolvedOptions {
  const mode = options.mode ?? 'on-demand';
  return {
    optDir: options.optDir === undefined ? undefined : resolve(options.optDir),
    handler: resolve(options.handler),
    handlerExport: options.handlerExport ?? 'handler',
    functionName: options.functionName ?? 'simulated-function',
    functionVersion: options.functionVersion ?? '$LATEST',
    memorySizeMB: options.memorySizeMB ?? 128,
    unthrottled: options.unthrottled ?? false,
    memoryLimitMB: options.memoryLimitMB,
    resourceControl: options.resourceControl ?? 'auto',
    sandboxHosts: options.sandboxHosts ?? true,
    network: options.network,
    timeoutMs: options.timeoutMs ?? 3000,
    initTimeoutMs: options.initTimeoutMs ?? 10_000,
    env: options.env ?? {},
    logFormat: options.logFormat ?? 'text',
    mode,
    maxConcurrency: options.maxConcurrency ?? 4,
    // Managed Instances are never frozen: they serve concurrent invocations all the time.
    freeze: mode === 'managed-instances' ? false : (options.freeze ?? true),
    shutdownBudgetMs: options.shutdownBudgetMs ?? 2000,
    accountId: options.accountId ?? '123456789012',
    region: options.region ?? 'us-east-1',
    functionNodeArgs: options.functionNodeArgs ?? [],
    runtimeBootstrap: options.runtimeBootstrap ? resolve(options.runtimeBootstrap) : DEFAULT_BOOTSTRAP,
    echo: options.echo ?? false,
    keepHistory: options.keepHistory ?? true,
    telemetry: options.telemetry,
    tracing: options.tracing ?? 'pass-through',
  };
}

export function invokedFunctionArn(o: ResolvedOptions): string {
  return `arn:aws:lambda:${o.region}:${o.accountId}:function:${o.functionName}`;
}
