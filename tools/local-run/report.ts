// What a local run prints: the init, each invocation with its waterfall of spans (or, when
// exporting elsewhere, what the simulator measured), the shutdown, the metrics table, a line about
// the logs, and the extension's own log lines.

import { attrs, type LocatedLogRecord, type LocatedSpan } from '../otlp/decode.js';
import type { InvocationResult } from '../simulator/types.js';
import { renderMetricsTable, summarizeMetrics } from './metrics-table.js';
import type { LocalRunResult } from './run.js';
import { formatMs, type Style } from './style.js';
import { invocationSpan, renderWaterfall, spanTree, traceForest } from './waterfall.js';

export interface ReportOptions {
  style: Style;
  /** Bar columns of the waterfall. */
  barWidth?: number;
  /** Also print the function's stdout/stderr lines (always printed when exporting elsewhere). */
  functionOutput?: boolean;
}

const INDENT = '  ';

export function renderRun(run: LocalRunResult, options: ReportOptions): string[] {
  const { style } = options;
  const out: string[] = [];
  const received = run.received;
  out.push(
    style.paint(
      'bold',
      `${run.functionName}: ${run.invocations.length} invocation(s) in the Lambda simulator with the extension from ${run.layerDir}`,
    ),
  );
  out.push(
    received
      ? `exporting to the embedded OTLP sink at ${received.endpoint}`
      : `exporting to ${run.endpoint} (what arrives there is not shown here)`,
  );
  out.push('');

  const init = run.init;
  if (init) {
    const ext = init.extensions.map(
      (e) => `${e.name} ready ${formatMs(e.startToFirstNextMs ?? Number.NaN)} after start`,
    );
    const status =
      init.status === 'success' ? 'success' : style.paint('red', `${init.status} ${init.errorType ?? ''}`);
    out.push(`init: ${status} in ${formatMs(init.durationMs)}${ext.length ? ` (${ext.join(', ')})` : ''}`);
  }

  const shown = new Set<string>();
  run.invocations.forEach((inv, i) => {
    out.push('');
    out.push(...invocationHeader(inv, i, run.invocations.length, run, style));
    if (!received) return;
    const root = invocationSpan(received.spans, inv.requestId);
    if (root === undefined) {
      out.push(`${INDENT}${style.paint('yellow', 'no invocation span received for this request')}`);
      return;
    }
    const tree = spanTree(received.spans, root);
    for (const id of tree.spanIds) shown.add(id);
    out.push(
      ...indent(
        renderWaterfall(tree.rows, { style, ...(options.barWidth && { barWidth: options.barWidth }) }),
      ),
    );
  });

  if (received) {
    const rest = received.spans.filter((s) => !shown.has(s.spanId));
    if (rest.length > 0) {
      out.push('');
      out.push(`spans outside the invocations' traces: ${rest.length}`);
      const byTrace = new Map<string, LocatedSpan[]>();
      for (const span of rest) byTrace.set(span.traceId, [...(byTrace.get(span.traceId) ?? []), span]);
      for (const [traceId, spans] of byTrace) {
        for (const tree of traceForest(spans)) {
          out.push(`${INDENT}trace ${traceId}`);
          out.push(...indent(renderWaterfall(tree.rows, { style }), 2));
        }
      }
    }
  }

  out.push('');
  const down = run.shutdown;
  for (const ext of down.extensions) {
    const took = ext.exitAtMs === undefined ? '' : ` after ${formatMs(ext.exitAtMs - down.startedAtMs)}`;
    const how = ext.exitedBeforeDeadline
      ? `exited${took} (code ${ext.exitCode}), before the deadline`
      : style.paint(
          'red',
          `was killed at the deadline (${formatMs(down.deadlineMs - down.startedAtMs)} budget)`,
        );
    out.push(`shutdown (${down.reason}): ${ext.name} ${how}`);
  }

  if (received) {
    out.push('');
    out.push(style.paint('bold', 'metrics received'));
    const rows = summarizeMetrics(received.metrics);
    out.push(...(rows.length > 0 ? indent(renderMetricsTable(rows, style)) : [`${INDENT}none`]));
    out.push('');
    out.push(logsLine(received.logs, run.invocations));
  } else {
    out.push('');
    out.push(style.paint('bold', 'function output'));
    out.push(...indent(run.functionLines.map((l) => l.line)));
  }
  if (options.functionOutput && received) {
    out.push('');
    out.push(style.paint('bold', 'function output'));
    out.push(...indent(run.functionLines.map((l) => l.line)));
  }

  out.push('');
  out.push(style.paint('bold', 'extension log'));
  out.push(...indent(run.extensionLines.map((l) => style.paint('dim', l.line))));

  out.push('');
  const total = received
    ? `received ${received.spans.length} spans, ${summarizeMetrics(received.metrics).length} metric series and ${
        received.logs.length
      } log records in ${
        received.requests.traces + received.requests.metrics + received.requests.logs
      } requests; `
    : '';
  out.push(`${total}run took ${formatMs(run.durationMs)}`);
  return out;
}

