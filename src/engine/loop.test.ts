import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../testing/fake-clock.ts';
import { runEvery } from './loop.ts';

/** A 20 ms loop on a FakeClock that records when each round started, then runs `round`. */
function everyTwentyMs(round: (n: number, clock: FakeClock) => Promise<void>, initialDelayMs = 0) {
  const clock = new FakeClock();
  const abort = new AbortController();
  const starts: number[] = [];
  const loop = runEvery(
    20,
    () => {
      starts.push(clock.now());
      return round(starts.length, clock);
    },
    abort.signal,
    { initialDelayMs, clock },
  );
  return { clock, abort, starts, loop };
}

test('runEvery runs at a fixed rate after the initial delay and stops when aborted', async () => {
  const { clock, abort, starts, loop } = everyTwentyMs(async () => {}, 5);
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
  // The second round takes 50 ms: two and a half slots.
  const { clock, abort, starts, loop } = everyTwentyMs((round, clock) =>
    round === 2 ? new Promise<void>((r) => clock.after(50, r)) : Promise.resolve(),
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
