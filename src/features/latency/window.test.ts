import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyWindow, quantiles } from './window.ts';

describe('quantiles', () => {
  test('nearest rank over any order', () => {
    const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    assert.deepEqual(quantiles(values, [0.5, 0.9, 0.99, 1]), [5, 9, 10, 10]);
    assert.deepEqual(quantiles([0.2], [0.5, 0.99]), [0.2, 0.2]);
    assert.deepEqual(quantiles([], [0.5]), [undefined]);
  });
});

describe('LatencyWindow', () => {
  test('keeps the samples of the window only', () => {
    const w = new LatencyWindow(10, 100);
    w.add({ atMs: 0, seconds: 5, timedOut: false });
    w.add({ atMs: 5_000, seconds: 1, timedOut: false });
    assert.deepEqual(w.values(), [5, 1]);
    w.add({ atMs: 10_001, seconds: 2, timedOut: false });
    assert.deepEqual(w.values(), [1, 2], 'the sample at 0 is older than 10 s');
    w.prune(15_001);
    assert.deepEqual(w.values(), [2]);
    assert.equal(w.last?.seconds, 2);
  });

  test('holds at most maxSamples', () => {
    const w = new LatencyWindow(3600, 10);
    for (let i = 0; i < 25; i++) w.add({ atMs: i, seconds: i, timedOut: false });
    assert.equal(w.count, 10);
    assert.deepEqual(w.values(), [15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
  });

  test('timeouts are samples and failures; errors only failures', () => {
    const w = new LatencyWindow(60, 10);
    w.add({ atMs: 0, seconds: 5, timedOut: true });
    w.add({ atMs: 1, seconds: 0.01, timedOut: false });
    w.fail();
    assert.equal(w.count, 2);
    assert.equal(w.timedOut, 1);
    assert.equal(w.failures, 2);
  });

  test('refuses a window that holds nothing', () => {
    assert.throws(() => new LatencyWindow(0, 10), /bad latency window/);
    assert.throws(() => new LatencyWindow(10, 0), /bad latency window/);
  });
});
