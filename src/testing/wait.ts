/**
 * The one way tests wait for something that happens asynchronously: poll a
 * condition until a deadline (never a fixed sleep, which is too short on a
 * loaded machine and wasted time on an idle one). Unit tests under src/ and
 * integration tests under test/ share it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.ts';

/** What a check returns while the awaited state has not come: undefined or false. */
type NotYet = undefined | false;

/**
 * Polls `check` until it returns something other than undefined or false and
 * returns that. A check that throws counts as "not yet"; its last error is
 * named when the deadline passes. The deadline is generous by default (10 s)
 * because it only guards against a hang: a passing test never waits for it.
 */
export async function eventually<T>(
  check: () => T | NotYet | Promise<T | NotYet>,
  what: string,
  timeoutMs = 10_000,
  everyMs = 20,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() > deadline) {
      const why = lastError === undefined ? '' : `: ${errorMessage(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}
