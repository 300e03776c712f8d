/**
 * Keyspace sizes of one watched prefix, free of I/O: bytes (key + value, as
 * stored) per resource, the largest objects per resource and the top N
 * largest keys, built from one scan at a pinned revision and kept exact from
 * the watch's events (their values, and with prev_kv the previous values).
 *
 * Memory is O(resources + N), whatever the keyspace: no per-key state.
 * Totals are exact from events. The largest keys are not always: when a top
 * key is deleted or shrinks, the key that now ranks next may be one the
 * state never kept. TopSizes keeps a reserve (twice N globally, a few per
 * resource) and a bound (no key outside the kept set is larger), so the
 * ranking stays exact as long as the kept set is not exhausted; once it is,
 * the state says so (`complete` false) and the session re-scans.
 */
import type { LabelSlot } from './labels.ts';

/** Largest objects kept per resource: the largest is exact until this many of them have shrunk or gone. */
export const LARGEST_PER_RESOURCE = 4;

export interface SizedKey {
  readonly key: string;
  readonly bytes: number;
}

/**
 * The largest keys of a set, at most `capacity` of them, and a bound: every
 * key of the set not kept is at most `bound` bytes, and every kept key is at
 * least `bound` bytes. So the kept keys are exactly the largest ones.
 */
export class TopSizes {
  readonly capacity: number;
  readonly #kept = new Map<string, number>();
  #bound = 0;

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`bad capacity ${capacity}`);
    this.capacity = capacity;
  }

  /** Upper bound of the keys not kept (0: none was ever left out). */
  get bound(): number {
    return this.#bound;
  }

  get size(): number {
    return this.#kept.size;
  }

  /** The key now has `bytes` bytes (created, updated, or seen by a scan). */
  set(key: string, bytes: number): void {
    if (this.#kept.has(key)) {
      if (bytes >= this.#bound) {
        this.#kept.set(key, bytes);
        return;
      }
      // Shrunk below the bound: another key not kept may now be larger; it leaves the kept set.
      this.#kept.delete(key);
      this.#bound = Math.max(this.#bound, bytes);
      return;
    }
    if (bytes < this.#bound || (bytes === this.#bound && this.#kept.size >= this.capacity)) return;
    this.#kept.set(key, bytes);
    if (this.#kept.size > this.capacity) {
      const [smallestKey, smallest] = this.#smallest();
      this.#kept.delete(smallestKey);
      this.#bound = Math.max(this.#bound, smallest);
    }
  }

  delete(key: string): void {
    this.#kept.delete(key);
  }

  /** The kept keys, largest first (ties by key), at most n. */
  largest(n: number): SizedKey[] {
    return [...this.#kept]
      .map(([key, bytes]) => ({ key, bytes }))
      .sort((a, b) => b.bytes - a.bytes || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, n);
  }

  /** Whether the n largest of a set of `keys` keys are all kept (so largest(n) is exact). */
  exactFor(n: number, keys: number): boolean {
    return this.#kept.size >= Math.min(n, keys);
  }

  #smallest(): [string, number] {
    let found: [string, number] | undefined;
    for (const entry of this.#kept) if (found === undefined || entry[1] < found[1]) found = entry;
    return found!;
  }
}

/** The bytes a key takes as stored: its key and its value. */
export function storedBytes(key: Buffer, value: Buffer): number {
  return key.length + value.length;
}

export interface ResourceSizes {
  readonly bytes: number;
  /** undefined when unknown (every kept large object of the resource went; a re-scan tells). */
  readonly largest: SizedKey | undefined;
}

export class SizeState {
  readonly topKeys: number;
  readonly #bytes = new Map<LabelSlot, number>();
  readonly #largest = new Map<LabelSlot, TopSizes>();
  readonly #top: TopSizes;
  /** An event lacked the previous value it needed (prev_kv): the totals are no longer exact. */
  #inexact = false;

  constructor(topKeys: number) {
    this.topKeys = topKeys;
    // A reserve of N more: N deletes or shrinks of top keys before the ranking runs out.
    this.#top = new TopSizes(topKeys * 2);
  }

  /** A key seen by the scan (each key once). */
  add(slot: LabelSlot, key: Buffer, value: Buffer): void {
    const bytes = storedBytes(key, value);
    this.#bytes.set(slot, (this.#bytes.get(slot) ?? 0) + bytes);
    const name = key.toString('latin1');
    this.#top.set(name, bytes);
    this.#largestOf(slot).set(name, bytes);
  }

  /**
   * A PUT: `previous` is the key's previous value (prev_kv), undefined for a
   * key this PUT created, null when the event lacked it (sizes inexact).
   */
  put(slot: LabelSlot, key: Buffer, value: Buffer, previous: Buffer | undefined | null): void {
    const bytes = storedBytes(key, value);
    if (previous === null) this.#inexact = true;
    const before = previous === undefined || previous === null ? 0 : storedBytes(key, previous);
    this.#bytes.set(slot, Math.max(0, (this.#bytes.get(slot) ?? 0) + bytes - before));
    const name = key.toString('latin1');
    this.#top.set(name, bytes);
    this.#largestOf(slot).set(name, bytes);
  }

  /** A DELETE: `previous` as for put (null when missing). */
  delete(slot: LabelSlot, key: Buffer, previous: Buffer | null): void {
    if (previous === null) this.#inexact = true;
    else this.#bytes.set(slot, Math.max(0, (this.#bytes.get(slot) ?? 0) - storedBytes(key, previous)));
    const name = key.toString('latin1');
    this.#top.delete(name);
    this.#largest.get(slot)?.delete(name);
  }

  get inexact(): boolean {
    return this.#inexact;
  }

  bytesOf(slot: LabelSlot): number {
    return this.#bytes.get(slot) ?? 0;
  }

  /** The resource's sizes; `keys` is its key count (to tell a known largest from an exhausted one). */
  resource(slot: LabelSlot, keys: number): ResourceSizes {
    const top = this.#largest.get(slot);
    const exact = top !== undefined && top.exactFor(1, keys);
    return { bytes: this.bytesOf(slot), largest: exact && keys > 0 ? top.largest(1)[0] : undefined };
  }

  /** The n largest keys kept (n <= topKeys), and whether they are exactly the n largest of `keys` keys. */
  largest(n: number, keys: number): { keys: SizedKey[]; exact: boolean } {
    return { keys: this.#top.largest(n), exact: this.#top.exactFor(n, keys) };
  }

  /**
   * Whether the state still answers everything exactly: totals (no event
   * lacked its previous value), the top N, and every resource's largest.
   */
  complete(keyCounts: ReadonlyMap<LabelSlot, number>): boolean {
    if (this.#inexact) return false;
    let keys = 0;
    for (const [slot, n] of keyCounts) {
      keys += n;
      if (n > 0 && !(this.#largest.get(slot)?.exactFor(1, n) ?? false)) return false;
    }
    return this.#top.exactFor(this.topKeys, keys);
  }

  #largestOf(slot: LabelSlot): TopSizes {
    let top = this.#largest.get(slot);
    if (top === undefined) {
      top = new TopSizes(LARGEST_PER_RESOURCE);
      this.#largest.set(slot, top);
    }
    return top;
  }
}
