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

/** Per cluster of the engine, the start window grows by this much: about 50 first rounds a second per feature. */
export const START_SPREAD_PER_CLUSTER_MS = 20;
/** A few clusters start within this (their first results come at once); never longer than a minute. */
export const MIN_START_SPREAD_MS = 2_000;
export const MAX_START_SPREAD_MS = 60_000;

/**
 * A random start offset that spreads the first rounds of many clusters over
 * their interval, so that a start (or a shard hand-off) with a thousand
 * clusters does not queue a thousand rounds at once behind the global
 * limiter. The window grows with the number of clusters — 20 ms each, at
 * least 2 s — up to the interval (and a minute): one cluster still gets its
 * first result at once, a thousand at 10 s spread over the whole 10 s.
 */
export function startJitterMs(
  intervalMs: number,
  clusters: number,
  random: () => number = Math.random,
): number {
  const window = Math.min(
    intervalMs,
    MAX_START_SPREAD_MS,
    Math.max(MIN_START_SPREAD_MS, clusters * START_SPREAD_PER_CLUSTER_MS),
  );
  return Math.floor(random() * window);
}
