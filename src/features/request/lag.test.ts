import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LagEstimator } from './lag.ts';

test('lag in revisions and seconds: the age of the oldest unprocessed revision', () => {
  const lag = new LagEstimator();
  assert.deepEqual(lag.lag(0n, 0), { revisions: 0n, seconds: 0, clusterRevision: 0n });
  lag.observe(100n, 1_000);
  lag.observe(110n, 1_500);
  lag.observe(105n, 1_700); // older than known: ignored
  assert.deepEqual(lag.lag(90n, 2_000), { revisions: 20n, seconds: 1, clusterRevision: 110n });
  assert.deepEqual(lag.lag(100n, 2_000), { revisions: 10n, seconds: 0.5, clusterRevision: 110n });
  assert.deepEqual(lag.lag(110n, 2_000), { revisions: 0n, seconds: 0, clusterRevision: 110n });
  assert.deepEqual(
    lag.lag(120n, 2_000),
    { revisions: 0n, seconds: 0, clusterRevision: 110n },
    'a processed revision ahead of what was observed is no lag',
  );
});

test('memory stays bounded and the estimate keeps the oldest observation', () => {
  const lag = new LagEstimator();
  for (let i = 1; i <= 100_000; i++) lag.observe(BigInt(i), i);
  const l = lag.lag(0n, 100_000);
  assert.equal(l.revisions, 100_000n);
  assert.equal(l.seconds, (100_000 - 1) / 1000);
  // Past the kept observations, the newest one absorbed the rest: still behind, with an age.
  const late = lag.lag(50_000n, 100_000);
  assert.equal(late.revisions, 50_000n);
  assert.ok(late.seconds > 0);
  for (let i = 1; i <= 10_000; i++) lag.prune(BigInt(i * 10));
  assert.deepEqual(lag.lag(100_000n, 100_001), { revisions: 0n, seconds: 0, clusterRevision: 100_000n });
});

test('the revision rate turns a lag in revisions into seconds when the watch sees no newer revision itself', () => {
  const lag = new LagEstimator();
  // The cluster writes 1000 revisions a second (leader Status samples, 1 s apart).
  lag.sampleCluster(1_000n, 0);
  lag.sampleCluster(1_200n, 100); // too close to the last sample for a rate: only observed
  lag.sampleCluster(2_000n, 1_000);
  // The watch is 300 revisions behind, first seen just now: the age says 0, the rate says 0.3 s.
  const l = lag.lag(1_700n, 1_000);
  assert.equal(l.revisions, 300n);
  assert.equal(l.seconds, 0.3);
  // When the age of an unprocessed revision is larger, it wins.
  assert.equal(lag.lag(1_100n, 1_000).seconds, 0.9);
  assert.equal(lag.lag(2_000n, 1_000).seconds, 0);
});
