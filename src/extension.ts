// The composition root: one extension per execution environment. Configuration is read and
// validated before registering, the components are built (wiring.ts), Lambda's lifecycle drives
// them, and the shutdown line says what happened.

import {
  environmentFacts,
  extensionsDirOf,
  formatConfigErrors,
  type LoadedConfig,
  loadConfig,
  resolveSections,
} from './config/index.js';
import { convertProblems, type Problem } from './convert/convert-telemetry.js';
import { platformSpanSummary } from './convert/span-counters.js';
import { datadogResourceEnv } from './export/datadog.js';
import { log } from './extension-log.js';
import type { ShutdownSummary } from './flush/index.js';
import type { HookError, LifecycleHooks } from './lambda/lifecycle.js';
import { runLifecycle } from './lambda/lifecycle.js';
import { intakeSummary } from './lambda/telemetry-intake.js';
import { budgetBytes, MemoryBudget } from './pipeline/memory-budget.js';
import { memorySummary } from './pipeline/memory-telemetry.js';
import { dirnamePath, pathOfFileUrl } from './platform/paths.js';
import { OtlpReceiver } from './receiver/otlp-receiver.js';
import { receiverProblems } from './receiver/receiver-telemetry.js';
import type { TraceCorrelator } from './receiver/trace-correlation.js';
import { DISCARD, grpcTransport, Wiring } from './wiring.js';

export interface ExtensionOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the layer's config.yaml sits: next to the bundle by default. */
  layerDir?: string;
  /** Where the function package is (/var/task in Lambda). */
  taskRoot?: string;
}

export async function runExtension(options: ExtensionOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const layerDir = options.layerDir ?? dirnamePath(pathOfFileUrl(import.meta.url));
  // Looked up while the configuration is read: never rejects.
  const facts = environmentFacts(extensionsDirOf(layerDir));
  let loaded = await loadConfig({
    env,
    layerDir,
    ...(options.taskRoot !== undefined && { taskRoot: options.taskRoot }),
  });
  if (loaded.config.log_level !== log.level && env['LAMBDA_OTEL_LOG_LEVEL'] === undefined) {
    log.setLevel(loaded.config.log_level);
  }
  for (const warning of loaded.warnings) log.warn(warning);
  loaded = await resolveSecretReferences(loaded, env);

  // A configuration problem never takes the function down unless strict_config asks for it: the
  // extension then follows the lifecycle and exports nothing.
  const resolved = resolveSections(loaded, env, await facts);
  const sections = resolved.ok ? resolved.sections : undefined;
  const invalid = resolved.ok ? undefined : formatConfigErrors(resolved.errors);
  for (const note of sections?.export.notes ?? []) log[note.level](note.message);
  if (invalid !== undefined) {
    log.error(
      loaded.config.strict_config
        ? invalid
        : `${invalid}; running in pass-through mode (nothing is exported)`,
    );
  }
  const budget = new MemoryBudget(
    budgetBytes({
      functionMemoryMb: Number(env['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']) || undefined,
      percent: loaded.config.memory.budget_percent,
      maxBytes: loaded.config.memory.max_budget_bytes,
    }),
  );
  // With the Datadog preset on, DD_SERVICE / DD_ENV / DD_VERSION / DD_TAGS describe the resource.
  const resourceEnv = sections?.export.destinations.some((d) => d.name === 'datadog')
    ? { ...env, ...datadogResourceEnv(env) }
    : env;
  const wiring = sections
    ? new Wiring(loaded, sections, resourceEnv, budget, configuresOpenTelemetry(env))
    : undefined;
  const receiver = wiring?.receiver ?? passThroughReceiver(loaded, budget);
  const receiverStarted = receiver?.start().catch((err: unknown) => {
    log.warn(`local OTLP receiver not started: ${err instanceof Error ? err.message : String(err)}`);
  });

  const hooks: LifecycleHooks = {
    async onRegistered(info) {
      if (invalid !== undefined && loaded.config.strict_config) {
        const err: HookError = new Error(invalid);
        err.errorType = 'Extension.ConfigInvalid';
        throw err;
      }
      await receiverStarted;
      // OTLP/gRPC binds once registered: off the init path, and still long before a function's
      // exporter sends anything.
      receiver?.startGrpc().catch((err: unknown) => {
        log.warn(`local OTLP/gRPC receiver not started: ${err instanceof Error ? err.message : String(err)}`);
      });
      wiring?.onRegistered(info);
    },
    onTelemetry(events) {
      wiring?.onTelemetry(events);
    },
    async onInvoke(event) {
      if (wiring) await wiring.onInvoke(event);
    },
    async onShutdown(event) {
      const summary = wiring ? await wiring.onShutdown(event) : undefined;
      await receiver?.stop().catch(() => {});
      finalLogLine(event.shutdownReason, summary, wiring);
    },
  };
  return runLifecycle({
    hooks,
    env,
    buffering: {
      maxItems: loaded.config.telemetry_api.buffering.max_items,
      maxBytes: loaded.config.telemetry_api.buffering.max_bytes,
      timeoutMs: loaded.config.telemetry_api.buffering.timeout_ms,
    },
    maxBodyBytes: loaded.config.telemetry_api.max_body_bytes,
    budget,
  });
}

