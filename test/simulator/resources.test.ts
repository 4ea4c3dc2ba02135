// Lambda's resource model: the CPU quota (memory / 1769 of one CPU), the memory limit and its OOM
// kill, Max Memory Used from the cgroup's peak, the freezer cgroup stopping every process (children
// that left the process group too), the SIGSTOP fallback, and no cgroup left behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createOptDir, recorderLauncher } from '../support/simulator/opt-dir.js';
import {
  EnvironmentResources,
  readFreezeState,
  removeStaleCgroups,
} from '../../tools/simulator/resources.js';
import { LambdaSimulator } from '../../tools/simulator/simulator.js';
import type { SimulatorOptions } from '../../tools/simulator/types.js';

const SCENARIO = 'test/fixtures/functions/scenario.mjs';
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// Root with cgroup controllers here; elsewhere only the fallback can be tested.
const probe = EnvironmentResources.create({ memorySizeMB: 128, unthrottled: true, control: 'auto' });
const noCgroup = probe.usesCgroup ? false : `no cgroup can be made here (${probe.info.reason})`;
probe.removeNow();

function simulator(options: Partial<SimulatorOptions>): LambdaSimulator {
  const sim = new LambdaSimulator({ handler: SCENARIO, shutdownBudgetMs: 300, ...options });
  cleanups.push(() => sim.close());
  return sim;
}

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

test('CPU quota: at 128 MB the environment gets 128/1769 of one CPU', { skip: noCgroup }, async () => {
  const sim = simulator({ memorySizeMB: 128, timeoutMs: 10_000 });
  const init = await sim.start();
  assert.equal(init.status, 'success');
  assert.equal(init.resources.mechanism, 'cgroup-v1');
  assert.ok(Math.abs((init.resources.cpuShare ?? 0) - 128 / 1769) < 1e-9, 'share is 128/1769');
  const before = sim.environmentCpuMs();
  const res = await sim.invoke({ spinMs: 1500 });
  const used = (sim.environmentCpuMs() ?? 0) - (before ?? 0);
  assert.equal(res.status, 'success');
  // A busy loop of 1.5 s wall gets about 7.2 % of it; allow one extra period for the edges.
  const bound = res.durationMs * (128 / 1769) + 25;
  assert.ok(throttledPeriods(init.resources.cgroups) > 0, 'the quota held the loop back');
  assert.ok(
    used > 0 && used <= bound,
    `CPU ${used.toFixed(1)} ms in ${res.durationMs.toFixed(0)} ms wall, bound ${bound}`,
  );
});

/** nr_throttled of the environment's cpu cgroup: periods in which the quota stopped it. */
function throttledPeriods(cgroups: string[] | undefined): number {
  const dir = cgroups?.find((d) => /\/cpu[,/]/.test(d));
  assert.ok(dir, 'a cpu cgroup');
  return Number(/^nr_throttled (\d+)$/m.exec(readFileSync(join(dir, 'cpu.stat'), 'utf8'))?.[1]);
}

test('unthrottled: the same loop is never held back by a quota', { skip: noCgroup }, async () => {
  const sim = simulator({ memorySizeMB: 128, unthrottled: true });
  const init = await sim.start();
  assert.equal(init.resources.cpuShare, null);
  assert.equal(init.resources.memoryLimitMB, 128);
  const res = await sim.invoke({ spinMs: 400 });
  assert.equal(res.status, 'success');
  // CPU per wall time depends on the machine's load; throttling by a quota does not.
  assert.equal(throttledPeriods(init.resources.cgroups), 0);
});

test('memory limit: OOM kills the environment, Runtime.OutOfMemory, a new one next time', {
  skip: noCgroup,
}, async () => {
  const sim = simulator({ memorySizeMB: 128, unthrottled: true, timeoutMs: 10_000 });
  const init = await sim.start();
  const firstPid = init.functionPid;
  const oom = await sim.invoke({ allocateMB: 400 });
  assert.equal(oom.status, 'error');
  assert.equal(oom.errorType, 'Runtime.OutOfMemory');
  assert.equal(oom.maxMemoryUsedMB, 128);
  assert.ok(oom.reset, 'the environment was reset');
  assert.equal(oom.reset?.reason, 'failure');
  assert.ok(sim.timeline.of('out-of-memory').length > 0, 'the OOM kill is in the timeline');
  const report = sim.records('platform.report').at(-1)?.record as { status: string; errorType: string };
  assert.equal(report.errorType, 'Runtime.OutOfMemory');
  // Init's cgroup is gone with the environment.
  for (const dir of init.resources.cgroups ?? []) assert.equal(existsSync(dir), false, `${dir} removed`);

  const next = await sim.invoke({});
  assert.equal(next.status, 'success');
  assert.equal(next.coldStart, true);
  assert.notEqual(next.init?.functionPid, firstPid);
});

