import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FlushConfigError,
  FlushManager,
  FlushStrategyError,
  formatFlushStrategy,
  parseFlushStrategy,
  resolveFlushSettings,
} from '../../src/flush/index.js';

const ACCEPTED =
  'expected one of adaptive | end | end,<ms> | periodic,<ms> | continuous,<ms> (ms a positive integer)';

describe('parseFlushStrategy', () => {
  it('parses every accepted form', () => {
    assert.deepEqual(parseFlushStrategy('adaptive'), { kind: 'adaptive' });
    assert.deepEqual(parseFlushStrategy('end'), { kind: 'end' });
    assert.deepEqual(parseFlushStrategy('end,5000'), { kind: 'end', backstopMs: 5000 });
    assert.deepEqual(parseFlushStrategy('periodic,20000'), { kind: 'periodic', intervalMs: 20000 });
    assert.deepEqual(parseFlushStrategy('continuous,250'), { kind: 'continuous', intervalMs: 250 });
  });

  it('ignores case and blanks, and defaults to adaptive when unset or blank', () => {
    assert.deepEqual(parseFlushStrategy(' Periodic , 1000 '), { kind: 'periodic', intervalMs: 1000 });
    assert.deepEqual(parseFlushStrategy('END'), { kind: 'end' });
    assert.deepEqual(parseFlushStrategy(undefined), { kind: 'adaptive' });
    assert.deepEqual(parseFlushStrategy('  '), { kind: 'adaptive' });
  });

  it('round-trips through formatFlushStrategy', () => {
    for (const text of ['adaptive', 'end', 'end,5000', 'periodic,20000', 'continuous,250']) {
      assert.equal(formatFlushStrategy(parseFlushStrategy(text)), text);
    }
  });

  it('rejects unknown names with the accepted forms in the message', () => {
    assert.throws(
      () => parseFlushStrategy('foo'),
      (error: unknown) => {
        assert.ok(error instanceof FlushStrategyError);
        assert.ok(error instanceof FlushConfigError);
        assert.equal(error.message, `invalid flush strategy "foo": ${ACCEPTED}`);
        assert.equal(error.value, 'foo');
        return true;
      },
    );
  });

  for (const [value, detail] of [
    ['periodic', 'periodic needs an interval in ms'],
    ['continuous,', '"" is not a positive integer'],
    ['periodic,0', '0 is not a positive integer'],
    ['periodic,-5', '"-5" is not a positive integer'],
    ['end,1.5', '"1.5" is not a positive integer'],
    ['continuous,abc', '"abc" is not a positive integer'],
    ['periodic,1,2', 'too many parts'],
    ['adaptive,100', 'adaptive takes no interval'],
    ['periodic,99999999999', '99999999999 exceeds 2147483647'],
  ] as const) {
    it(`rejects ${JSON.stringify(value)}: ${detail}`, () => {
      assert.throws(() => parseFlushStrategy(value), {
        name: 'FlushStrategyError',
        message: `invalid flush strategy ${JSON.stringify(value)}: ${ACCEPTED}; ${detail}`,
      });
    });
  }

  it('makes the FlushManager constructor fail on a bad strategy string', () => {
    const target = {
      pending: () => ({ items: 0, bytes: 0, oldestCreatedAtMs: undefined }),
      flush: async () => ({
        exportedItems: 0,
        exportedBytes: 0,
        requests: 0,
        retryLaterItems: 0,
        droppedItems: 0,
        durationMs: 0,
        deadlineHit: false,
      }),
    };
    assert.throws(() => new FlushManager({ target, strategy: 'sometimes' }), FlushStrategyError);
    assert.equal(new FlushManager({ target, strategy: 'end,100' }).strategy.kind, 'end');
  });
});

describe('resolveFlushSettings', () => {
  it('fills defaults and keeps overrides', () => {
    const settings = resolveFlushSettings({ maxStalenessMs: 60_000 });
    assert.equal(settings.maxStalenessMs, 60_000);
    assert.equal(settings.backgroundIntervalMs, 1_000);
  });

  it('names the bad setting', () => {
    assert.throws(() => resolveFlushSettings({ graceMaxMs: -1 }), /graceMaxMs must be zero or more, got -1/);
    assert.throws(() => resolveFlushSettings({ maxStalenessMs: 0 }), /maxStalenessMs must be positive/);
    assert.throws(
      () => resolveFlushSettings({ maxTailProbability: 2 }),
      /maxTailProbability must be within 0..1/,
    );
    assert.throws(
      () => resolveFlushSettings({ thawJumpMs: Number.NaN }),
      /thawJumpMs must be a finite number/,
    );
    assert.throws(
      () => resolveFlushSettings({ maxStalenessMs: 1_000, backgroundIntervalMs: 800 }),
      /backgroundIntervalMs \(800\) must be at most half of maxStalenessMs \(1000\)/,
    );
    assert.throws(() => resolveFlushSettings({ graceQuietMs: 50, graceMaxMs: 10 }), /graceQuietMs \(50\)/);
    assert.throws(
      () => resolveFlushSettings({ nonsense: 1 } as unknown as Parameters<typeof resolveFlushSettings>[0]),
      /unknown flush setting "nonsense"/,
    );
  });
});
