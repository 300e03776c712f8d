import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError } from '../../engine/contract.ts';
import { DEFAULT_PROBE_KEY_PREFIX, parseLatencyOptions } from './latency.ts';

describe('latency options', () => {
  test('defaults: read probe only, 5 min window, p99', () => {
    const o = parseLatencyOptions(undefined);
    assert.equal(o.writeProbe, false);
    assert.equal(o.keyPrefix, DEFAULT_PROBE_KEY_PREFIX);
    assert.equal(o.windowSeconds, 300);
    assert.equal(o.quantile, 0.99);
    assert.equal(o.serializableReadThresholdSeconds, 0.1);
  });

  test('bad values are named', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ keyPrefix: 'probe' }, /keyPrefix: key prefix "probe" must start and end with "\/"/],
      [{ keyPrefix: '/probe' }, /keyPrefix: .*must start and end/],
      [{ leaseTtlSeconds: 1 }, /leaseTtlSeconds/],
      [{ minSamples: 50, maxSamples: 10 }, /minSamples \(50\) must not exceed maxSamples \(10\)/],
      [{ writeThresholdSeconds: 0 }, /writeThresholdSeconds/],
      [{ quantile: 0.2 }, /quantile/],
      [{ probes: ['x'] }, /probes/],
    ];
    for (const [raw, message] of cases) {
      assert.throws(
        () => parseLatencyOptions(raw),
        (err: unknown) => err instanceof OptionsError && message.test(err.message),
        JSON.stringify(raw),
      );
    }
  });
});
