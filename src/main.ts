// Entry point of the extension process (started by the layer's launcher from /opt/extensions).

import { log } from './extension-log.js';
import { type LifecycleHooks, runLifecycle } from './lambda/lifecycle.js';

// The extension must never take the function down: stray errors are logged, not fatal.
process.on('uncaughtException', (err) => log.error('uncaught exception', err));
process.on('unhandledRejection', (reason) => log.error('unhandled rejection', reason));

const counts = { telemetryEvents: 0, invokes: 0 };

const hooks: LifecycleHooks = {
  onRegistered(info) {
    if (!log.enabled('debug')) return;
    const t = info.timings;
    log.debug(
      `ready: ${info.extensionName} for ${info.register.functionName} (${info.events.join(', ')}), telemetry ${info.telemetry.status}` +
        ` on ${info.listener.address}:${info.listener.port}; init ${t.sinceProcessStartMs.toFixed(1)} ms since process start` +
        ` (register ${t.registerMs.toFixed(1)}, listener ${t.listenerMs.toFixed(1)}, subscribe ${t.subscribeMs.toFixed(1)})`,
    );
  },
  onTelemetry(events) {
    counts.telemetryEvents += events.length;
    if (log.enabled('debug')) log.debug(`telemetry: ${events.length} events`);
  },
  async onInvoke(event) {
    counts.invokes++;
    if (log.enabled('debug')) log.debug(`invoke ${event.requestId}`);
  },
  async onShutdown(event) {
    if (log.enabled('debug')) {
      log.debug(
        `shutdown (${event.shutdownReason}) after ${counts.invokes} invokes, ${counts.telemetryEvents} telemetry events`,
      );
    }
  },
};

await runLifecycle({ hooks });
