/**
 * A work queue with client-go's semantics (k8s.io/client-go/util/workqueue:
 * queue.go, delaying_queue.go, rate_limiting_queue.go):
 *
 * - an item is queued once however often it is added while it waits (`dirty`);
 * - an item being processed (handed out by get(), not yet done()) is never
 *   handed out again; added meanwhile, it is queued again at done();
 * - addAfter() keeps delayed items in a min-heap behind one timer, an item
 *   waiting twice keeps the earliest time;
 * - addRateLimited() = addAfter(item, limiter.when(item)); forget() and
 *   numRequeues() go to the limiter.
 *
 * One deliberate difference: after shutDown() / shutDownWithDrain(), get()
 * resolves with `{ shutdown: true }` at once, even if items are still queued
 * (client-go hands those out first). A controller that lost its lease must
 * stop acting at once, and whatever it leaves is resynced by the next leader.
 *
 * Items are compared like Map keys (SameValueZero): use strings ("ns/name").
 */
import { realClock, type Clock, type Timer } from '../clock.ts';
import { defaultControllerRateLimiter, type RateLimiter } from './ratelimit.ts';

export type GetResult<T> = { readonly shutdown: false; readonly item: T } | { readonly shutdown: true };

/** client-go's TypedInterface. */
export interface Queue<T> {
  /** Queues the item unless it is already waiting; ignored after shutdown. */
  add(item: T): void;
  /** Items waiting to be handed out (not counting those being processed or delayed). */
  len(): number;
  /** The next item, marked as processing; or `{ shutdown: true }` once the queue is shut down. */
  get(): Promise<GetResult<T>>;
  /** Processing of the item finished; if it was added meanwhile it is queued again. */
  done(item: T): void;
  /** Stops the queue: queued and delayed items are dropped, waiting get() calls resolve with shutdown. */
  shutDown(): void;
  /**
   * shutDown(), then waits until every item being processed is done().
   * Resolves true once drained, false if the signal aborted first.
   */
  shutDownWithDrain(signal?: AbortSignal): Promise<boolean>;
  shuttingDown(): boolean;
}

/** client-go's TypedDelayingInterface. */
export interface DelayingQueue<T> extends Queue<T> {
  /** Adds the item after ms milliseconds (at once if ms <= 0). */
  addAfter(item: T, ms: number): void;
}

/** client-go's TypedRateLimitingInterface. */
export interface RateLimitingQueue<T> extends DelayingQueue<T> {
  /** Adds the item after the rate limiter says it may be retried. */
  addRateLimited(item: T): void;
  /** Clears the item's retry history (call it when the item succeeded or is given up). */
  forget(item: T): void;
  /** How many times the item has been rate-limited since it was last forgotten. */
  numRequeues(item: T): number;
}

export interface WorkQueueOptions<T> {
  /** Defaults to defaultControllerRateLimiter(clock). */
  readonly rateLimiter?: RateLimiter<T>;
  readonly clock?: Clock;
}

interface Waiting<T> {
  readonly item: T;
  readyAt: number;
  index: number;
}

