import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, settle } from '../testing/fake-clock.ts';
import { eventually } from '../testing/wait.ts';
import { ItemExponentialFailureRateLimiter } from './ratelimit.ts';
import { WorkQueue, type GetResult } from './workqueue.ts';

function itemOf<T>(r: GetResult<T>): T {
  assert.equal(r.shutdown, false);
  if (r.shutdown) throw new Error('unreachable');
  return r.item;
}

/** Drains whatever is queued right now, marking each item done. */
async function drainNow(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) {
    const item = itemOf(await q.get());
    out.push(item);
    q.done(item);
  }
  return out;
}

/** A queue with the default rate limiter on a fake clock. */
function fakeClockQueue() {
  const clock = new FakeClock();
  return { clock, q: new WorkQueue({ clock }) };
}

/** Drains what is ready after the clock moves on by ms. */
async function drainAfter(q: WorkQueue, clock: FakeClock, ms: number): Promise<string[]> {
  await clock.advance(ms);
  return drainNow(q);
}

/** How many items are ready after the clock moves on by ms. */
async function lenAfter(q: { len(): number }, clock: FakeClock, ms: number): Promise<number> {
  await clock.advance(ms);
  return q.len();
}

test('an item added many times while waiting is queued once, in first-add order', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('a');
  q.add('b');
  q.add('a');
  q.add('c');
  q.add('b');
  assert.equal(q.len(), 3);
  assert.deepEqual(await drainNow(q), ['a', 'b', 'c']);
  assert.equal(q.len(), 0);
});

test('get() waits for an add and serves waiting callers in order', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  const first = q.get();
  const second = q.get();
  let settled = false;
  void first.then(() => (settled = true));
  await settle();
  assert.equal(settled, false, 'get() must not resolve on an empty queue');
  q.add('x');
  q.add('y');
  assert.equal(itemOf(await first), 'x');
  assert.equal(itemOf(await second), 'y');
  assert.equal(q.len(), 0);
  assert.equal(q.processingCount(), 2);
});

test('an item being processed is never handed out twice; re-added, it comes back after done()', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('a');
  assert.equal(itemOf(await q.get()), 'a');
  q.add('a');
  q.add('a');
  assert.equal(q.len(), 0, 'the re-added item waits for done()');
  const next = q.get();
  let got: string | undefined;
  void next.then((r) => (got = itemOf(r)));
  await settle();
  assert.equal(got, undefined, 'a second worker does not get the item while it is processed');
  q.done('a');
  assert.equal(itemOf(await next), 'a');
  assert.equal(q.processingCount(), 1);
  q.done('a');
  assert.equal(q.len(), 0, 'processed once for all the adds made while processing');
  assert.equal(q.processingCount(), 0);
});

test('done() for an item that is not processing changes nothing', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('a');
  q.done('a');
  q.done('zzz');
  assert.equal(q.len(), 1);
  assert.deepEqual(await drainNow(q), ['a']);
});

test('concurrent workers never process the same key at once and every add after a start is processed', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  const active = new Set<string>();
  const processedAfterAdd = new Map<string, number>();
  let overlaps = 0;
  let runs = 0;
  const lastAdd = new Map<string, number>();
  let tick = 0;
  const workers = Array.from({ length: 4 }, async () => {
    for (;;) {
      const r = await q.get();
      if (r.shutdown) return;
      const key = r.item;
      if (active.has(key)) overlaps++;
      active.add(key);
      const startedAt = tick++;
      runs++;
      await settle(1 + (runs % 3));
      processedAfterAdd.set(key, startedAt);
      active.delete(key);
      q.done(key);
    }
  });
  for (let i = 0; i < 300; i++) {
    const key = `k${i % 7}`;
    lastAdd.set(key, tick++);
    q.add(key);
    if (i % 5 === 0) await settle(1);
  }
  await eventually(() => q.len() === 0 && q.processingCount() === 0, 'the queue to drain', 10_000, 0);
  q.shutDown();
  await Promise.all(workers);
  assert.equal(overlaps, 0);
  // Every key was processed by a run that started after its last add.
  for (const [key, addedAt] of lastAdd) {
    const started = processedAfterAdd.get(key);
    assert.ok(
      started !== undefined && started > addedAt,
      `${key} last added at ${addedAt}, last processing started at ${started}`,
    );
  }
  assert.ok(runs < 300, `adds while waiting were deduplicated (${runs} runs for 300 adds)`);
});

test('addAfter hands items out in ready-time order, not before they are due', async () => {
  const { clock, q } = fakeClockQueue();
  q.addAfter('c', 30);
  q.addAfter('a', 10);
  q.addAfter('b', 20);
  assert.equal(q.len(), 0);
  assert.equal(q.delayedCount(), 3);
  assert.equal(clock.pendingTimers, 1, 'one timer for the whole heap');
  assert.equal(await lenAfter(q, clock, 9), 0);
  assert.deepEqual(await drainAfter(q, clock, 1), ['a']);
  assert.deepEqual(await drainAfter(q, clock, 20), ['b', 'c']);
  assert.equal(q.delayedCount(), 0);
  assert.equal(clock.pendingTimers, 0);
});

