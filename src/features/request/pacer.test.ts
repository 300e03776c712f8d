import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, settle } from '../../testing/fake-clock.ts';
import { BytePacer, nextPageKeys } from './pacer.ts';

describe('BytePacer', () => {
  test('over any window, at most the rate times the window plus one page', async () => {
    const clock = new FakeClock();
    const rate = 1000; // bytes per second
    const pacer = new BytePacer(clock, rate);
    const pages = [700, 300, 1200, 50, 950, 400, 400, 400, 2000, 10];
    const reads: { atMs: number; bytes: number }[] = [];
    // The scan: read a page (recorded when read), then let the pacer wait.
    const scan = (async () => {
      for (const bytes of pages) {
        reads.push({ atMs: clock.now(), bytes });
        await pacer.consume(bytes);
      }
    })();
    while (reads.length < pages.length || clock.pendingTimers > 0) {
      await clock.advance(10);
      await settle();
    }
    await scan;
    const total = pages.reduce((a, b) => a + b, 0);
    assert.equal(pacer.bytes, total);
    const largest = Math.max(...pages);
    for (const windowMs of [500, 1000, 3000]) {
      for (const start of reads) {
        const inWindow = reads
          .filter((r) => r.atMs >= start.atMs && r.atMs < start.atMs + windowMs)
          .reduce((n, r) => n + r.bytes, 0);
        assert.ok(
          inWindow <= (rate * windowMs) / 1000 + largest,
          `${inWindow} bytes in ${windowMs} ms from ${start.atMs}`,
        );
      }
    }
    // And it does not dawdle: the last page was read when the rate allowed it.
    assert.equal(reads.at(-1)!.atMs, Math.ceil((((total - 10) / rate) * 1000) / 10) * 10);
  });

  test('a scan slowed down does not catch up in a burst', async () => {
    const clock = new FakeClock();
    const pacer = new BytePacer(clock, 1000);
    await clock.advance(10_000); // a slow member: nothing read for 10 s
    const wait = pacer.consume(500);
    assert.equal(clock.nextTimerAt(), 10_500, 'the next page waits its own share, not less');
    await clock.advance(500);
    await wait;
  });

  test('an aborted scan stops waiting', async () => {
    const clock = new FakeClock();
    const pacer = new BytePacer(clock, 10);
    const abort = new AbortController();
    const wait = pacer.consume(1000, abort.signal);
    abort.abort(new Error('stopped'));
    await assert.rejects(wait, /stopped/);
  });
});

describe('nextPageKeys', () => {
  test('pages of about the target size, within 1 and the maximum', () => {
    assert.equal(nextPageKeys(0, 0, 4 << 20, 1000), 16);
    assert.equal(nextPageKeys(2500 * 100, 100, 4 << 20, 1000), 1000);
    assert.equal(nextPageKeys(100_000 * 10, 10, 4 << 20, 1000), 41);
    assert.equal(nextPageKeys(10 << 20, 1, 4 << 20, 1000), 1);
  });
});
