/**
 * The young generation of the long-running commands: small while the
 * process is quiet, larger once scavenges cost it a real share of its CPU.
 *
 * The launcher (bin/etcd-monitor.js) starts these commands with V8's
 * `--semi-space-growth-factor=1`: the young generation stays at its initial
 * 1 MiB, which keeps a quiet daemon's RSS 10-25 MiB lower. A busy process
 * pays for it: every MiB allocated is a scavenge, and each scavenge copies
 * what is still alive (the rounds in flight), so at 2,000 clusters per
 * operator replica scavenges took 15 % of the main thread's busy time (87.7
 * s of 213 s of CPU). This policy watches the scavenges' share of the time
 * the event loop is busy and, while it stays above a threshold, lets V8
 * grow the young generation one step (the growth factor back to 2 until the
 * next growth, then 1 again), up to a cap.
 *
 * Busy time, not CPU time: both the collections' durations and the event
 * loop's busy time are wall times, which a loaded machine stretches alike
 * when it preempts the process (against CPU time the share would read
 * several times too high there). V8 reads the
 * growth factor whenever it resizes the young generation, so a change at
 * run time takes effect (measured in docs/performance.md, "CPU");
 * `--max-semi-space-size` does not (it is read once at start).
 */
import { type NodeGCPerformanceDetail, PerformanceObserver, constants } from 'node:perf_hooks';
import * as v8 from 'node:v8';

export interface YoungGenerationLimits {
  /** Grow while scavenges take more than this share of the event loop's busy time (0-1). */
  readonly growAboveShare: number;
  /** ... and more than this share of all time (0-1): a quiet process keeps its small young generation. */
  readonly minWallShare: number;
  /** Never grow past this new space (both semi-spaces, as V8's heap-space statistics count it). */
  readonly maxNewSpaceBytes: number;
}

export const DEFAULT_YOUNG_GENERATION_LIMITS: YoungGenerationLimits = {
  growAboveShare: 0.1,
  minWallShare: 0.02,
  maxNewSpaceBytes: 16 * 1024 * 1024,
};

/** What one window of the process's life looked like. */
export interface YoungGenerationWindow {
  /** Time spent in scavenges (minor collections) during the window. */
  readonly scavengeMs: number;
  /** Time the event loop was busy (not waiting for I/O or timers) during the window. */
  readonly busyMs: number;
  /** The window's length. */
  readonly wallMs: number;
  /** The new space's size at the window's end. */
  readonly newSpaceBytes: number;
}

/** Whether to let the young generation grow one step after this window (the pure part of the policy). */
export function shouldGrowYoungGeneration(
  w: YoungGenerationWindow,
  limits: YoungGenerationLimits = DEFAULT_YOUNG_GENERATION_LIMITS,
): boolean {
  if (w.busyMs <= 0 || w.wallMs <= 0) return false;
  return (
    w.newSpaceBytes < limits.maxNewSpaceBytes &&
    w.scavengeMs / w.busyMs > limits.growAboveShare &&
    w.scavengeMs / w.wallMs > limits.minWallShare
  );
}

export interface YoungGenerationPolicy {
  stop(): void;
}

const newSpaceBytes = (): number =>
  v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

/**
 * Starts the policy: one window every `windowMs` (a timer that does not keep
 * the process alive) and an observer of garbage collections; stop() ends
 * both and leaves the growth factor at 1.
 */
export function startYoungGenerationPolicy(
  opts: { windowMs?: number; limits?: YoungGenerationLimits } = {},
): YoungGenerationPolicy {
  const limits = opts.limits ?? DEFAULT_YOUNG_GENERATION_LIMITS;
  let scavengeMs = 0;
  // The size at which growth was allowed, while it is; undefined otherwise.
  let growingFrom: number | undefined;
  const setGrowthFactor = (factor: 1 | 2): void =>
    v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`);
  const stopGrowing = (): void => {
    if (growingFrom === undefined) return;
    setGrowthFactor(1);
    growingFrom = undefined;
  };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (
        (entry as { detail?: NodeGCPerformanceDetail }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR
      )
        scavengeMs += entry.duration;
    }
    // One step at a time: back to 1 as soon as V8 has grown it.
    if (growingFrom !== undefined && newSpaceBytes() > growingFrom) {
      setGrowthFactor(1);
      growingFrom = undefined;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  let loop = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const used = performance.eventLoopUtilization(now, loop);
    loop = now;
    const window = {
      scavengeMs,
      busyMs: used.active,
      wallMs: used.active + used.idle,
      newSpaceBytes: newSpaceBytes(),
    };
    scavengeMs = 0;
    if (growingFrom === undefined && shouldGrowYoungGeneration(window, limits)) {
      growingFrom = window.newSpaceBytes;
      setGrowthFactor(2);
      // GC entries reach the observer late (batched; later still on a loaded machine, where the new space
      // was seen doubling past the cap): growth is allowed for the rest of this event-loop turn only.
      setImmediate(stopGrowing).unref();
    }
  }, opts.windowMs ?? 10_000);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      observer.disconnect();
      if (growingFrom !== undefined) setGrowthFactor(1);
      growingFrom = undefined;
    },
  };
}
