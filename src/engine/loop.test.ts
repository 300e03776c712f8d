import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../testing/fake-clock.ts';
import { runEvery } from './loop.ts';

test('runEvery runs at a fixed rate after the initial delay and stops when aborted', async () => {
  const clock = new FakeClock();
  const abort = new AbortController();
  const starts: number[] = [];
  const loop = runEvery(
    20,
    async () => {
      starts.push(clock.now());
    },
    abort.signal,
    { initialDelayMs: 5, clock },
  );
  await clock.advance(4);
  assert.deepEqual(starts, [], 'nothing before the initial delay');
  await clock.advance(1 + 20 * 4);
  assert.deepEqual(starts, [5, 25, 45, 65, 85]);
  abort.abort();
  await loop;
  await clock.advance(100);
  assert.equal(starts.length, 5, 'no round after abort');
  assert.equal(clock.pendingTimers, 0, 'the pending timer was cancelled');
});

test('a round that overruns its slot is followed at once; missed slots are skipped, not queued', async () => {
  const clock = new FakeClock();
  const abort = new AbortController();
  const starts: number[] = [];
  const loop = runEvery(
    20,
    async () => {
      starts.push(clock.now());
      // The second round takes 50 ms: two and a half slots.
      if (starts.length === 2) await new Promise<void>((r) => clock.after(50, r));
    },
    abort.signal,
    { clock },
  );
  await clock.advance(200);
  abort.abort();
  await loop;
  assert.deepEqual(starts.slice(0, 5), [0, 20, 70, 90, 110]);
});

test('runEvery rejects an interval that is not positive', async () => {
  await assert.rejects(
    runEvery(0, async () => {}, new AbortController().signal),
    /interval must be positive/,
  );
});
