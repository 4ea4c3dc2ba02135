// The result file: a versioned schema holding every figure as a median with its spread and samples,
// the plan that produced it and the machine it ran on, so two runs can be compared figure by figure.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Spread } from './stats.js';

/**
 * Bumped on any change a reader of older files must know about (renamed figure, changed unit).
 * v2: simulator figures are per memory setting (`<id>@<MB>MB`), billed figures, CPU per invocation.
 */
export const RESULT_SCHEMA = 'otel-lambda-extension.bench/v2';

export type Better = 'lower' | 'higher';

export interface Target {
  op: '<=' | '>=';
  value: number;
}

export interface Figure extends Spread {
  id: string;
  section: string;
  label: string;
  unit: string;
  better: Better;
  target?: Target;
  meetsTarget?: boolean;
  note?: string;
}

export interface BenchResult {
  schema: typeof RESULT_SCHEMA;
  name: string;
  createdAt: string;
  mode: 'full' | 'quick';
  extension: { kind: string; path: string; names: string[] };
  machine: {
    node: string;
    platform: string;
    cpus: number;
    cpuModel: string;
    loadAverageAtStart: number[];
    loadAverageAtEnd: number[];
    commit?: string;
    dirtyTree?: boolean;
  };
  plan: Record<string, unknown>;
  figures: Figure[];
  /** Figures not measured, with why (e.g. a foreign extension has no module benchmarks). */
  skipped: { id: string; reason: string }[];
  notes: string[];
  durationS: number;
}

export function makeFigure(fields: Omit<Figure, keyof Spread | 'meetsTarget'>, values: Spread): Figure {
  const figure: Figure = { ...fields, ...values };
  if (fields.target) {
    figure.meetsTarget =
      fields.target.op === '<=' ? values.median <= fields.target.value : values.median >= fields.target.value;
  }
  return figure;
}

export function resultFileName(name: string, createdAt: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '-');
  return `${safe}-${createdAt.replace(/[:.]/g, '-')}.json`;
}

export function writeResult(dir: string, result: BenchResult): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, resultFileName(result.name, result.createdAt));
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}

export function readResult(path: string): BenchResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(
      `${path}: not a readable JSON file (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  const schema = (parsed as { schema?: unknown }).schema;
  if (schema !== RESULT_SCHEMA) {
    throw new Error(`${path}: schema ${JSON.stringify(schema)} is not ${RESULT_SCHEMA}`);
  }
  return parsed as BenchResult;
}

// ---- printing ---------------------------------------------------------------------------------

function group(n: number, decimals: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** A value in the figure's unit, with the precision that unit deserves. */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (unit === 'bytes') {
    if (value >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(2)} MiB`;
    if (value >= 1024) return `${(value / 1024).toFixed(1)} KiB`;
    return `${value.toFixed(0)} B`;
  }
  if (unit === 'ms') return `${group(value, value >= 100 ? 0 : value >= 10 ? 1 : 2)} ms`;
  if (unit === 'MB') return `${group(value, 1)} MB`;
  if (unit.endsWith('/s')) return `${group(value, value >= 100 ? 0 : 1)} ${unit}`;
  return `${group(value, 2)} ${unit}`;
}

function formatTarget(figure: Figure): string {
  if (!figure.target) return '';
  const mark = figure.meetsTarget ? 'met' : 'MISSED';
  return `${figure.target.op === '<=' ? '≤' : '≥'} ${formatValue(figure.target.value, figure.unit)} ${mark}`;
}

