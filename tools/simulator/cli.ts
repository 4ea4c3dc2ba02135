// otel-lambda-sim: runs a function and the layer's extensions in the simulator: N invocations, then
// SHUTDOWN, then a summary. Bundled to build/tools/otel-lambda-sim.mjs by tools/build.mjs;
// `otel-lambda-sim --help` (or `node --import tsx tools/simulator/cli.ts --help`) for the options.
import { parseArgs } from 'node:util';
import type { ResourceControl, ResourceInfo } from './resources.js';
import { LambdaSimulator } from './simulator.js';
import type { LogFormat, ShutdownReason, SimulatorMode } from './types.js';

const USAGE = `usage: otel-lambda-sim --handler FILE [options]
  --opt DIR              layer directory (extensions in DIR/extensions/)
  --handler FILE         handler module (.mjs exporting handler)
  --invokes N            invocations to run (default 1)
  --payload JSON         event for every invocation (default {})
  --idle MS              frozen time between invocations (default 0)
  --log-format text|json (default text)
  --mode on-demand|managed-instances|snap-start (default on-demand)
  --memory MB            function memory: the memory limit, and CPU = MB / 1769 of one CPU (default 128)
  --unthrottled          no CPU quota (the memory limit still applies)
  --resource-control M   auto|cgroup|signals: a cgroup per environment when possible (auto), required
                         (cgroup), or none: SIGSTOP freezing and no limits (signals); default auto
  --timeout MS           function timeout (default 3000)
  --shutdown-budget MS   SHUTDOWN to SIGKILL (default 2000)
  --shutdown-reason R    spindown|timeout|failure (default spindown)
  --env KEY=VALUE        environment for function and extensions (repeatable)
  --no-freeze            do not freeze between invocations
  --echo                 print every process line as it comes
  --json                 print the full result as JSON`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    opt: { type: 'string' },
    handler: { type: 'string' },
    invokes: { type: 'string', default: '1' },
    payload: { type: 'string', default: '{}' },
    idle: { type: 'string', default: '0' },
    'log-format': { type: 'string', default: 'text' },
    mode: { type: 'string', default: 'on-demand' },
    memory: { type: 'string', default: '128' },
    unthrottled: { type: 'boolean', default: false },
    'resource-control': { type: 'string', default: 'auto' },
    timeout: { type: 'string', default: '3000' },
    'shutdown-budget': { type: 'string', default: '2000' },
    'shutdown-reason': { type: 'string', default: 'spindown' },
    env: { type: 'string', multiple: true, default: [] },
    'no-freeze': { type: 'boolean', default: false },
    echo: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!values.handler) fail('--handler is required');
const count = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer; got ${text}`);
  return n;
};
const logFormat = values['log-format'];
if (logFormat !== 'text' && logFormat !== 'json') fail(`--log-format must be text or json; got ${logFormat}`);
const mode = values.mode;
if (mode !== 'on-demand' && mode !== 'managed-instances' && mode !== 'snap-start')
  fail(`unknown --mode ${mode}`);
const resourceControl = values['resource-control'];
if (resourceControl !== 'auto' && resourceControl !== 'cgroup' && resourceControl !== 'signals')
  fail(`--resource-control must be auto, cgroup or signals; got ${resourceControl}`);
const memorySizeMB = count('memory', values.memory);
if (memorySizeMB < 128 || memorySizeMB > 10_240)
  fail(`--memory must be 128 to 10240 (MB); got ${values.memory}`);
const reason = values['shutdown-reason'];
if (reason !== 'spindown' && reason !== 'timeout' && reason !== 'failure')
  fail(`unknown --shutdown-reason ${reason}`);
let payload: unknown;
try {
  payload = JSON.parse(values.payload);
} catch {
  fail(`--payload is not JSON: ${values.payload}`);
}
const env: Record<string, string> = {};
for (const pair of values.env) {
  const eq = pair.indexOf('=');
  if (eq <= 0) fail(`--env takes KEY=VALUE; got ${pair}`);
  env[pair.slice(0, eq)] = pair.slice(eq + 1);
}

const sim = new LambdaSimulator({
  optDir: values.opt,
  handler: values.handler,
  logFormat: logFormat as LogFormat,
  mode: mode as SimulatorMode,
  memorySizeMB,
  unthrottled: values.unthrottled,
  resourceControl: resourceControl as ResourceControl,
  timeoutMs: count('timeout', values.timeout),
  shutdownBudgetMs: count('shutdown-budget', values['shutdown-budget']),
  freeze: !values['no-freeze'],
  echo: values.echo,
  env,
});

function describeResources(r: ResourceInfo): string {
  if (r.mechanism === 'signals')
    return `no cgroup (${r.reason}); freezing with SIGSTOP, no CPU or memory limit`;
  const cpu = r.cpuShare === null ? 'unthrottled CPU' : `CPU ${(r.cpuShare * 100).toFixed(1)} % of one`;
  return `${r.mechanism}: ${cpu}, memory limit ${r.memoryLimitMB} MB, freezer cgroup`;
}

const ms = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(1)} ms`);

