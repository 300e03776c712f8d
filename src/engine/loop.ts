import { realClock, sleep, type Clock } from '../clock.ts';

export interface RunEveryOptions {
  /** Wait this long before the first round; default 0. */
  readonly initialDelayMs?: number;
  /** default: real time */
  readonly clock?: Clock;
}

/**
 * Runs fn at a fixed rate until signal aborts: a round that overruns its
 * slot is followed at once by the next (missed slots are skipped, never
 * queued). Resolves when the loop has stopped and the last round returned.
 */
export async function runEvery(
  intervalMs: number,
  fn: () => Promise<void>,
  signal: AbortSignal,
  opts: RunEveryOptions = {},
): Promise<void> {
  if (!(intervalMs > 0)) throw new Error(`interval must be positive, got ${intervalMs}`);
  const clock = opts.clock ?? realClock;
  if (!(await pause(clock, opts.initialDelayMs ?? 0, signal))) return;
  let next = clock.now();
  while (!signal.aborted) {
    await fn();
    next += intervalMs;
    const now = clock.now();
    if (next < now) next = now;
    if (!(await pause(clock, next - now, signal))) return;
  }
}

/** false when aborted during the pause. */
async function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  if (ms <= 0) return true;
  try {
    await sleep(clock, ms, signal);
    return true;
  } catch {
    return false;
  }
}

/** A start offset that spreads many clusters over the first part of their interval. */
export function startJitterMs(intervalMs: number): number {
  return Math.floor(Math.random() * Math.min(intervalMs * 0.1, 2_000));
}
