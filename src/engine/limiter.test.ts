import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter } from './limiter.ts';

test('the limiter never runs more than its size at once and serves waiters in order', async () => {
  const limiter = new Limiter(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates: (() => void)[] = [];
  const jobs = [0, 1, 2, 3].map((i) =>
    limiter.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise<void>((r) => gates.push(r));
      running--;
    }, new AbortController().signal),
  );
  while (gates.length < 2) await new Promise((r) => setImmediate(r));
  assert.equal(limiter.waiting, 2);
  for (let done = 0; done < 4; done++) {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(jobs);
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3]);
  assert.equal(limiter.active, 0);
});

test('a waiter whose signal aborts leaves the queue', async () => {
  const limiter = new Limiter(1);
  let release!: () => void;
  const first = limiter.run(() => new Promise<void>((r) => (release = r)), new AbortController().signal);
  const abort = new AbortController();
  const second = limiter.run(async () => 'ran', abort.signal);
  abort.abort(new Error('gone'));
  await assert.rejects(second, /gone/);
  assert.equal(limiter.waiting, 0);
  release();
  await first;
  assert.equal(limiter.active, 0);
});
