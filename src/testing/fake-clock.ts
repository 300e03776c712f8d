/**
 * A manual Clock for unit tests (the counterpart of k8s.io/utils/clock/testing).
 */
import type { Clock, Timer } from '../clock.ts';

interface FakeTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * A manual clock: time moves only through advance(), which fires due timers in time order and
 * lets the promises they settle run between two timers.
 */
export class FakeClock implements Clock {
  #now = 0;
  readonly #epochMs: number;
  #seq = 0;
  #timers: FakeTimer[] = [];

  constructor(epochMs = Date.UTC(2025, 0, 1)) {
    this.#epochMs = epochMs;
  }

  now(): number {
    return this.#now;
  }

  date(): Date {
    return new Date(this.#epochMs + this.#now);
  }

  after(ms: number, fn: () => void): Timer {
    const timer: FakeTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.push(timer);
    return {
      cancel: () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
      },
    };
  }

  /** Timers scheduled and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** When the earliest pending timer is due, or undefined. */
  nextTimerAt(): number | undefined {
    return this.#earliest()?.at;
  }

  /** Moves time forward by ms, firing every timer that falls due on the way (including ones scheduled meanwhile). */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.at > target) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  #earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers) {
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/** Lets pending promise continuations (and I/O-free async chains) run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
