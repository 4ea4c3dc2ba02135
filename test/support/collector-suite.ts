// The set-up end-to-end test files share: a real Collector for the whole file, started before the
// first test (after any cold build, which may take minutes and is kept out of the tests' budgets)
// and stopped after the last.
import { after, before } from 'node:test';
import { type Collector, collectorBinary, startCollector } from './collector/collector.js';
import { ensureLayer } from './e2e-harness.js';
import { emulatorBinary, runtimeClientEntry } from './emulator/emulator.js';
import { pythonPath } from './python/python-env.js';

export interface CollectorSuiteOptions {
  /** A Collector of this file's own that tests may pause, kill and restart. */
  control?: boolean;
  /** Build the layer first (the simulator's harness otherwise builds it at the first environment). */
  layer?: boolean;
  /** AWS's Runtime Interface Emulator and its Node.js runtime client (implies `layer`). */
  emulator?: boolean;
  /** The tests' Python venv. */
  python?: boolean;
}

/**
 * Registers the file's before/after hooks and returns its Collector. The value is usable inside
 * tests and hooks only (it stands for the Collector the before hook starts).
 */
export function useCollector(options: CollectorSuiteOptions = {}): Collector {
  let collector: Collector | undefined;
  before(
    async () => {
      if (options.python) pythonPath();
      await Promise.all([
        collectorBinary(),
        ...(options.emulator ? [emulatorBinary(), runtimeClientEntry()] : []),
      ]);
      if (options.layer || options.emulator) ensureLayer();
      collector = await startCollector(options.control ? { control: true } : {});
    },
    { timeout: 20 * 60_000 },
  );
  after(async () => {
    await collector?.stop();
  });
  // Test bodies keep writing `col.endpoint`, `col.read()`: the proxy forwards to the started one.
  return new Proxy({} as Collector, {
    get(_target, key) {
      if (!collector) throw new Error('the Collector is used before its before() hook started it');
      const value = Reflect.get(collector, key, collector) as unknown;
      return typeof value === 'function' ? value.bind(collector) : value;
    },
  });
}
