// `make bench`: what the extension costs a Lambda function, measured in the local simulator and made
// comparable between runs. See bench/README.md.
//
//   node --import tsx bench/run.ts [--quick] [--extension PATH]... [--name NAME]... [--memory MB,MB]
//        [--repeat N] [--only init,patterns,throughput,layer] [--env K=V]... [--handler FILE]
//        [--out DIR] [--echo]
//   node --import tsx bench/run.ts --compare A.json B.json [C.json ...]

import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/support/e2e-harness.js';
import { resolveExtension } from './harness/extension-under-test.js';
import { dropFromPageCache } from './harness/page-cache.js';
import { fullPlan, quickPlan } from './harness/plan.js';
import {
  formatBilledSummary,
  formatComparison,
  formatResult,
  readResult,
  writeResult,
} from './harness/results.js';
import { runBench, SECTIONS, type Section, type Subject } from './harness/run-bench.js';

const USAGE = `usage:
  node --import tsx bench/run.ts [options]        measure and write bench/results/<name>-<time>.json
  node --import tsx bench/run.ts --compare A.json B.json [C.json ...]
                      ratios B/A (C/A, ...) per figure, then the billed summary side by side

options:
  --quick             smoke run: one repetition of tiny patterns
  --extension PATH    a layer directory (holding extensions/<name>) or one executable
                      (default: this project's build/layer); repeat it to measure several
                      extensions side by side, interleaved, in one run (one result file each)
  --name NAME         result name (default: the extension's name); repeat it with --extension
  --memory LIST       function memory settings in MB (default 128,1769)
  --unthrottled       no CPU quota (memory limits stay): to see what the CPU share costs
  --backend-rtt MS    round trip to the OTLP sink (default 30, a backend in the same region; 0: loopback)
  --plain-http        the sink serves HTTP instead of HTTPS
  --repeat N          repetitions of each pattern (default 3, quick 1)
  --only LIST         sections to run: ${SECTIONS.join(',')}
  --env K=V           environment for the extension and the function (repeatable); NAME:K=V for
                      the extension named NAME only; the value {freePort} is a free port per
                      environment (for extensions with fixed ports)
  --measured N        at most N measured invocations per pattern (shorter runs of slow extensions)
  --handler FILE      function handler (default test/fixtures/functions/logs.mjs)
  --out DIR           where the JSON goes (default bench/results)
  --echo              print every process line (debugging)`;

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let values: ReturnType<typeof parse>['values'];
let positionals: string[];
function parse() {
  return parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      extension: { type: 'string', multiple: true },
      name: { type: 'string', multiple: true },
      memory: { type: 'string' },
      unthrottled: { type: 'boolean', default: false },
      'backend-rtt': { type: 'string' },
      'plain-http': { type: 'boolean', default: false },
      repeat: { type: 'string' },
      measured: { type: 'string' },
      only: { type: 'string' },
      env: { type: 'string', multiple: true },
      handler: { type: 'string' },
      out: { type: 'string' },
      echo: { type: 'boolean', default: false },
      compare: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
}
try {
  ({ values, positionals } = parse());
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

if (values.compare) {
  if (positionals.length < 2) fail('--compare takes two or more result files');
  try {
    const results = positionals.map((p) => readResult(p));
    const [a, ...others] = results;
    for (const [i, b] of others.entries()) {
      console.log(formatComparison(a!, b, positionals[0]!, positionals[i + 1]!));
      console.log('');
    }
    console.log(formatBilledSummary(results));
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  process.exit(0);
}
if (positionals.length > 0) fail(`unexpected argument ${positionals[0]}`);

const plan = values.quick ? quickPlan() : fullPlan();
if (values.repeat !== undefined) {
  const n = Number(values.repeat);
  if (!Number.isInteger(n) || n < 1 || n > 100) fail(`--repeat ${values.repeat}: expected an integer 1–100`);
  plan.repetitions = n;
}
if (values.handler !== undefined) plan.handler = resolve(values.handler);
if (values.measured !== undefined) {
  const n = Number(values.measured);
  if (!Number.isInteger(n) || n < 2) fail(`--measured ${values.measured}: expected an integer ≥ 2`);
  for (const p of plan.patterns) p.measured = Math.min(p.measured, n);
}
plan.unthrottled = values.unthrottled;
if (values['backend-rtt'] !== undefined) {
  const rtt = Number(values['backend-rtt']);
  if (!Number.isFinite(rtt) || rtt < 0 || rtt > 1_000)
    fail(`--backend-rtt ${values['backend-rtt']}: expected 0–1000 ms`);
  plan.backend.roundTripMs = rtt;
}
if (values['plain-http']) plan.backend.tls = false;
if (values.memory !== undefined) {
  const sizes = values.memory.split(',').map(Number);
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 128 || n > 10_240))
    fail(`--memory ${values.memory}: expected MB values 128–10240, comma-separated`);
  plan.memorySizesMB = sizes;
}

