import type { InspectionOutcome, MemberSnapshot, StorageBackend } from './contract.ts';

export type { MemberRole, MemberSnapshot } from './contract.ts';

export interface MembersSnapshot {
  readonly checkedAt: Date;
  readonly clusterId?: bigint;
  readonly leaderId?: bigint;
  readonly members: readonly MemberSnapshot[];
  /** Set when membership itself could not be read (no member answered). */
  readonly error?: string;
}

/** One round of a feature: its outcome and when it ran. */
export interface FeatureRun extends InspectionOutcome {
  readonly startedAt: Date;
  readonly durationMs: number;
}

export interface FeatureSnapshot {
  readonly name: string;
  readonly intervalSeconds: number;
  readonly runs: number;
  /** Monotonic for the life of this cluster+feature in this process. */
  readonly failures: number;
  /** Failed rounds in a row up to the last one (0 after a success): "failing repeatedly" whatever the interval. */
  readonly consecutiveFailures: number;
  readonly last?: FeatureRun;
}

export interface ClusterSnapshot {
  readonly id: string;
  readonly name: string;
  /** The cluster's labels (ClusterIdentity.labels). */
  readonly labels: Readonly<Record<string, string>>;
  readonly endpoints: readonly string[];
  readonly storageBackend: StorageBackend;
  /** Why the engine runs nothing for this spec (e.g. no endpoints), or a feature that could not start. */
  readonly configErrors: readonly string[];
  readonly members?: MembersSnapshot;
  readonly features: Readonly<Record<string, FeatureSnapshot>>;
}

export type SnapshotListener = (id: string, snapshot: ClusterSnapshot | undefined) => void;

/**
 * The one place results go. Snapshots are immutable: an update replaces the
 * cluster's object, so readers (scrapes, API, CR status) always see a
 * consistent view without locks, and a removed cluster is simply gone.
 */
export class SnapshotStore {
  readonly #clusters = new Map<string, ClusterSnapshot>();
  readonly #listeners = new Set<SnapshotListener>();

  get(id: string): ClusterSnapshot | undefined {
    return this.#clusters.get(id);
  }

  list(): ClusterSnapshot[] {
    return [...this.#clusters.values()];
  }

  get size(): number {
    return this.#clusters.size;
  }

  set(snapshot: ClusterSnapshot): void {
    this.#clusters.set(snapshot.id, snapshot);
    this.#emit(snapshot.id, snapshot);
  }

  /** Applies fn to the current snapshot; a no-op when the cluster is gone (late results of a removed cluster are dropped). */
  update(id: string, fn: (current: ClusterSnapshot) => ClusterSnapshot): void {
    const current = this.#clusters.get(id);
    if (current === undefined) return;
    this.set(fn(current));
  }

  delete(id: string): void {
    if (this.#clusters.delete(id)) this.#emit(id, undefined);
  }

  subscribe(listener: SnapshotListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(id: string, snapshot: ClusterSnapshot | undefined): void {
    for (const listener of this.#listeners) listener(id, snapshot);
  }
}