function table(rows: string[][], header: string[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatResult(result: BenchResult): string {
  const out: string[] = [];
  const m = result.machine;
  out.push(
    `${result.name} (${result.extension.kind}: ${result.extension.names.join(', ')}), ${result.mode} run, ` +
      `${result.createdAt}, ${result.durationS.toFixed(0)} s`,
  );
  out.push(
    `node ${m.node}, ${m.cpus} × ${m.cpuModel}; load average ${m.loadAverageAtStart.map((l) => l.toFixed(1)).join(' ')} ` +
      `at start, ${m.loadAverageAtEnd.map((l) => l.toFixed(1)).join(' ')} at end` +
      (m.loadAverageAtStart[0] !== undefined && m.loadAverageAtStart[0] > m.cpus * 0.5
        ? ' (busy machine: figures are pessimistic and noisy)'
        : ''),
  );
  if (typeof result.plan.otlpSink === 'string') out.push(`OTLP backend: ${result.plan.otlpSink}`);
  const header = ['figure', 'median', 'spread (min … max)', 'n', 'target'];
  let section = '';
  const rows: string[][] = [];
  for (const f of result.figures) {
    if (f.section !== section) {
      section = f.section;
      rows.push([`[${section}]`, '', '', '', '']);
    }
    const spreadText =
      f.samples.length > 1 ? `${formatValue(f.min, f.unit)} … ${formatValue(f.max, f.unit)}` : '';
    rows.push([
      `  ${f.label}`,
      formatValue(f.median, f.unit),
      spreadText,
      String(f.samples.length),
      formatTarget(f),
    ]);
  }
  out.push('', table(rows, header));
  // One line per distinct note, naming the figures it is about.
  const byNote = new Map<string, string[]>();
  for (const f of result.figures) {
    if (f.note) byNote.set(f.note, [...(byNote.get(f.note) ?? []), f.label]);
  }
  const notes = [
    ...[...byNote].map(([note, labels]) => `${[...new Set(labels)].join(', ')}: ${note}`),
    ...result.notes,
    ...result.skipped.map((s) => `not measured: ${s.id}: ${s.reason}`),
  ];
  if (notes.length > 0) out.push('', ...notes.map((n) => `- ${n}`));
  return out.join('\n');
}

// ---- comparison -------------------------------------------------------------------------------

/** Relative changes smaller than this are shown as unchanged: run-to-run noise is at least that. */
const SAME_WITHIN = 0.03;

export function verdict(a: number, b: number, better: Better): string {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return '';
  if (a === b) return '≈ same';
  if (a === 0) return b > 0 ? (better === 'lower' ? '↑ worse' : '↑ better') : '';
  const ratio = b / a;
  if (Math.abs(ratio - 1) < SAME_WITHIN) return '≈ same';
  const up = ratio > 1;
  const good = up === (better === 'higher');
  return `${up ? '↑' : '↓'} ${good ? 'better' : 'worse'}`;
}

export function formatComparison(a: BenchResult, b: BenchResult, aPath: string, bPath: string): string {
  const byId = (r: BenchResult) => new Map(r.figures.map((f) => [f.id, f]));
  const fa = byId(a);
  const fb = byId(b);
  const ids = [...fa.keys(), ...[...fb.keys()].filter((id) => !fa.has(id))];
  const rows: string[][] = [];
  let section = '';
  for (const id of ids) {
    const x = fa.get(id);
    const y = fb.get(id);
    const f = (x ?? y) as Figure;
    if (f.section !== section) {
      section = f.section;
      rows.push([`[${section}]`, '', '', '', '']);
    }
    const ratio = x && y && x.median !== 0 ? `${(y.median / x.median).toFixed(2)}×` : '';
    rows.push([
      `  ${f.label}`,
      x ? formatValue(x.median, x.unit) : '—',
      y ? formatValue(y.median, y.unit) : '—',
      ratio,
      x && y ? verdict(x.median, y.median, f.better) : 'only in one',
    ]);
  }
  return [
    `A: ${aPath} (${a.name}, ${a.mode}, ${a.createdAt}, load ${a.machine.loadAverageAtStart[0]?.toFixed(1)})`,
    `B: ${bPath} (${b.name}, ${b.mode}, ${b.createdAt}, load ${b.machine.loadAverageAtStart[0]?.toFixed(1)})`,
    '',
    table(rows, ['figure', 'A median', 'B median', 'B/A', '']),
  ].join('\n');
}

// ---- billed summary ---------------------------------------------------------------------------

function medianOf(result: BenchResult, id: string): number | undefined {
  return result.figures.find((f) => f.id === id)?.median;
}

function cell(value: number | undefined, unit: string): string {
  return value === undefined ? '—' : formatValue(value, unit);
}

function memorySizes(results: readonly BenchResult[]): number[] {
  const sizes = new Set<number>();
  for (const r of results) {
    for (const f of r.figures) {
      const m = /@(\d+)MB$/.exec(f.id);
      if (m) sizes.add(Number(m[1]));
    }
  }
  return [...sizes].sort((a, b) => a - b);
}

function markdown(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const SUMMARY_PATTERNS: [string, string][] = [
  ['perMinute', '1/min'],
  ['perSecond', '1/s'],
  ['fiftyPerSecond', '50/s'],
];

/**
 * What each extension costs in billed units, side by side: one Markdown table for init (per cold
 * start) and one per invocation, rows by extension × memory setting (× pattern). Medians.
 */
export function formatBilledSummary(results: readonly BenchResult[]): string {
  const sizes = memorySizes(results);
  if (sizes.length === 0) return '';
  const initRows: string[][] = [];
  const invRows: string[][] = [];
  for (const mb of sizes) {
    for (const r of results) {
      const at = (id: string) => medianOf(r, `${id}@${mb}MB`);
      const mem = `${mb.toLocaleString('en-US')} MB`;
      if (at('init.durationMs') !== undefined) {
        initRows.push([
          r.name,
          mem,
          cell(at('init.durationMs'), 'ms'),
          cell(at('init.billedAddedMs'), 'ms'),
          cell(at('init.cpuMs'), 'ms'),
          cell(at('init.rssMb'), 'MB'),
        ]);
      }
      for (const [pattern, label] of SUMMARY_PATTERNS) {
        const p = (id: string) => at(`${pattern}.${id}`);
        if (p('billedP50Ms') === undefined) continue;
        invRows.push([
          r.name,
          mem,
          label,
          `${cell(p('postRuntimeBilledP50Ms'), 'ms')} / ${cell(p('postRuntimeBilledP99Ms'), 'ms')}`,
          `${cell(p('postRuntimeP50Ms'), 'ms')} / ${cell(p('postRuntimeP99Ms'), 'ms')}`,
          cell(p('billedP50Ms'), 'ms'),
          cell(p('cpuMsPerInvocation'), 'ms'),
          cell(p('maxMemoryUsedAddedMb'), 'MB'),
          cell(p('peakRssMb'), 'MB'),
        ]);
      }
    }
  }
  const out: string[] = [];
  if (initRows.length > 0) {
    out.push(
      'Init (per cold start, medians):',
      '',
      markdown(
        ['extension', 'memory', 'init phase', 'added billed init', 'extension CPU', 'RSS after init'],
        initRows,
      ),
    );
  }
  if (invRows.length > 0) {
    out.push(
      '',
      'Per invocation (medians over repetitions):',
      '',
      markdown(
        [
          'extension',
          'memory',
          'pattern',
          'post-runtime billed p50 / p99',
          'post-runtime p50 / p99',
          'billed duration p50',
          'extension CPU',
          'Max Memory Used added',
          'peak RSS',
        ],
        invRows,
      ),
    );
  }
  return out.join('\n');
}