try {
  const init = await sim.start();
  const invocations = [];
  const invokes = count('invokes', values.invokes);
  const idleMs = count('idle', values.idle);
  for (let i = 0; i < invokes; i++) {
    if (i > 0 && idleMs > 0) await sim.idle(idleMs);
    invocations.push(await sim.invoke(payload));
  }
  const shutdown = await sim.shutdown(reason as ShutdownReason);
  const deliveries = sim.timeline.of('telemetry-delivery');

  if (values.json) {
    const summary = { init, invocations, shutdown, deliveries: deliveries.map(({ records: _, ...d }) => d) };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    const out: string[] = [];
    out.push(`resources: ${describeResources(init.resources)}`);
    out.push(`init: ${init.status}${init.errorType ? ` (${init.errorType})` : ''} in ${ms(init.durationMs)}`);
    for (const ext of init.extensions) {
      out.push(`  extension ${ext.name} pid ${ext.pid}: start to first next ${ms(ext.startToFirstNextMs)}`);
    }
    for (const inv of invocations) {
      out.push(
        `invoke ${inv.requestId}: ${inv.status}${inv.errorType ? ` (${inv.errorType})` : ''}, ` +
          `duration ${ms(inv.durationMs)}, post-runtime ${ms(inv.postRuntimeExtensionsDurationMs)}, ` +
          `memory ${inv.maxMemoryUsedMB ?? '-'} MB${inv.coldStart ? ', cold' : ''}`,
      );
      out.push(`  response: ${inv.responseText ?? '-'}`);
    }
    out.push(`shutdown (${shutdown.reason}): ${ms(shutdown.endedAtMs - shutdown.startedAtMs)}`);
    for (const ext of shutdown.extensions) {
      out.push(
        `  extension ${ext.name}: ${ext.exitedBeforeDeadline ? 'exited' : 'killed'} ` +
          `(code ${ext.exitCode}, signal ${ext.signal})`,
      );
    }
    const bySubscriber = new Map<string, { posts: number; records: number; failed: number }>();
    for (const d of deliveries) {
      const s = bySubscriber.get(d.subscriber) ?? { posts: 0, records: 0, failed: 0 };
      s.posts += 1;
      if (d.status !== null && d.status < 300) s.records += d.recordCount;
      else s.failed += 1;
      bySubscriber.set(d.subscriber, s);
    }
    for (const [name, s] of bySubscriber) {
      out.push(`telemetry to ${name}: ${s.posts} POSTs, ${s.records} records delivered, ${s.failed} failed`);
    }
    if (shutdown.undeliveredRecords > 0)
      out.push(`telemetry never delivered: ${shutdown.undeliveredRecords} records`);
    process.stdout.write(`${out.join('\n')}\n`);
  }
} finally {
  await sim.close();
}
