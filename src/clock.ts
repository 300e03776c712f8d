/**
 * Time as a dependency. Every piece whose logic depends on time (the engine's
 * loops, the work queue and its rate limiters, leader election, the event
 * recorder) takes a Clock, so that its tests move a FakeClock
 * (src/testing/fake-clock.ts) instead of sleeping: fast on an idle machine,
 * and still right on a loaded one.
 */

/** A scheduled callback; cancel() is idempotent. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds, for durations and deadlines (never goes back). */
  now(): number;
  /** Wall-clock time, for timestamps that people or the API read. */
  date(): Date;
  /** Runs fn once after ms milliseconds (at least 0). */
  after(ms: number, fn: () => void): Timer;
}

export const realClock: Clock = {
  now: () => performance.now(),
  date: () => new Date(),
  after(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(handle) };
  },
};

/**
 * Resolves after ms on the given clock, or rejects with the signal's reason
 * when it aborts first. The timer is cancelled either way.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      timer.cancel();
      reject(signal?.reason as Error);
    };
    const timer = clock.after(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that aborts with reason() after ms on the given clock; cancel()
 * stops the timer (call it once the work is done, so no timer outlives it).
 */
export function timeoutSignal(
  clock: Clock,
  ms: number,
  reason: () => Error,
): { readonly signal: AbortSignal; cancel(): void } {
  const ctl = new AbortController();
  const timer = clock.after(ms, () => ctl.abort(reason()));
  return { signal: ctl.signal, cancel: () => timer.cancel() };
}