test('maxMemoryUsedMB is the cgroup peak', { skip: noCgroup }, async () => {
  const sim = simulator({ memorySizeMB: 512, unthrottled: true });
  const init = await sim.start();
  const memoryDir = init.resources.cgroups?.find((d) => d.includes('/memory/'));
  assert.ok(memoryDir, 'a memory cgroup');
  const quiet = await sim.invoke({});
  // The peak only grows: read after the report, it may have moved on by a page or two (the
  // environment keeps running, e.g. the extension after its next).
  const peakMB = Math.ceil(
    Number(readFileSync(join(memoryDir, 'memory.max_usage_in_bytes'), 'utf8')) / 2 ** 20,
  );
  const reported = quiet.maxMemoryUsedMB ?? Number.NaN;
  assert.ok(
    reported <= peakMB && reported >= peakMB - 2,
    `reported ${reported} MB, cgroup peak now ${peakMB} MB`,
  );
  const big = await sim.invoke({ allocateMB: 96 });
  assert.equal(big.status, 'success');
  assert.ok(
    (big.maxMemoryUsedMB ?? 0) >= (quiet.maxMemoryUsedMB ?? 0) + 90,
    `${quiet.maxMemoryUsedMB} MB, then ${big.maxMemoryUsedMB} MB after touching 96 MB`,
  );
  assert.ok((big.maxMemoryUsedMB ?? 0) <= 512, 'within the limit');
});

test('freezer cgroup: every process stops, a child outside the process group too', {
  skip: noCgroup,
}, async () => {
  const opt = createOptDir({});
  cleanups.push(() => opt.remove());
  const pidFile = opt.file('spinner.pid');
  // The launcher leaves a spinning child in a session of its own: SIGSTOP of the group misses it.
  const launcher = recorderLauncher().replace(
    '#!/bin/sh\n',
    () => `#!/bin/sh\nsetsid sh -c 'echo $$ > ${pidFile}; while :; do :; done' &\n`,
  );
  const withSpinner = createOptDir({ spinner: launcher });
  cleanups.push(() => withSpinner.remove());
  const sim = simulator({ optDir: withSpinner.dir, unthrottled: true, memorySizeMB: 256 });
  const init = await sim.start();
  assert.equal(init.status, 'success');
  assert.equal(init.resources.freezer, 'cgroup');
  const spinner = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(spinner > 0, 'spinner pid');
  const pids = [init.functionPid!, ...init.extensions.map((e) => e.pid!), spinner];
  for (const pid of pids) assert.equal(readFreezeState(pid), 'frozen', `pid ${pid} frozen`);
  assert.equal(sim.timeline.of('freeze').at(-1)?.via, 'cgroup');
  const ticks = cpuTicks(spinner);
  await sim.idle(300);
  assert.ok(cpuTicks(spinner) - ticks <= 1, 'no CPU time while frozen');

  await sim.invoke({});
  // Thawed, the spinner runs again (it is in the environment), and goes with the environment.
  await sim.shutdown();
  const gone = () => {
    const stat = existsSync(`/proc/${spinner}/stat`) ? readFileSync(`/proc/${spinner}/stat`, 'utf8') : '';
    return stat === '' || stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
  };
  for (let i = 0; i < 200 && !gone(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(gone(), 'the spinner went with the environment');
});

test('fallback: no cgroup, SIGSTOP freezing and no limits, and it says so', async () => {
  const sim = simulator({ resourceControl: 'signals', memorySizeMB: 128 });
  const init = await sim.start();
  assert.equal(init.status, 'success');
  assert.equal(init.resources.mechanism, 'signals');
  assert.equal(init.resources.freezer, 'sigstop');
  assert.equal(init.resources.memoryLimitMB, null);
  assert.match(init.resources.reason ?? '', /signals/);
  assert.equal(readFreezeState(init.functionPid!), 'stopped');
  assert.equal(sim.timeline.of('freeze').at(-1)?.via, 'sigstop');
  const res = await sim.invoke({});
  assert.equal(res.status, 'success');
  assert.ok((res.maxMemoryUsedMB ?? 0) > 0, 'peak RSS of the processes');
});

test('stale cgroups of a dead simulator are removed', { skip: noCgroup }, () => {
  const own = /^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
  assert.ok(own !== undefined, 'own memory cgroup');
  const dead = spawnSync('true').pid;
  const stale = join('/sys/fs/cgroup/memory', own, `lambda-sim-${dead}-1`);
  mkdirSync(stale);
  assert.ok(removeStaleCgroups() >= 1, 'removed at least one');
  assert.equal(existsSync(stale), false);
});