function invocationHeader(
  inv: InvocationResult,
  index: number,
  count: number,
  run: LocalRunResult,
  style: Style,
): string[] {
  const outcome =
    inv.status === 'success'
      ? style.paint('green', 'success')
      : style.paint('red', `✗ ${inv.status}${inv.errorType ? ` ${inv.errorType}` : ''}`);
  const figures = [
    `duration ${formatMs(inv.durationMs)}`,
    inv.billedDurationMs !== undefined ? `billed ${formatMs(inv.billedDurationMs)}` : undefined,
    inv.postRuntimeExtensionsDurationMs !== undefined
      ? `post-runtime ${formatMs(inv.postRuntimeExtensionsDurationMs)}`
      : undefined,
    inv.maxMemoryUsedMB !== undefined ? `max memory ${inv.maxMemoryUsedMB} MB` : undefined,
  ].filter((f) => f !== undefined);
  const line = `invocation ${index + 1}/${count} · ${inv.coldStart ? 'cold' : 'warm'} · ${outcome} · ${figures.join(' · ')}`;
  const lines = [style.paint('bold', line)];
  const root = run.received ? invocationSpan(run.received.spans, inv.requestId) : undefined;
  const logs = run.received?.logs.filter((l) => attrs(l.attributes)['faas.invocation_id'] === inv.requestId);
  const details = [
    `request ${inv.requestId}`,
    root ? `trace ${root.traceId}` : undefined,
    logs ? `${logs.length} log record(s)` : undefined,
  ].filter((d) => d !== undefined);
  lines.push(style.paint('dim', `${INDENT}${details.join(' · ')}`));
  return lines;
}

function logsLine(logs: readonly LocatedLogRecord[], invocations: readonly InvocationResult[]): string {
  if (logs.length === 0) return 'logs received: none';
  const byType = new Map<string, number>();
  const bySeverity = new Map<string, number>();
  let correlated = 0;
  const traces = new Set(invocations.map((i) => i.requestId));
  for (const log of logs) {
    const a = attrs(log.attributes);
    const type = typeof a['aws.lambda.log.type'] === 'string' ? a['aws.lambda.log.type'] : 'other';
    byType.set(type, (byType.get(type) ?? 0) + 1);
    const severity = log.severityText || 'unset';
    bySeverity.set(severity, (bySeverity.get(severity) ?? 0) + 1);
    if (log.traceId !== '' && traces.has(String(a['faas.invocation_id']))) correlated++;
  }
  const list = (m: Map<string, number>) => [...m].map(([k, n]) => `${k} ${n}`).join(', ');
  return (
    `logs received: ${logs.length} records (${list(byType)}; severity ${list(bySeverity)}), ` +
    `${correlated} with the trace context of their invocation`
  );
}

function indent(lines: readonly string[], levels = 1): string[] {
  const pad = INDENT.repeat(levels);
  return lines.map((l) => (l === '' ? l : pad + l));
}
