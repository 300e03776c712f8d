/**
 * The counting state of one watched prefix, free of I/O: a key count per
 * label at one revision, moved forward by watch events and progress
 * notifications, replaced by a re-count when the resume revision was
 * compacted. The session (request.ts) feeds it from etcd.
 */
import { prefixEnd, type WatchEvent } from '../../etcd/types.ts';
import type { LabelSlot, ResourceLabeler } from './labels.ts';
import { SizeState, storedBytes } from './sizes.ts';

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
  /** Bytes (key + value) read so far, when sizes are kept. */
  bytes = 0;
  /** Built alongside the counts when the tracker keeps sizes (values read, only sizes kept). */
  readonly sizes: SizeState | undefined;
  readonly #tracker: PrefixTracker;

  constructor(tracker: PrefixTracker, sizes: SizeState | undefined) {
    this.#tracker = tracker;
    this.sizes = sizes;
  }

  /** Adds one page with values (a sizes scan): counts and sizes; the values are not kept. */
  addKeyValues(
    headerRevision: bigint,
    kvs: Iterable<{ readonly key: Buffer; readonly value: Buffer }>,
  ): void {
    this.revision ??= headerRevision;
    for (const kv of kvs) {
      const slot = this.#tracker.slotOf(kv.key);
      this.counts.set(slot, (this.counts.get(slot) ?? 0) + 1);
      this.keys++;
      this.bytes += storedBytes(kv.key, kv.value);
      this.sizes?.add(slot, kv.key, kv.value);
    }
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

/**
 * 'rescan': the sizes need a new scan (the kept largest keys ran out, or an
 * event lacked its previous value); the scan is pinned to the revision
 * already processed, so no event is lost or counted twice.
 */
export type TrackerPhase = 'uncounted' | 'counted' | 'compacted' | 'rescan';

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
  /** undefined: sizes not kept (keys-only counts). */
  readonly #topKeys: number | undefined;
  #sizes: SizeState | undefined;
  #rescans = 0;

  /** `topKeys`: keep keyspace sizes, with this many largest keys; undefined: counts only. */
  constructor(prefix: string, labeler: ResourceLabeler, topKeys?: number) {
    this.#topKeys = topKeys;
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

  /** Whether this tracker keeps sizes (its scans read values). */
  get keepsSizes(): boolean {
    return this.#topKeys !== undefined;
  }

  /** The sizes exact at processedRevision; undefined before the first scan or when not kept. */
  get sizes(): SizeState | undefined {
    return this.#sizes;
  }

  /** Scans that were re-runs for the sizes alone (phase 'rescan'). */
  get sizeRescans(): number {
    return this.#rescans;
  }

  /**
   * The revision the next count must be pinned to: a sizes re-scan reads at
   * the revision already processed (the watch then resumes right after it);
   * a first count or one after compaction reads the latest (undefined).
   */
  get countAt(): bigint | undefined {
    return this.#phase === 'rescan' ? this.#keyRevision : undefined;
  }

  /** Whether the sizes no longer answer exactly (see SizeState.complete). */
  get sizesIncomplete(): boolean {
    return this.#sizes !== undefined && !this.#sizes.complete(this.#keys);
  }

  /** Asks for a sizes re-scan at the processed revision; the watch of this prefix ends and resumes after it. */
  requestRescan(): void {
    if (this.#phase === 'counted') this.#phase = 'rescan';
  }

  beginCount(): KeyCount {
    return new KeyCount(this, this.#topKeys === undefined ? undefined : new SizeState(this.#topKeys));
  }

  /** Replaces the key counts with a completed count; the watch then resumes at its revision + 1. */
  finishCount(count: KeyCount): CountResult {
    if (count.revision === undefined) throw new Error(`count of ${this.prefix} saw no page`);
    if (this.#phase === 'rescan') {
      if (count.revision === this.#keyRevision) {
        // Same revision as processed: only the sizes are new (the counts agree by construction).
        this.#keys = count.counts;
        this.#sizes = count.sizes;
        this.#countRevision = count.revision;
        this.#phase = 'counted';
        this.#rescans++;
        return { revision: count.revision, keys: count.keys, recount: false, gapRevisions: 0n };
      }
      // The pinned revision was compacted and the scan read the latest: a re-count like after compaction.
      this.#phase = 'compacted';
    }
    const recount = this.#phase !== 'uncounted';
    const gapRevisions =
      recount && count.revision > this.#keyRevision ? count.revision - this.#keyRevision : 0n;
    this.#keys = count.counts;
    this.#sizes = count.sizes;
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
      const sizes = this.#sizes;
      if (ev.type === 'PUT') {
        // A PUT creates a key when it is the key's first version (create == mod revision).
        const created = ev.kv.createRevision === rev;
        if (created) this.#keys.set(slot, (this.#keys.get(slot) ?? 0) + 1);
        sizes?.put(slot, ev.kv.key, ev.kv.value, created ? undefined : (ev.prevKv?.value ?? null));
      } else {
        // etcd emits DELETE only for a key that existed; every existing key is in the count.
        const n = this.#keys.get(slot) ?? 0;
        this.#keys.set(slot, n > 0 ? n - 1 : 0);
        sizes?.delete(slot, ev.kv.key, ev.prevKv?.value ?? null);
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