/** A FIFO with amortised O(1) push and shift. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head] as T;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

export class WorkQueue<T = string> implements RateLimitingQueue<T> {
  readonly #clock: Clock;
  readonly #limiter: RateLimiter<T>;
  readonly #queue = new Fifo<T>();
  /** Items that need processing: queued, or added again while processing. */
  readonly #dirty = new Set<T>();
  readonly #processing = new Set<T>();
  readonly #getters: ((r: GetResult<T>) => void)[] = [];
  readonly #drainers: (() => void)[] = [];
  #shuttingDown = false;

  // Delayed items: a binary min-heap on readyAt, one timer for its head.
  #heap: Waiting<T>[] = [];
  readonly #waiting = new Map<T, Waiting<T>>();
  #timer: Timer | undefined;
  #timerAt = Infinity;

  constructor(opts: WorkQueueOptions<T> = {}) {
    this.#clock = opts.clock ?? realClock;
    this.#limiter = opts.rateLimiter ?? defaultControllerRateLimiter<T>(this.#clock);
  }

  add(item: T): void {
    if (this.#shuttingDown) return;
    if (this.#dirty.has(item)) return;
    this.#dirty.add(item);
    if (this.#processing.has(item)) return;
    this.#enqueue(item);
  }

  len(): number {
    return this.#queue.length;
  }

  get(): Promise<GetResult<T>> {
    if (this.#shuttingDown) return Promise.resolve({ shutdown: true });
    if (this.#queue.length > 0) return Promise.resolve(this.#handOut(this.#queue.shift() as T));
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  done(item: T): void {
    if (!this.#processing.delete(item)) return;
    if (!this.#shuttingDown && this.#dirty.has(item)) this.#enqueue(item);
    if (this.#processing.size === 0) this.#wakeDrainers();
  }

  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#queue.clear();
    // Items being processed stay in #processing until done(); nothing else waits.
    for (const item of this.#dirty) if (!this.#processing.has(item)) this.#dirty.delete(item);
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#heap = [];
    this.#waiting.clear();
    for (const resolve of this.#getters.splice(0)) resolve({ shutdown: true });
    if (this.#processing.size === 0) this.#wakeDrainers();
  }

  async shutDownWithDrain(signal?: AbortSignal): Promise<boolean> {
    this.shutDown();
    if (this.#processing.size === 0) return true;
    if (signal?.aborted === true) return false;
    return new Promise<boolean>((resolve) => {
      const onAbort = (): void => {
        const i = this.#drainers.indexOf(drained);
        if (i >= 0) this.#drainers.splice(i, 1);
        resolve(false);
      };
      const drained = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#drainers.push(drained);
    });
  }

  shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Items handed out by get() and not yet done(). */
  processingCount(): number {
    return this.#processing.size;
  }

  /** Items waiting for their addAfter() time. */
  delayedCount(): number {
    return this.#heap.length;
  }

  addAfter(item: T, ms: number): void {
    if (this.#shuttingDown) return;
    if (!(ms > 0)) {
      this.add(item);
      return;
    }
    const readyAt = this.#clock.now() + ms;
    const existing = this.#waiting.get(item);
    if (existing !== undefined) {
      if (readyAt < existing.readyAt) {
        existing.readyAt = readyAt;
        this.#siftUp(existing.index);
      }
    } else {
      const entry: Waiting<T> = { item, readyAt, index: this.#heap.length };
      this.#heap.push(entry);
      this.#waiting.set(item, entry);
      this.#siftUp(entry.index);
    }
    this.#armTimer();
  }

  addRateLimited(item: T): void {
    this.addAfter(item, this.#limiter.when(item));
  }

  forget(item: T): void {
    this.#limiter.forget(item);
  }

  numRequeues(item: T): number {
    return this.#limiter.numRequeues(item);
  }

  #enqueue(item: T): void {
    const getter = this.#getters.shift();
    if (getter !== undefined) getter(this.#handOut(item));
    else this.#queue.push(item);
  }

  #handOut(item: T): GetResult<T> {
    this.#processing.add(item);
    this.#dirty.delete(item);
    return { shutdown: false, item };
  }

  #wakeDrainers(): void {
    for (const resolve of this.#drainers.splice(0)) resolve();
  }

  // --- the delayed heap

  #armTimer(): void {
    const head = this.#heap[0];
    if (head === undefined) {
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    if (this.#timer !== undefined && this.#timerAt <= head.readyAt) return;
    this.#timer?.cancel();
    this.#timerAt = head.readyAt;
    this.#timer = this.#clock.after(head.readyAt - this.#clock.now(), () => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#fireDue();
    });
  }

  #fireDue(): void {
    const now = this.#clock.now();
    for (;;) {
      const head = this.#heap[0];
      if (head === undefined || head.readyAt > now) break;
      this.#popHead();
      this.#waiting.delete(head.item);
      this.add(head.item);
    }
    this.#armTimer();
  }

  #popHead(): void {
    const last = this.#heap.pop() as Waiting<T>;
    if (this.#heap.length === 0) return;
    this.#heap[0] = last;
    last.index = 0;
    this.#siftDown(0);
  }

  #swap(i: number, j: number): void {
    const a = this.#heap[i] as Waiting<T>;
    const b = this.#heap[j] as Waiting<T>;
    this.#heap[i] = b;
    this.#heap[j] = a;
    b.index = i;
    a.index = j;
  }

  #siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.#heap[parent] as Waiting<T>).readyAt <= (this.#heap[i] as Waiting<T>).readyAt) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #siftDown(i: number): void {
    const n = this.#heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < n && (this.#heap[l] as Waiting<T>).readyAt < (this.#heap[min] as Waiting<T>).readyAt) min = l;
      if (r < n && (this.#heap[r] as Waiting<T>).readyAt < (this.#heap[min] as Waiting<T>).readyAt) min = r;
      if (min === i) return;
      this.#swap(i, min);
      i = min;
    }
  }
}
