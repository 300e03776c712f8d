/**
 * Exponential backoff: one formula for every retry in the project (the
 * informer, the work queue's per-item limiter, the request watcher, the
 * event recorder), each with its own jitter policy.
 */

/**
 * The delay after `failures` failures before this one: min(max, initial ×
 * factor^failures), without jitter. Never Infinity or NaN, however many
 * failures.
 */
export function exponentialDelayMs(failures: number, initialMs: number, maxMs: number, factor = 2): number {
  const delay = initialMs * factor ** failures;
  return delay > maxMs || !Number.isFinite(delay) ? maxMs : delay;
}

export interface BackoffOptions {
  /** First delay; default 800 ms. */
  readonly initialMs?: number;
  /** Cap of the un-jittered delay; default 30 s. */
  readonly maxMs?: number;
  /** default 2 */
  readonly factor?: number;
  /** Up to this fraction is added at random; default 1 (up to double). */
  readonly jitter?: number;
  /** Source of randomness in [0, 1); for tests. */
  readonly random?: () => number;
}

/**
 * A failure counter with client-go's reflector backoff: the exponential
 * delay stretched by up to `jitter` × itself at random, so that many
 * clients that failed together do not retry together.
 */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #failures = 0;

  constructor(opts: BackoffOptions = {}) {
    this.#initial = opts.initialMs ?? 800;
    this.#max = opts.maxMs ?? 30_000;
    this.#factor = opts.factor ?? 2;
    this.#jitter = opts.jitter ?? 1;
    this.#random = opts.random ?? Math.random;
    if (
      !(this.#initial > 0) ||
      !(this.#max >= this.#initial) ||
      !(this.#factor >= 1) ||
      !(this.#jitter >= 0)
    ) {
      throw new Error('backoff: want 0 < initialMs <= maxMs, factor >= 1, jitter >= 0');
    }
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** The delay before the next attempt; counts one more failure. */
  next(): number {
    const base = exponentialDelayMs(this.#failures, this.#initial, this.#max, this.#factor);
    this.#failures++;
    return Math.round(base * (1 + this.#jitter * this.#random()));
  }

  /** After a success: the next failure starts from the initial delay again. */
  reset(): void {
    this.#failures = 0;
  }
}
