/**
 * Told how long each round waited for its slot: a saturated process shows
 * in its own metrics (src/server/pressure.ts), never as failed inspections.
 */
export interface RoundPressure {
  /** A round (or membership read) of `feature` got its slot after `seconds`; `skipped` rounds fell due meanwhile. */
  waited(feature: string, seconds: number, skipped: number): void;
}

/** The limiter's state, for the monitor's own metrics. */
export interface SlotStats {
  readonly max: number;
  readonly active: number;
  readonly waiting: number;
}

/**
 * Bounds how many inspection rounds run at once across all clusters. Waiters
 * are served in order; a waiter whose signal aborts leaves the queue.
 */
export class Limiter {
  readonly #max: number;
  #active = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new Error(`limiter size must be a positive integer, got ${max}`);
    this.#max = max;
  }

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  stats(): SlotStats {
    return { max: this.#max, active: this.#active, waiting: this.#waiters.length };
  }

  async run<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Waits for a slot (rejects when the signal aborts first); resolves with its release, to call once. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    await this.#acquire(signal);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#release();
    };
  }

  #acquire(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.#active < this.#max) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.#active++;
        resolve();
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(grant);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(grant);
    });
  }

  #release(): void {
    this.#active--;
    const next = this.#waiters.shift();
    if (next !== undefined) next();
  }
}
