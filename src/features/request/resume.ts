/**
 * Where and when the watch resumes after a failure, free of I/O: a bounded
 * exponential backoff, and rotation to the next member that has a client URL.
 */
import { exponentialDelayMs } from '../../backoff.ts';

export const INITIAL_BACKOFF_MS = 100;
export const MAX_BACKOFF_MS = 5_000;

/**
 * Delay before attempt number `failures + 1` (failures >= 1): 100 ms
 * doubling up to 5 s, with ±20 % jitter so that many monitors do not
 * reconnect in step.
 */
export function backoffMs(failures: number, random: () => number = Math.random): number {
  const base = exponentialDelayMs(Math.max(failures, 1) - 1, INITIAL_BACKOFF_MS, MAX_BACKOFF_MS);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * Consecutive failures after one more: an attempt that stayed established
 * for at least the maximum backoff was a success, so the count starts over
 * (a member that restarts once is retried at once; one that fails every
 * time it is reached backs off).
 */
export function failuresAfter(previous: number, establishedForMs: number | undefined): number {
  return establishedForMs !== undefined && establishedForMs >= MAX_BACKOFF_MS ? 1 : previous + 1;
}

/** What the choice needs to know of a member. */
export interface WatchCandidate {
  /** The endpoint URL; undefined for a member without a usable client URL. */
  readonly url: string | undefined;
  /** false when the last discovery could not reach it. */
  readonly responsive: boolean;
  readonly leader: boolean;
}

/**
 * The member to watch on. First attempt: a responsive follower (a watch
 * catching up reads the backend; the leader has enough to do), else the
 * leader, else anything with a URL. After a failure on `previous`: the next
 * member in list order (wrapping), preferring responsive ones; the failed
 * member only when it is the only one. Returns an index into `candidates`,
 * or undefined when no member has a URL.
 */
export function pickWatchMember(
  candidates: readonly WatchCandidate[],
  previous: string | undefined,
): number | undefined {
  const usable = candidates.map((c, i) => ({ c, i })).filter(({ c }) => c.url !== undefined);
  if (usable.length === 0) return undefined;
  const at = previous === undefined ? -1 : usable.findIndex(({ c }) => c.url === previous);
  if (at === -1) {
    const follower = usable.find(({ c }) => c.responsive && !c.leader);
    const leader = usable.find(({ c }) => c.responsive);
    return (follower ?? leader ?? usable[0]!).i;
  }
  const order = [...usable.slice(at + 1), ...usable.slice(0, at)];
  const next = order.find(({ c }) => c.responsive) ?? order[0];
  return (next ?? usable[at]!).i;
}
