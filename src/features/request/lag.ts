/**
 * How far the watch trails the cluster, in revisions and (estimated) in
 * seconds. The cluster revision comes from what the monitor sees: watch
 * response headers, the leader's Status (sampled by the rounds) and the
 * members' Status from discovery. The time estimate is the larger of the age
 * of the oldest observed revision not processed yet (a lower bound: a
 * revision is only known once reported) and the lag in revisions divided by
 * the cluster's recent revision rate (the time the cluster took to write
 * them).
 */
const MAX_OBSERVATIONS = 4096;

export interface Lag {
  /** Cluster revision minus the last processed revision (0 when caught up). */
  readonly revisions: bigint;
  readonly seconds: number;
  readonly clusterRevision: bigint;
}

/** Cluster samples closer together than this give no rate (too noisy). */
const MIN_RATE_INTERVAL_MS = 500;

export class LagEstimator {
  /** Increasing revisions with the time each was first seen; a queue read from #head. */
  #revs: bigint[] = [];
  #times: number[] = [];
  #head = 0;
  #clusterRevision = 0n;
  #lastSample: { revision: bigint; at: number } | undefined;
  /** Cluster revisions per millisecond, between the last two cluster samples. */
  #rate = 0;

  get clusterRevision(): bigint {
    return this.#clusterRevision;
  }

  /** The cluster was at `revision` at time `now` (ms, monotonic clock). */
  observe(revision: bigint, now: number): void {
    if (revision <= this.#clusterRevision) return;
    this.#clusterRevision = revision;
    // When full, the newest observation absorbs the new revision (keeping its
    // older time): the estimate stays an upper bound for those revisions and
    // memory stays bounded; the oldest one, which the estimate reads, is kept.
    if (this.#revs.length - this.#head >= MAX_OBSERVATIONS) {
      this.#revs[this.#revs.length - 1] = revision;
      return;
    }
    this.#revs.push(revision);
    this.#times.push(now);
  }

  /**
   * A sample of the cluster's revision itself (the leader's Status), as
   * opposed to what the watch sees: also gives the revision rate, which
   * turns a lag in revisions into seconds when the watch delivers in step
   * with its member but the member (or the watch) trails the leader.
   */
  sampleCluster(revision: bigint, now: number): void {
    this.observe(revision, now);
    const last = this.#lastSample;
    if (last !== undefined && now - last.at < MIN_RATE_INTERVAL_MS) return;
    if (last !== undefined && revision >= last.revision)
      this.#rate = Number(revision - last.revision) / (now - last.at);
    this.#lastSample = { revision, at: now };
  }

  /** Forgets observations at or below the processed revision (cheap; call after each response). */
  prune(processed: bigint): void {
    while (this.#head < this.#revs.length && this.#revs[this.#head]! <= processed) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#revs.length) {
      this.#revs = this.#revs.slice(this.#head);
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
  }

  lag(processed: bigint, now: number): Lag {
    this.prune(processed);
    const revisions = this.#clusterRevision > processed ? this.#clusterRevision - processed : 0n;
    const oldest = this.#head < this.#times.length ? this.#times[this.#head]! : undefined;
    const age = revisions > 0n && oldest !== undefined ? Math.max(0, now - oldest) / 1000 : 0;
    const byRate = revisions > 0n && this.#rate > 0 ? Number(revisions) / this.#rate / 1000 : 0;
    return { revisions, seconds: Math.max(age, byRate), clusterRevision: this.#clusterRevision };
  }
}
