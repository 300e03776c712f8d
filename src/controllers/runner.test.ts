import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../testing/wait.ts';
import { apiErrorFrom } from '../k8s/client/index.ts';
import { ItemExponentialFailureRateLimiter } from '../k8s/ratelimit.ts';
import { WorkQueue } from '../k8s/workqueue.ts';
import { silentLogger } from '../log.ts';
import { Controller, type SyncFn } from './runner.ts';

/** A queue whose retries wait 10, 20, 40 ... ms (the default starts at 5 ms under a token bucket). */
const fastQueue = () =>
  new WorkQueue<string>({ rateLimiter: new ItemExponentialFailureRateLimiter<string>(10, 1_000) });

function controller(sync: SyncFn, workers = 2): Controller {
  return new Controller({ name: 'test', workers, sync, logger: silentLogger(), queue: fastQueue() });
}

describe('Controller', () => {
  it('syncs each key once however often it was enqueued before a worker took it', async () => {
    const seen: string[] = [];
    const c = controller(async (key) => {
      seen.push(key);
    });
    for (let i = 0; i < 5; i++) c.enqueue('ns/a');
    c.enqueue('ns/b');
    c.start();
    await eventually(() => (seen.length === 2 ? true : undefined), 'two syncs');
    await sleep(50);
    assert.deepEqual(seen.sort(), ['ns/a', 'ns/b']);
    await c.stop();
  });

  it('retries a failing key with growing delays, then forgets it once it succeeds (no hot loop)', async () => {
    const times: number[] = [];
    const c = controller(async () => {
      times.push(performance.now());
      if (times.length < 4) throw new Error('transient');
    });
    c.enqueue('ns/a');
    c.start();
    await eventually(() => (times.length === 4 ? true : undefined), 'four attempts');
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // 10, 20, 40 ms (timers may fire a little late, never early).
    for (const [i, gap] of gaps.entries())
      assert.ok(gap >= 10 * 2 ** i - 1, `retry ${i + 1} after ${gap.toFixed(1)} ms`);
    assert.ok(gaps[2]! > gaps[0]!, 'the delay grows');
    await sleep(200);
    assert.equal(times.length, 4, 'a successful sync is not repeated');
    assert.deepEqual(c.stats(), { syncs: 4, failures: 3 });
    await c.stop();
  });

  it('a sync that returns (e.g. after reporting an invalid spec) is not retried', async () => {
    let calls = 0;
    const c = controller(async () => {
      calls++;
    });
    c.enqueue('ns/invalid');
    c.start();
    await eventually(() => (calls === 1 ? true : undefined), 'one sync');
    await sleep(150);
    assert.equal(calls, 1);
    await c.stop();
  });

  it('requeues after the delay a sync asks for', async () => {
    const times: number[] = [];
    const c = controller(async () => {
      times.push(performance.now());
      return times.length === 1 ? { requeueAfterMs: 80 } : undefined;
    });
    c.enqueue('ns/a');
    c.start();
    await eventually(() => (times.length === 2 ? true : undefined), 'the second sync');
    assert.ok(times[1]! - times[0]! >= 79);
    await c.stop();
  });

  it('never syncs one key twice at once, even with many workers; an enqueue during a sync runs it again after', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const c = controller(async () => {
      calls++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(30);
      running--;
    }, 4);
    c.start();
    c.enqueue('ns/a');
    await eventually(() => running === 1, 'the first sync to start');
    c.enqueue('ns/a');
    c.enqueue('ns/a');
    await eventually(() => (calls === 2 && running === 0 ? true : undefined), 'two syncs in a row');
    assert.equal(maxRunning, 1);
    await c.stop();
  });

  it('runs different keys in parallel up to the number of workers', async () => {
    let running = 0;
    let maxRunning = 0;
    const c = controller(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(40);
      running--;
    }, 3);
    for (const k of ['a', 'b', 'c', 'd', 'e']) c.enqueue(k);
    c.start();
    await eventually(() => (c.stats().syncs === 5 && running === 0 ? true : undefined), 'five syncs');
    assert.equal(maxRunning, 3);
    await c.stop();
  });

  it('stop() aborts the syncs in flight, waits for them, and drops what is queued', async () => {
    let aborted = false;
    let returned = false;
    let started = 0;
    const c = controller(async (_key, signal) => {
      started++;
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted = signal.aborted;
      await sleep(20);
      returned = true;
      throw signal.reason;
    }, 1);
    c.enqueue('ns/a');
    c.enqueue('ns/b');
    c.start();
    await eventually(() => (started === 1 ? true : undefined), 'one sync in flight');
    await c.stop();
    assert.equal(aborted, true);
    assert.equal(returned, true, 'stop() resolved only after the sync returned');
    assert.equal(started, 1, 'the queued key was dropped, not synced');
    c.enqueue('ns/c');
    await sleep(30);
    assert.equal(started, 1, 'nothing runs after stop');
  });

  it('a conflict is retried like any failure', async () => {
    let calls = 0;
    const c = controller(async () => {
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
    await eventually(() => (calls === 2 ? true : undefined), 'retried after the conflict');
    await c.stop();
  });
});
