import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff, exponentialDelayMs } from './backoff.ts';

describe('Backoff', () => {
  it('doubles up to the cap, then stays; reset starts over', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    assert.deepEqual(
      [b.next(), b.next(), b.next(), b.next(), b.next(), b.next()],
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(b.failures, 6);
    b.reset();
    assert.equal(b.next(), 100);
  });

  it('adds up to jitter × delay at random', () => {
    const low = new Backoff({ initialMs: 100, jitter: 1, random: () => 0 });
    const high = new Backoff({ initialMs: 100, jitter: 1, random: () => 0.999 });
    assert.equal(low.next(), 100);
    assert.equal(high.next(), 200);
    const real = new Backoff({ initialMs: 800 });
    const delays = Array.from({ length: 50 }, () => {
      real.reset();
      return real.next();
    });
    assert.ok(delays.every((d) => d >= 800 && d <= 1600));
    assert.ok(new Set(delays).size > 1, 'jittered delays differ');
  });

  it('refuses nonsense settings', () => {
    assert.throws(() => new Backoff({ initialMs: 0 }));
    assert.throws(() => new Backoff({ initialMs: 100, maxMs: 10 }));
    assert.throws(() => new Backoff({ factor: 0.5 }));
  });

  it('exponentialDelayMs: capped, and finite however many failures', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((n) => exponentialDelayMs(n, 5, 40)),
      [5, 10, 20, 40, 40],
    );
    assert.equal(exponentialDelayMs(100_000, 5, 1_000_000), 1_000_000);
    assert.equal(exponentialDelayMs(2, 100, 10_000, 4), 1_600);
  });
});