test('addAfter keeps the earliest time for an item that is already waiting', async () => {
  const { clock, q } = fakeClockQueue();
  q.addAfter('x', 100);
  q.addAfter('x', 50);
  q.addAfter('y', 10);
  q.addAfter('y', 200);
  assert.equal(q.delayedCount(), 2);
  assert.deepEqual(await drainAfter(q, clock, 10), ['y']);
  assert.deepEqual(await drainAfter(q, clock, 40), ['x']);
  assert.equal(await lenAfter(q, clock, 1000), 0, 'the later duplicate times were dropped');
  assert.equal(clock.pendingTimers, 0);
});

test('a delayed item that is already queued is not queued twice; a zero or negative delay adds at once', async () => {
  const { clock, q } = fakeClockQueue();
  q.add('a');
  q.addAfter('a', 5);
  assert.equal(await lenAfter(q, clock, 5), 1);
  q.addAfter('b', 0);
  q.addAfter('c', -10);
  assert.deepEqual(await drainNow(q), ['a', 'b', 'c']);
});

test('many delayed items with random delays come out sorted', async () => {
  const { clock, q } = fakeClockQueue();
  const delays = new Map<string, number>();
  let seed = 7;
  for (let i = 0; i < 200; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const d = 1 + (seed % 10_000);
    delays.set(`i${i}`, d);
    q.addAfter(`i${i}`, d);
  }
  const out: string[] = [];
  while (q.delayedCount() > 0) {
    await clock.advance((clock.nextTimerAt() ?? clock.now()) - clock.now());
    out.push(...(await drainNow(q)));
  }
  assert.equal(out.length, 200);
  const times = out.map((k) => delays.get(k) as number);
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
  );
});

test('addRateLimited backs off exponentially per item; forget resets; numRequeues counts', async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock, rateLimiter: new ItemExponentialFailureRateLimiter(5, 1000) });
  const readyAfter: number[] = [];
  for (let i = 0; i < 4; i++) {
    const start = clock.now();
    q.addRateLimited('a');
    while (q.len() === 0) await clock.advance(1);
    readyAfter.push(clock.now() - start);
    const item = itemOf(await q.get());
    q.done(item);
  }
  assert.deepEqual(readyAfter, [5, 10, 20, 40]);
  assert.equal(q.numRequeues('a'), 4);
  q.forget('a');
  assert.equal(q.numRequeues('a'), 0);
  q.addRateLimited('a');
  assert.equal(await lenAfter(q, clock, 4), 0);
  assert.equal(await lenAfter(q, clock, 1), 1);
});

test('with the default limiter, a mass failure is paced by the overall bucket after a burst of 100', async () => {
  const { clock, q } = fakeClockQueue();
  for (let i = 0; i < 130; i++) q.addRateLimited(`k${i}`);
  assert.equal(await lenAfter(q, clock, 5), 100, 'the burst is retried after the per-item base delay');
  assert.equal(await lenAfter(q, clock, 95), 101, 'then 10 per second');
  assert.equal(await lenAfter(q, clock, 1000), 111);
  assert.equal(await lenAfter(q, clock, 2000), 130);
});

test('shutDown resolves waiting getters, drops queued and delayed items, ignores later adds and leaves no timer', async () => {
  const { clock, q } = fakeClockQueue();
  const waiting = q.get();
  const results: GetResult<string>[] = [];
  q.add('a');
  results.push(await waiting);
  q.add('b');
  q.addAfter('c', 1000);
  q.addRateLimited('d');
  assert.equal(clock.pendingTimers, 1);
  const blocked = [q.get(), q.get()];
  q.shutDown();
  assert.equal(clock.pendingTimers, 0);
  assert.equal(q.shuttingDown(), true);
  assert.equal(q.len(), 0);
  assert.equal(q.delayedCount(), 0);
  // The first blocked getter had received 'b' before the shutdown; the second resolves with shutdown.
  const [r1, r2] = await Promise.all(blocked);
  assert.deepEqual([r1, r2], [{ shutdown: false, item: 'b' }, { shutdown: true }]);
  assert.deepEqual(await q.get(), { shutdown: true });
  q.add('e');
  q.addAfter('f', 1);
  q.addRateLimited('g');
  assert.equal(q.len(), 0);
  assert.equal(clock.pendingTimers, 0);
  await clock.advance(10_000);
  assert.deepEqual(await q.get(), { shutdown: true });
  assert.deepEqual(results, [{ shutdown: false, item: 'a' }]);
});

test('shutDownWithDrain waits for items in flight, and does not requeue one re-added meanwhile', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('a');
  q.add('b');
  const a = itemOf(await q.get());
  const b = itemOf(await q.get());
  q.add('a');
  let drained: boolean | undefined;
  const drain = q.shutDownWithDrain().then((v) => (drained = v));
  await settle();
  assert.equal(drained, undefined);
  q.done(a);
  await settle();
  assert.equal(drained, undefined, 'b is still in flight');
  assert.deepEqual(
    await q.get(),
    { shutdown: true },
    'a, re-added while processing, is not handed out again',
  );
  q.done(b);
  await drain;
  assert.equal(drained, true);
  assert.equal(q.processingCount(), 0);
  assert.equal(q.len(), 0);
});

test('shutDownWithDrain returns at once when idle, and false when its signal aborts first', async () => {
  const idle = new WorkQueue({ clock: new FakeClock() });
  assert.equal(await idle.shutDownWithDrain(), true);

  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('stuck');
  itemOf(await q.get());
  const abort = new AbortController();
  const drain = q.shutDownWithDrain(abort.signal);
  abort.abort();
  assert.equal(await drain, false);
  assert.equal(await q.shutDownWithDrain(AbortSignal.abort()), false);
});