let sections: Section[] = [...SECTIONS];
if (values.only !== undefined) {
  const wanted = values.only.split(',').filter((s) => s !== '');
  const unknown = wanted.filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length > 0 || wanted.length === 0)
    fail(`--only ${values.only}: sections are ${SECTIONS.join(', ')}`);
  sections = wanted as Section[];
}

const env: Record<string, string> = {};
const envFor = new Map<string, Record<string, string>>();
for (const pair of values.env ?? []) {
  const eq = pair.indexOf('=');
  if (eq <= 0) fail(`--env ${pair}: expected NAME=value or EXTENSION:NAME=value`);
  const key = pair.slice(0, eq);
  const colon = key.indexOf(':');
  if (colon < 0) env[key] = pair.slice(eq + 1);
  else {
    const scoped = envFor.get(key.slice(0, colon)) ?? {};
    scoped[key.slice(colon + 1)] = pair.slice(eq + 1);
    envFor.set(key.slice(0, colon), scoped);
  }
}

const paths: (string | undefined)[] = values.extension ?? [undefined];
const names = values.name ?? [];
if (names.length > paths.length) fail('more --name than --extension');
const subjects: Subject[] = [];
try {
  for (const [i, path] of paths.entries()) {
    const ext = resolveExtension(path);
    subjects.push({
      ext,
      name: names[i] ?? (ext.isProject ? 'otel-lambda-extension' : (ext.names[0] ?? basename(ext.path))),
    });
  }
} catch (err) {
  for (const s of subjects) s.ext.dispose();
  fail(err instanceof Error ? err.message : String(err));
}
if (new Set(subjects.map((s) => s.name)).size !== subjects.length)
  fail('two extensions with the same name: give each a --name');
for (const [name, scoped] of envFor) {
  const subject = subjects.find((s) => s.name === name);
  if (!subject) fail(`--env ${name}:…: no extension named ${name}`);
  subject.env = scoped;
}

const dropped = dropFromPageCache(subjects.flatMap((s) => [s.ext.path, s.ext.optDir]));
process.stderr.write(
  dropped > 0
    ? `page cache: ${dropped} extension files written back and dropped (cold starts read them from disk)\n`
    : 'page cache: extension files not dropped (no sync/dd); file-backed RSS depends on how they were cached\n',
);

try {
  const results = await runBench({ subjects, plan, sections, env, echo: values.echo });
  const out = values.out ? resolve(values.out) : join(REPO_ROOT, 'bench', 'results');
  const written = results.map((result) => writeResult(out, result));
  for (const result of results) console.log(`${formatResult(result)}\n`);
  const summary = formatBilledSummary(results);
  if (summary !== '') console.log(`${summary}\n`);
  for (const path of written) console.log(`results: ${path}`);
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
} finally {
  for (const s of subjects) s.ext.dispose();
}
