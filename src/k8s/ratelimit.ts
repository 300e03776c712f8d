/**
 * Rate limiters with client-go's semantics (k8s.io/client-go/util/workqueue
 * default_rate_limiters.go and golang.org/x/time/rate), shared by the workqueue,
 * leader election and the event recorder.
 *
 * Every time-dependent piece takes a Clock (src/clock.ts), so its logic is
 * tested with a FakeClock instead of sleeping.
 */
import { exponentialDelayMs } from '../backoff.ts';
import { realClock, type Clock } from '../clock.ts';

/**
 * A token bucket with golang.org/x/time/rate's reservation semantics: it holds
 * up to `burst` tokens and gains `qps` tokens per second. reserve() always
 * takes a token, possibly one that will only exist in the future, and returns
 * how long to wait for it; so successive reservations are paced at 1/qps.
 */
/** Tolerance for floating-point refill arithmetic. */
const EPSILON = 1e-9;

export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;

  constructor(qps: number, burst: number, clock: Clock = realClock) {
    if (!(qps > 0) || !Number.isFinite(qps))
      throw new Error(`token bucket qps must be a positive number, got ${qps}`);
    if (!Number.isInteger(burst) || burst < 1)
      throw new Error(`token bucket burst must be a positive integer, got ${burst}`);
    this.qps = qps;
    this.burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#last = clock.now();
  }

  #advance(): void {
    const now = this.#clock.now();
    if (now > this.#last) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.qps) / 1000);
      this.#last = now;
    }
  }

  /** Tokens available now (negative when reservations run ahead). */
  tokens(): number {
    this.#advance();
    return this.#tokens;
  }

  /** Takes a token and returns the delay in ms before it may be used (0 when one was available). */
  reserve(): number {
    this.#advance();
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.qps;
  }

  /** Takes a token only if one is available now. */
  tryTake(): boolean {
    this.#advance();
    if (this.#tokens < 1 - EPSILON) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until tryTake() can succeed (0 when it can now). */
  delayUntilToken(): number {
    this.#advance();
    if (this.#tokens >= 1 - EPSILON) return 0;
    // Whole milliseconds, so that a timer set for this delay finds the token.
    return Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.qps - 1e-6));
  }
}

/** client-go's TypedRateLimiter: how long to wait before an item is retried. */
export interface RateLimiter<T> {
  /** The delay in ms before the item's next retry; counts as one failure. */
  when(item: T): number;
  /** The item succeeded (or was given up): its failure history is cleared. */
  forget(item: T): void;
  /** How many failures are recorded for the item. */
  numRequeues(item: T): number;
}

/** base * 2^failures, capped at max (client-go's ItemExponentialFailureRateLimiter). */
export class ItemExponentialFailureRateLimiter<T> implements RateLimiter<T> {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #failures = new Map<T, number>();

  constructor(baseMs: number, maxMs: number) {
    if (!(baseMs > 0) || !(maxMs >= baseMs))
      throw new Error(`exponential backoff needs 0 < base <= max, got base ${baseMs} ms, max ${maxMs} ms`);
    this.#baseMs = baseMs;
    this.#maxMs = maxMs;
  }

  when(item: T): number {
    const failures = this.#failures.get(item) ?? 0;
    this.#failures.set(item, failures + 1);
    return exponentialDelayMs(failures, this.#baseMs, this.#maxMs);
  }

  forget(item: T): void {
    this.#failures.delete(item);
  }

  numRequeues(item: T): number {
    return this.#failures.get(item) ?? 0;
  }
}

/** An overall token bucket shared by all items (client-go's BucketRateLimiter). */
export class BucketRateLimiter<T> implements RateLimiter<T> {
  readonly bucket: TokenBucket;

  constructor(qps: number, burst: number, clock: Clock = realClock) {
    this.bucket = new TokenBucket(qps, burst, clock);
  }

  when(_item: T): number {
    return this.bucket.reserve();
  }

  forget(_item: T): void {}

  numRequeues(_item: T): number {
    return 0;
  }
}

/** The worst (longest) delay of several limiters (client-go's MaxOfRateLimiter). */
export class MaxOfRateLimiter<T> implements RateLimiter<T> {
  readonly #limiters: readonly RateLimiter<T>[];

  constructor(...limiters: RateLimiter<T>[]) {
    if (limiters.length === 0) throw new Error('MaxOfRateLimiter needs at least one limiter');
    this.#limiters = limiters;
  }

  when(item: T): number {
    let max = 0;
    for (const l of this.#limiters) max = Math.max(max, l.when(item));
    return max;
  }

  forget(item: T): void {
    for (const l of this.#limiters) l.forget(item);
  }

  numRequeues(item: T): number {
    let max = 0;
    for (const l of this.#limiters) max = Math.max(max, l.numRequeues(item));
    return max;
  }
}

/**
 * client-go's DefaultTypedControllerRateLimiter: per-item exponential backoff
 * from 5 ms to 1000 s, combined with an overall bucket of 10 qps and burst 100
 * (which only paces retries when very many items fail at once).
 */
export function defaultControllerRateLimiter<T>(clock: Clock = realClock): RateLimiter<T> {
  return new MaxOfRateLimiter<T>(
    new ItemExponentialFailureRateLimiter<T>(5, 1_000_000),
    new BucketRateLimiter<T>(10, 100, clock),
  );
}
