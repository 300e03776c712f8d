/**
 * Round trips of one probe on one member over a sliding window, with
 * bounded memory: at most `maxSamples` samples, none older than the window.
 * Quantiles are exact over what the window holds (nearest rank).
 */

export interface LatencySample {
  readonly atMs: number;
  readonly seconds: number;
  /** The probe hit its deadline: `seconds` is a lower bound of the round trip. */
  readonly timedOut: boolean;
}

export class LatencyWindow {
  readonly #windowMs: number;
  readonly #maxSamples: number;
  /** Oldest first; a ring would save a shift on a full window, but windows hold tens to a few thousand samples. */
  #samples: LatencySample[] = [];
  #failures = 0;
  #last: LatencySample | undefined;
  /** Every round trip since the window's owner started: a summary's _sum and _count. */
  #totalSeconds = 0;
  #totalCount = 0;

  constructor(windowSeconds: number, maxSamples: number) {
    if (!(windowSeconds > 0) || !Number.isSafeInteger(maxSamples) || maxSamples < 1)
      throw new Error(`bad latency window: ${windowSeconds} s, ${maxSamples} samples`);
    this.#windowMs = windowSeconds * 1000;
    this.#maxSamples = maxSamples;
  }

  add(sample: LatencySample): void {
    this.#samples.push(sample);
    this.#last = sample;
    this.#totalSeconds += sample.seconds;
    this.#totalCount++;
    if (sample.timedOut) this.#failures++;
    if (this.#samples.length > this.#maxSamples) this.#samples.shift();
    this.prune(sample.atMs);
  }

  /** A probe that failed without a round trip to time (refused, unavailable): counted, not sampled. */
  fail(): void {
    this.#failures++;
  }

  /** Drops the samples older than the window, as of `nowMs`. */
  prune(nowMs: number): void {
    const from = nowMs - this.#windowMs;
    let drop = 0;
    while (drop < this.#samples.length && this.#samples[drop]!.atMs < from) drop++;
    if (drop > 0) this.#samples = this.#samples.slice(drop);
  }

  get count(): number {
    return this.#samples.length;
  }

  get timedOut(): number {
    return this.#samples.reduce((n, s) => n + (s.timedOut ? 1 : 0), 0);
  }

  /** Failed probes (timeouts and errors) over the life of the window's owner. */
  get failures(): number {
    return this.#failures;
  }

  /** Round trips sampled over the life of the window's owner, and their sum in seconds. */
  get total(): { readonly count: number; readonly seconds: number } {
    return { count: this.#totalCount, seconds: this.#totalSeconds };
  }

  get last(): LatencySample | undefined {
    return this.#last;
  }

  /** The round trips in the window, oldest first. */
  values(): number[] {
    return this.#samples.map((s) => s.seconds);
  }
}

/** Nearest-rank quantiles of `values` (any order), one per entry of `qs`; undefined for an empty list. */
export function quantiles(values: readonly number[], qs: readonly number[]): (number | undefined)[] {
  if (values.length === 0) return qs.map(() => undefined);
  const sorted = [...values].sort((a, b) => a - b);
  return qs.map((q) => {
    const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
    return sorted[rank - 1];
  });
}
