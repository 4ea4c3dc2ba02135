// Spans as a terminal waterfall: one row per span, indented under its parent, with its offset from
// the first span shown and a bar proportional to its duration.

import { attrs, type LocatedSpan } from '../otlp/decode.js';
import { type Colour, formatMs, type Style } from './style.js';

/** The scope of the spans the extension builds from platform telemetry. */
export const PLATFORM_SCOPE = 'otel-lambda-extension';
const STATUS_ERROR = 2;

export interface WaterfallRow {
  depth: number;
  name: string;
  /** 'platform' (built by the extension from Lambda's telemetry) or 'function' (the function's own). */
  source: 'platform' | 'function';
  /** From the earliest span of the group. */
  offsetMs: number;
  durationMs: number;
  /** Set when the span's status is ERROR: its error.type, else its status message. */
  error: string | undefined;
  span: LocatedSpan;
}

export interface SpanTree {
  /** The group's root (for an invocation: the platform's invocation span). */
  root: LocatedSpan;
  rows: WaterfallRow[];
  /** Every span in the rows, to tell which spans were left over. */
  spanIds: Set<string>;
}

const nanos = (value: string): bigint => BigInt(value);

/** The platform invocation span of a request: SERVER, from the extension, with faas.invocation_id. */
export function invocationSpan(spans: readonly LocatedSpan[], requestId: string): LocatedSpan | undefined {
  return spans.find(
    (s) =>
      s.scope?.name === PLATFORM_SCOPE &&
      s.kind === 2 &&
      (attrs(s.attributes)['faas.invocation_id'] === requestId ||
        attrs(s.attributes)['faas.invocation.id'] === requestId),
  );
}

/** `root` and everything below it in its trace, depth first, children in start order. */
export function spanTree(spans: readonly LocatedSpan[], root: LocatedSpan): SpanTree {
  const children = new Map<string, LocatedSpan[]>();
  for (const span of spans) {
    if (span.traceId !== root.traceId || span.parentSpanId === '') continue;
    const list = children.get(span.parentSpanId) ?? [];
    list.push(span);
    children.set(span.parentSpanId, list);
  }
  const ordered: { span: LocatedSpan; depth: number }[] = [];
  const seen = new Set<string>();
  const visit = (span: LocatedSpan, depth: number): void => {
    if (seen.has(span.spanId)) return; // a malformed cycle must not loop
    seen.add(span.spanId);
    ordered.push({ span, depth });
    const below = [...(children.get(span.spanId) ?? [])].sort((a, b) =>
      compareNanos(a.startTimeUnixNano, b.startTimeUnixNano),
    );
    for (const child of below) visit(child, depth + 1);
  };
  visit(root, 0);
  return { root, rows: rowsOf(ordered), spanIds: seen };
}

/** Spans of one trace that hang together by parent ids, each top span with what is below it. */
export function traceForest(spans: readonly LocatedSpan[]): SpanTree[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const tops = spans
    .filter((s) => s.parentSpanId === '' || !ids.has(s.parentSpanId))
    .sort((a, b) => compareNanos(a.startTimeUnixNano, b.startTimeUnixNano));
  return tops.map((top) => spanTree(spans, top));
}

function rowsOf(ordered: readonly { span: LocatedSpan; depth: number }[]): WaterfallRow[] {
  if (ordered.length === 0) return [];
  let origin = nanos(ordered[0]!.span.startTimeUnixNano);
  for (const { span } of ordered) {
    const start = nanos(span.startTimeUnixNano);
    if (start < origin) origin = start;
  }
  return ordered.map(({ span, depth }) => {
    const start = nanos(span.startTimeUnixNano);
    const end = nanos(span.endTimeUnixNano);
    const a = attrs(span.attributes);
    const failed = span.status?.code === STATUS_ERROR;
    const errorType = typeof a['error.type'] === 'string' ? a['error.type'] : undefined;
    return {
      depth,
      name: span.name,
      source: span.scope?.name === PLATFORM_SCOPE ? 'platform' : 'function',
      offsetMs: Number(start - origin) / 1e6,
      durationMs: end > start ? Number(end - start) / 1e6 : 0,
      error: failed ? (errorType ?? (span.status?.message || 'error')) : undefined,
      span,
    };
  });
}

function compareNanos(a: string, b: string): number {
  const d = nanos(a) - nanos(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

export interface WaterfallOptions {
  style: Style;
  /** Columns for the bars (default 40). */
  barWidth?: number;
  /** Longest name column before names are cut (default 34). */
  maxNameWidth?: number;
}

/** Span names the platform produces, coloured by what they measure. */
function colourOf(row: WaterfallRow): Colour {
  if (row.error !== undefined) return 'red';
  if (row.source === 'function') return 'green';
  if (row.depth === 0) return 'cyan';
  if (row.name === 'init' || row.name === 'restore') return 'yellow';
  if (row.name === 'extensionOverhead') return 'magenta';
  return 'blue';
}

/** The rows as aligned text lines: a heading, then name, source, offset, duration, bar, error mark. */
export function renderWaterfall(rows: readonly WaterfallRow[], options: WaterfallOptions): string[] {
  const { style } = options;
  const barWidth = Math.max(10, options.barWidth ?? 40);
  const maxName = options.maxNameWidth ?? 34;
  const total = rows.reduce((m, r) => Math.max(m, r.offsetMs + r.durationMs), 0);
  const label = (r: WaterfallRow) => `${'  '.repeat(r.depth)}${r.name}`;
  const nameWidth = Math.min(maxName, Math.max(4, ...rows.map((r) => label(r).length)));
  const heading =
    `${'span'.padEnd(nameWidth)}  ${'source'.padEnd(8)}  ${'start'.padStart(11)}  ${'duration'.padStart(10)}  ` +
    `0${formatMs(total).padStart(barWidth + 1)}`;
  const lines = [style.paint('dim', heading)];
  for (const row of rows) {
    let name = label(row);
    if (name.length > nameWidth) name = `${name.slice(0, nameWidth - 1)}…`;
    const bar = barFor(row, total, barWidth);
    const mark = row.error === undefined ? '' : ` ${style.paint('red', `✗ ${row.error}`)}`;
    lines.push(
      `${name.padEnd(nameWidth)}  ${style.paint('dim', row.source.padEnd(8))}  ` +
        `${`+${formatMs(row.offsetMs)}`.padStart(11)}  ${formatMs(row.durationMs).padStart(10)}  ` +
        `│${' '.repeat(bar.before)}${style.paint(colourOf(row), bar.body)}${' '.repeat(bar.after)}│${mark}`,
    );
  }
  return lines;
}

/** Blank columns before the bar, the bar, blank columns after it: `width` columns in all. */
export function barFor(
  row: Pick<WaterfallRow, 'offsetMs' | 'durationMs'>,
  totalMs: number,
  width: number,
): { before: number; body: string; after: number } {
  if (totalMs <= 0) return { before: 0, body: '▏', after: width - 1 };
  const startCol = Math.min(width - 1, Math.floor((row.offsetMs / totalMs) * width));
  const endCol = Math.min(width, Math.round(((row.offsetMs + row.durationMs) / totalMs) * width));
  // Anything too short for one full column still shows, as a thin mark.
  const body = endCol > startCol ? '█'.repeat(endCol - startCol) : '▏';
  return { before: startCol, body, after: width - startCol - body.length };
}
