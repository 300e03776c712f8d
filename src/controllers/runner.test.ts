import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiErrorFrom } from '../k8s/client/index.ts';
import { ItemExponentialFailureRateLimiter } from '../k8s/ratelimit.ts';
import { WorkQueue } from '../k8s/workqueue.ts';
import { silentLogger } from '../log.ts';
import { FakeClock, settle } from '../testing/fake-clock.ts';
import { eventually } from '../testing/wait.ts';
import { Controller, type SyncFn } from './runner.ts';

/**
 * A controller whose queue runs on a FakeClock: retries wait 10, 20, 40 ...
 * ms of fake time (the default starts at 5 ms under a token bucket), so
 * delays are checked exactly and "nothing more happens" is checked by
 * moving time far ahead rather than by sleeping.
 */
function controller(sync: SyncFn, workers = 2) {
  const clock = new FakeClock();
  const queue = new WorkQueue<string>({
    clock,
    rateLimiter: new ItemExponentialFailureRateLimiter<string>(10, 1_000),
  });
  const c = new Controller({ name: 'test', workers, sync, logger: silentLogger(), queue });
  return { c, clock };
}

/** A promise the test resolves: holds a sync in flight until released. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe('Controller', () => {
  it('syncs each key once however often it was enqueued before a worker took it', async () => {
    const seen: string[] = [];
    const { c, clock } = controller(async (key) => {
      seen.push(key);
    });
    for (let i = 0; i < 5; i++) c.enqueue('ns/a');
    c.enqueue('ns/b');
    c.start();
    await eventually(() => seen.length === 2, 'two syncs');
    await clock.advance(60_000);
    assert.deepEqual(seen.sort(), ['ns/a', 'ns/b']);
    assert.equal(c.pending(), 0);
    await c.stop();
  });

  it('retries a failing key with growing delays, then forgets it once it succeeds (no hot loop)', async () => {
    const times: number[] = [];
    const { c, clock } = controller(async () => {
      times.push(clock.now());
      if (times.length < 4) throw new Error('transient');
    });
    c.enqueue('ns/a');
    c.start();
    await eventually(() => times.length === 1, 'the first attempt');
    for (const [retry, delay] of [10, 20, 40].entries()) {
      await clock.advance(delay - 1);
      assert.equal(times.length, retry + 1, `retry ${retry + 1} not before ${delay} ms`);
      await clock.advance(1);
      await eventually(() => times.length === retry + 2, `retry ${retry + 1} after ${delay} ms`);
    }
    assert.deepEqual(times, [0, 10, 30, 70]);
    await clock.advance(60_000);
    assert.equal(times.length, 4, 'a successful sync is not repeated');
    assert.deepEqual(c.stats(), { syncs: 4, failures: 3 });
    await c.stop();
  });

  it('a sync that returns (e.g. after reporting an invalid spec) is not retried', async () => {
    let calls = 0;
    const { c, clock } = controller(async () => {
      calls++;
    });
    c.enqueue('ns/invalid');
    c.start();
    await eventually(() => calls === 1, 'one sync');
    assert.equal(clock.pendingTimers, 0, 'no retry scheduled');
    await clock.advance(60_000);
    assert.equal(calls, 1);
    await c.stop();
  });

  it('requeues after the delay a sync asks for', async () => {
    const times: number[] = [];
    const { c, clock } = controller(async () => {
      times.push(clock.now());
      return times.length === 1 ? { requeueAfterMs: 80 } : undefined;
    });
    c.enqueue('ns/a');
    c.start();
    await eventually(() => times.length === 1, 'the first sync');
    await clock.advance(79);
    assert.equal(times.length, 1, 'not before 80 ms');
    await clock.advance(1);
    await eventually(() => times.length === 2, 'the second sync');
    assert.deepEqual(times, [0, 80]);
    await c.stop();
  });

  it('never syncs one key twice at once, even with many workers; an enqueue during a sync runs it again after', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const first = gate();
    const { c } = controller(async () => {
      calls++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (calls === 1) await first.promise;
      running--;
    }, 4);
    c.start();
    c.enqueue('ns/a');
    await eventually(() => running === 1, 'the first sync to start');
    c.enqueue('ns/a');
    c.enqueue('ns/a');
    await settle();
    assert.equal(calls, 1, 'no second sync while the first runs');
    first.open();
    await eventually(() => calls === 2 && running === 0, 'two syncs in a row');
    assert.equal(maxRunning, 1);
    await c.stop();
  });

  it('runs different keys in parallel up to the number of workers', async () => {
    let running = 0;
    let maxRunning = 0;
    const release = gate();
    const { c } = controller(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await release.promise;
      running--;
    }, 3);
    for (const k of ['a', 'b', 'c', 'd', 'e']) c.enqueue(k);
    c.start();
    await eventually(() => running === 3, 'three syncs at once');
    await settle();
    assert.equal(running, 3, 'no fourth worker');
    assert.equal(c.pending(), 2);
    release.open();
    await eventually(() => c.stats().syncs === 5 && running === 0, 'five syncs');
    assert.equal(maxRunning, 3);
    await c.stop();
  });

  it('stop() aborts the syncs in flight, waits for them, and drops what is queued', async () => {
    let aborted = false;
    let returned = false;
    let started = 0;
    const { c, clock } = controller(async (_key, signal) => {
      started++;
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted = signal.aborted;
      // Some cleanup after the abort: stop() must wait for it.
      await settle();
      returned = true;
      throw signal.reason;
    }, 1);
    c.enqueue('ns/a');
    c.enqueue('ns/b');
    c.start();
    await eventually(() => started === 1, 'one sync in flight');
    await c.stop();
    assert.equal(aborted, true);
    assert.equal(returned, true, 'stop() resolved only after the sync returned');
    assert.equal(started, 1, 'the queued key was dropped, not synced');
    c.enqueue('ns/c');
    await clock.advance(60_000);
    assert.equal(started, 1, 'nothing runs after stop');
  });

  it('a conflict is retried like any failure', async () => {
    let calls = 0;
    const { c, clock } = controller(async () => {
      calls++;
      if (calls === 1)
        throw apiErrorFrom('update status', 409, {
          kind: 'Status',
          code: 409,
          reason: 'Conflict',
          message: 'the object has been modified',
        });
    });
    c.enqueue('ns/a');
    c.start();
    await eventually(() => calls === 1, 'the first sync');
    await clock.advance(10);
    await eventually(() => calls === 2, 'retried after the conflict');
    await c.stop();
  });
});
