/**
 * Paces a scan to a byte rate: a page of B bytes earns the next page a wait
 * of B / bytesPerSecond after the later of now and the end of the previous
 * wait. So over any window of T seconds the pages begun in it hold at most
 * bytesPerSecond × T plus one page, and a scan slowed down (a busy member)
 * never catches up in a burst.
 */
import { sleep, type Clock } from '../../clock.ts';

export class BytePacer {
  readonly #clock: Clock;
  readonly #bytesPerSecond: number;
  /** When the next page may begin. */
  #nextMs: number;
  #bytes = 0;

  constructor(clock: Clock, bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) throw new Error(`bad byte rate ${bytesPerSecond}`);
    this.#clock = clock;
    this.#bytesPerSecond = bytesPerSecond;
    this.#nextMs = clock.now();
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Counts a page of `bytes` and waits until the rate allows the next one. */
  async consume(bytes: number, signal?: AbortSignal): Promise<void> {
    this.#bytes += bytes;
    const now = this.#clock.now();
    this.#nextMs = Math.max(this.#nextMs, now) + (bytes / this.#bytesPerSecond) * 1000;
    const waitMs = this.#nextMs - now;
    if (waitMs > 0) await sleep(this.#clock, waitMs, signal);
  }
}

/**
 * Keys to ask for in the next page so that a page holds about
 * `targetPageBytes`: from the average size of the keys read so far, between
 * 1 and `maxKeys`. One page of large objects never holds many of them.
 */
export function nextPageKeys(
  bytesSoFar: number,
  keysSoFar: number,
  targetPageBytes: number,
  maxKeys: number,
): number {
  if (keysSoFar === 0 || bytesSoFar === 0) return Math.min(maxKeys, 16);
  const average = bytesSoFar / keysSoFar;
  return Math.max(1, Math.min(maxKeys, Math.floor(targetPageBytes / average)));
}
