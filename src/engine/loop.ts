import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs fn at a fixed rate until signal aborts: a round that overruns its
 * slot is followed at once by the next (missed slots are skipped, never
 * queued). Resolves when the loop has stopped and the last round returned.
 */
export async function runEvery(
  intervalMs: number,
  fn: () => Promise<void>,
  signal: AbortSignal,
  initialDelayMs = 0,
): Promise<void> {
  if (!(intervalMs > 0)) throw new Error(`interval must be positive, got ${intervalMs}`);
  if (!(await pause(initialDelayMs, signal))) return;
  let next = performance.now();
  while (!signal.aborted) {
    await fn();
    next += intervalMs;
    const now = performance.now();
    if (next < now) next = now;
    if (!(await pause(next - now, signal))) return;
  }
}

/** false when aborted during the pause. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  if (ms <= 0) return true;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** A start offset that spreads many clusters over the first part of their interval. */
export function startJitterMs(intervalMs: number): number {
  return Math.floor(Math.random() * Math.min(intervalMs * 0.1, 2_000));
}