/**
 * Secret references (${secretsmanager:…}, ${ssm:…}, DD_API_KEY_SECRET_ARN) are resolved once, here,
 * within secrets.timeout_ms. The resolver and the signer are loaded only when something is referenced.
 */
async function resolveSecretReferences(loaded: LoadedConfig, env: NodeJS.ProcessEnv): Promise<LoadedConfig> {
  if (loaded.errors.length > 0) return loaded;
  const dd = loaded.config.datadog;
  const text = JSON.stringify(loaded.config);
  const referenced =
    (dd.api_key === undefined && dd.api_key_secret_arn !== undefined) ||
    text.includes('${secretsmanager:') ||
    text.includes('${ssm:');
  if (!referenced) return loaded;
  const { resolveSecrets } = await import('./secrets/resolve.js');
  const result = await resolveSecrets(loaded, { env });
  log.debug(`secrets: ${result.lookups} lookups in ${result.elapsedMs} ms`);
  return result.loaded;
}

/** In pass-through mode the function's exports are still accepted (and discarded), so its SDK stays quiet. */
function passThroughReceiver(loaded: LoadedConfig, budget: MemoryBudget): OtlpReceiver | undefined {
  if (!loaded.config.receiver.enabled) return undefined;
  return new OtlpReceiver({
    sink: DISCARD,
    port: loaded.config.receiver.port,
    budget,
    log,
    ...grpcTransport(loaded.config.receiver),
  });
}

function configuresOpenTelemetry(env: NodeJS.ProcessEnv): boolean {
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === '') continue;
    if (name.startsWith('OTEL_') || name === 'AWS_LAMBDA_EXEC_WRAPPER') return true;
  }
  return false;
}

function finalLogLine(
  reason: string,
  summary: ShutdownSummary | undefined,
  wiring: Wiring | undefined,
): void {
  if (!summary || !wiring) {
    log.info(`shutdown (${reason}): pass-through mode, nothing exported`);
    return;
  }
  const problems = componentProblems(wiring);
  const line =
    `shutdown (${reason}): exported ${summary.exportedItems} items in ${summary.durationMs.toFixed(0)} ms` +
    `, dropped ${summary.droppedItems}, unsent ${summary.unsentItems}` +
    (summary.deadlineHit ? ' (deadline reached)' : '') +
    `; ${wiring.pipeline.stats.summary()}` +
    `; ${platformSpanSummary(wiring.converter.stats, wiring.converter.samplerDescription)}` +
    heldSummary(wiring.correlator) +
    `; ${memorySummary(wiring.budget)}` +
    (wiring.intake ? `; ${intakeSummary(wiring.intake.parseStats, wiring.intake.listenerStats)}` : '') +
    (problems.length > 0 ? `; problems: ${problems.map((p) => p.text).join(', ')}` : '');
  // What could not be sent, or failed, is what the user must hear about, even at the default level.
  if (summary.unsentItems > 0 || summary.droppedItems > 0 || problems.some((p) => p.loss)) log.warn(line);
  else log.info(line);
}

/** What the converters and the receiver counted as going wrong; only non-zero counts. */
function componentProblems(wiring: Wiring): Problem[] {
  return [
    ...convertProblems(wiring.converter.stats, wiring.logs?.stats(), wiring.converter.resource.problems),
    ...(wiring.receiver ? receiverProblems(wiring.receiver.stats()) : []),
  ];
}

/** Function requests that waited for their invocation's platform.start (Managed Instances). */
function heldSummary(correlator: TraceCorrelator): string {
  const h = correlator.holds;
  if (h.held === 0 && h.overflow === 0) return '';
  return `; function spans waiting for their invocation: ${h.held} requests (${h.released} joined, ${h.expired} delivered unjoined, ${h.overflow} not held: bound reached)`;
}
