/**
 * The counting state of one watched prefix, free of I/O: a key count per
 * label at one revision, moved forward by watch events and progress
 * notifications, replaced by a re-count when the resume revision was
 * compacted. The session (request.ts) feeds it from etcd.
 */
import { prefixEnd, type WatchEvent } from '../../etcd/types.ts';
import type { LabelSlot, ResourceLabeler } from './labels.ts';

/** Request counters of a session: monotonic for its whole life, all prefixes together. */
export class RequestCounters {
  readonly puts = new Map<LabelSlot, number>();
  readonly deletes = new Map<LabelSlot, number>();
  /** Events counted in puts/deletes. */
  eventsProcessed = 0;
  /** Events delivered again for a revision already counted (never counted twice). */
  duplicatesSkipped = 0;
}

/** A key count being built from range pages at one pinned revision; discarded if the walk fails. */
export class KeyCount {
  readonly counts = new Map<LabelSlot, number>();
  /** The revision the count is exact at: the first page's. */
  revision: bigint | undefined;
  keys = 0;
  readonly #tracker: PrefixTracker;

  constructor(tracker: PrefixTracker) {
    this.#tracker = tracker;
  }

  /** Adds one page of a range pinned to one revision (the first page's header revision is that revision). */
  addPage(headerRevision: bigint, keys: Iterable<Buffer>): void {
    this.revision ??= headerRevision;
    for (const key of keys) {
      const slot = this.#tracker.slotOf(key);
      this.counts.set(slot, (this.counts.get(slot) ?? 0) + 1);
      this.keys++;
    }
  }
}

export interface CountResult {
  readonly revision: bigint;
  readonly keys: number;
  /** true when this count replaced an earlier one (after compaction). */
  readonly recount: boolean;
  /** Revisions whose events are unknowable (compacted before the watch saw them); 0 for the first count. */
  readonly gapRevisions: bigint;
}

export type TrackerPhase = 'uncounted' | 'counted' | 'compacted';

export class PrefixTracker {
  /** As configured, normalised to end with '/'. */
  readonly prefix: string;
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
  /** First segment of the prefix: the etcdPrefix label. */
  readonly etcdPrefix: string;
  readonly #offset: number;
  readonly #labeler: ResourceLabeler;
  #keys = new Map<LabelSlot, number>();
  #phase: TrackerPhase = 'uncounted';
  /** The revision #keys is exact at: every event up to it is applied. 0 before the first count. */
  #keyRevision = 0n;
  /** Events up to this revision are in the request counters (never counted again). */
  #requestRevision = 0n;
  #countRevision = 0n;
  #compactRevision = 0n;

  constructor(prefix: string, labeler: ResourceLabeler) {
    this.prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
    const first = this.prefix.split('/').find((s) => s !== '');
    if (!this.prefix.startsWith('/') || first === undefined)
      throw new Error(`prefix "${prefix}" must start with "/" and name a first segment`);
    this.etcdPrefix = first;
    this.key = Buffer.from(this.prefix);
    this.rangeEnd = prefixEnd(this.key);
    this.#offset = Buffer.byteLength(`/${first}/`);
    this.#labeler = labeler;
  }

  get phase(): TrackerPhase {
    return this.#phase;
  }

  /** A count exists (it may be a stale one while a re-count runs). */
  get counted(): boolean {
    return this.#phase !== 'uncounted';
  }

  /** The next step must be a (re-)count. */
  get needsCount(): boolean {
    return this.#phase !== 'counted';
  }

  /** The revision the key counts are exact at. */
  get processedRevision(): bigint {
    return this.#keyRevision;
  }

  get countRevision(): bigint {
    return this.#countRevision;
  }

  get compactRevision(): bigint {
    return this.#compactRevision;
  }

  /** Where the watch resumes: the last revision processed (events and progress) + 1. */
  resumeRevision(): bigint {
    return this.#keyRevision + 1n;
  }

  slotOf(key: Buffer): LabelSlot {
    return this.#labeler.slotFor(this.etcdPrefix, key, this.#offset);
  }

  keyCounts(): ReadonlyMap<LabelSlot, number> {
    return this.#keys;
  }

  totalKeys(): number {
    let n = 0;
    for (const v of this.#keys.values()) n += v;
    return n;
  }

  beginCount(): KeyCount {
    return new KeyCount(this);
  }

  /** Replaces the key counts with a completed count; the watch then resumes at its revision + 1. */
  finishCount(count: KeyCount): CountResult {
    if (count.revision === undefined) throw new Error(`count of ${this.prefix} saw no page`);
    const recount = this.#phase !== 'uncounted';
    const gapRevisions =
      recount && count.revision > this.#keyRevision ? count.revision - this.#keyRevision : 0n;
    this.#keys = count.counts;
    this.#keyRevision = count.revision;
    this.#countRevision = count.revision;
    // Events in the compacted gap are unknowable; events at or before the
    // count revision are never counted again.
    if (count.revision > this.#requestRevision) this.#requestRevision = count.revision;
    this.#phase = 'counted';
    return { revision: count.revision, keys: count.keys, recount, gapRevisions };
  }

  /**
   * Applies the events of one watch response. Events at or below the
   * revision already processed are skipped (a resumed or replayed stream
   * never counts an event twice); the revision moves to the highest event
   * once the whole response is applied (a transaction's events share one
   * revision and arrive in one response). Returns the events applied.
   */
  applyEvents(events: readonly WatchEvent[], counters: RequestCounters): number {
    if (this.#phase === 'uncounted') throw new Error(`events for ${this.prefix} before its first count`);
    const keyFloor = this.#keyRevision;
    const requestFloor = this.#requestRevision;
    let highest = keyFloor;
    let applied = 0;
    for (const ev of events) {
      const rev = ev.kv.modRevision;
      if (rev <= keyFloor) {
        counters.duplicatesSkipped++;
        continue;
      }
      if (rev > highest) highest = rev;
      const slot = this.slotOf(ev.kv.key);
      if (ev.type === 'PUT') {
        // A PUT creates a key when it is the key's first version (create == mod revision).
        if (ev.kv.createRevision === rev) this.#keys.set(slot, (this.#keys.get(slot) ?? 0) + 1);
      } else {
        // etcd emits DELETE only for a key that existed; every existing key is in the count.
        const n = this.#keys.get(slot) ?? 0;
        this.#keys.set(slot, n > 0 ? n - 1 : 0);
      }
      applied++;
      if (rev > requestFloor) {
        const map = ev.type === 'PUT' ? counters.puts : counters.deletes;
        map.set(slot, (map.get(slot) ?? 0) + 1);
        counters.eventsProcessed++;
      } else {
        counters.duplicatesSkipped++;
      }
    }
    this.#keyRevision = highest;
    if (highest > this.#requestRevision) this.#requestRevision = highest;
    return applied;
  }

  /** A progress notification: nothing under the prefix changed up to `revision`. */
  onProgress(revision: bigint): void {
    if (this.#phase !== 'counted') return;
    if (revision > this.#keyRevision) this.#keyRevision = revision;
    if (revision > this.#requestRevision) this.#requestRevision = revision;
  }

  /** The resume revision has been compacted: the next step is a re-count; the current counts stay until it completes. */
  onCompacted(compactRevision: bigint): void {
    if (this.#phase === 'uncounted') return;
    this.#phase = 'compacted';
    this.#compactRevision = compactRevision;
  }
}
