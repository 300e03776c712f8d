import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFinding } from '../../findings.ts';
import { assessProbe, humanSeconds, quantileName, type ProbeThresholds } from './assess.ts';

const thresholds: ProbeThresholds = {
  quantile: 0.99,
  minSamples: 3,
  seconds: { serializable_read: 0.1, write: 0.5, linearizable_read: 0.3 },
};
const where = '127.0.0.1:2379 (etcd-0)';

describe('assessProbe', () => {
  test('no verdict before minSamples', () => {
    const v = assessProbe(
      { where, probe: 'serializable_read', value: 9, samples: 2, timedOut: 0, windowSeconds: 300 },
      thresholds,
    );
    assert.deepEqual(v, { slow: false, judged: false });
  });

  test('at the threshold is not slow', () => {
    const v = assessProbe(
      { where, probe: 'write', value: 0.5, samples: 30, timedOut: 0, windowSeconds: 300 },
      thresholds,
    );
    assert.deepEqual(v, { slow: false, judged: true });
  });

  test('a slow probe names the member, the figure, the threshold and what to do', () => {
    const v = assessProbe(
      { where, probe: 'serializable_read', value: 1.84, samples: 30, timedOut: 2, windowSeconds: 300 },
      thresholds,
    );
    assert.equal(v.slow, true);
    const text = formatFinding(v.finding!);
    assert.match(text, /^member 127\.0\.0\.1:2379 \(etcd-0\): slow serializable read — /, 'member and cause');
    assert.match(text, /p99 1840 ms over the last 5m \(30 probes, 2 hit the probe deadline\)/, 'the figure');
    assert.match(text, /\(threshold 100 ms\)/, 'the threshold');
    assert.match(text, /look at its CPU, memory and disk/, 'what to do');
    assert.match(text, /runbook.*etcdprobeslow/i, 'the runbook');
    assert.equal(v.finding?.value, 1.84);
    assert.equal(v.finding?.threshold, 0.1);
  });

  test('write and linearizable read point at the leader and the links', () => {
    const w = assessProbe(
      { where, probe: 'write', value: 0.9, samples: 5, timedOut: 0, windowSeconds: 60 },
      thresholds,
    );
    assert.match(
      formatFinding(w.finding!),
      /linearizable write round trip p99 900 ms .*\(threshold 500 ms\); .*leader/,
    );
    const r = assessProbe(
      { where, probe: 'linearizable_read', value: 0.31, samples: 5, timedOut: 0, windowSeconds: 60 },
      thresholds,
    );
    assert.match(formatFinding(r.finding!), /linearizable read round trip p99 310 ms .*ReadIndex/);
  });
});

describe('figures in words', () => {
  test('seconds and quantile names', () => {
    assert.equal(humanSeconds(0.0004), '0.40 ms');
    assert.equal(humanSeconds(0.0123), '12 ms');
    assert.equal(humanSeconds(2.345), '2.3 s');
    assert.equal(humanSeconds(42.4), '42 s');
    assert.equal(quantileName(0.99), 'p99');
    assert.equal(quantileName(0.999), 'p99.9');
    assert.equal(quantileName(0.5), 'p50');
    assert.equal(quantileName(1), 'max');
  });
});
