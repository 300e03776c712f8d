/**
 * The EtcdCluster controller. For each EtcdCluster:
 *   - a finalizer (etcdmonitor.dev/cleanup), so deleting the object first
 *     releases what it holds: its EtcdInspections (deleted explicitly; no
 *     garbage collector is assumed) and the engine's state;
 *   - validation (schema, endpoints, features and their options, Secrets):
 *     an invalid object gets phase Invalid, Ready=False/InvalidSpec and a
 *     Warning Event, and is not retried until it or a Secret changes;
 *   - the cluster's provider sets it up (imported: the engine reads its
 *     membership: MemberList and every member's Status, no features);
 *   - one EtcdInspection `<cluster>-<feature>` per enabled feature, owned by
 *     the cluster; those of disabled features are deleted;
 *   - .status from the membership read and the inspections' statuses,
 *     written through the status subresource only when it changed.
 * Handlers only enqueue keys; everything happens in sync(key).
 */
import type { Engine } from '../../engine/engine.ts';
import { WHOLE, type Shard } from '../../engine/shard.ts';
import type { SnapshotStore } from '../../engine/snapshot.ts';
import { membersIntervalSeconds } from '../../engine/cluster-spec.ts';
import type { FeatureRegistry } from '../../features/registry.ts';
import {
  objectKey,
  splitObjectKey,
  type EtcdCluster,
  type EtcdInspection,
  type Problem,
  type Validated,
  type ValidEtcdCluster,
} from '../../k8s/api/index.ts';
import { formatProblems } from '../../k8s/api/index.ts';
import { isAlreadyExists, isNotFound, type Clients, type DeepReadonly } from '../../k8s/client/index.ts';
import type { EventRecorder } from '../../k8s/events.ts';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { ClusterProvider, ProviderCluster, ProviderRegistry } from '../../providers/index.ts';
import {
  INSPECTIONS_BY_OWNER,
  onChange,
  onSecretChange,
  onSnapshotChange,
  ownerKey,
  type SharedInformers,
} from '../informers.ts';
import { Adoptions, moved } from '../adoption.ts';
import { Controller } from '../runner.ts';
import { featureInterval, SpecCache, type ClientTimeouts } from '../spec.ts';
import {
  controlledBy,
  desiredInspections,
  newInspection,
  planInspections,
  type InspectionAction,
} from './inspections.ts';
import { awaitsFirstRead, invalidStatus, needsWrite, runningStatus, transitionEvents } from './status.ts';

export const FINALIZER = 'etcdmonitor.dev/cleanup';

/**
 * The refresh period of one object: the base period plus up to half of it,
 * fixed per object, so clusters created together do not all refresh in the
 * same minute.
 */
export function spreadPeriod(baseMs: number, id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return baseMs * (1 + (h % 1000) / 2000);
}

function key(cluster: DeepReadonly<EtcdCluster>): string {
  return objectKey(cluster.metadata);
}

/** The resourceVersion precondition of a merge patch: it applies only to the version we read, else 409. */
function unchangedSince(obj: DeepReadonly<EtcdCluster>): { resourceVersion?: string } {
  return obj.metadata.resourceVersion !== undefined ? { resourceVersion: obj.metadata.resourceVersion } : {};
}

/** A status that only differs by lastInspectionTime is written at most this often. */
export const DEFAULT_STATUS_REFRESH_MS = 5 * 60_000;

export interface EtcdClusterControllerOptions {
  readonly clients: Pick<Clients, 'etcdClusters' | 'etcdInspections'>;
  readonly informers: SharedInformers;
  /** An engine of its own: membership only, never exported on /metrics. */
  readonly engine: Engine;
  readonly store: SnapshotStore;
  readonly features: FeatureRegistry;
  readonly providers: ProviderRegistry;
  readonly recorder: EventRecorder;
  readonly logger: Logger;
  readonly workers: number;
  readonly timeouts?: ClientTimeouts;
  readonly statusRefreshMs?: number;
  readonly now?: () => Date;
  /** The clusters this replica acts for (sharding); default all. */
  readonly shard?: Shard;
}

/** What of a cluster matters to this controller: anything but status (our own writes) and resourceVersion. */
function specAndMeta(o: DeepReadonly<EtcdCluster>): unknown {
  return [
    o.metadata.generation,
    o.metadata.labels,
    o.metadata.annotations,
    o.metadata.finalizers,
    o.metadata.deletionTimestamp,
    o.metadata.uid,
  ];
}

/** What an EtcdCluster calls for (EtcdClusterController's #plan). */
interface Planned {
  readonly valid: ValidEtcdCluster;
  readonly provider: ClusterProvider;
  readonly desired: ProviderCluster;
  /** A feature's interval in seconds. */
  readonly interval: (feature: string) => number;
}

export class EtcdClusterController {
  readonly #options: EtcdClusterControllerOptions;
  readonly #log: Logger;
  readonly #controller: Controller;
  readonly #now: () => Date;
  /** What this process gave the engine, per cluster key. */
  readonly #applied = new Map<string, ProviderCluster>();
  /** Clusters (key -> uid) whose deletion hooks ran: a sync from a stale cache must not run them again. */
  readonly #cleanedUp = new Map<string, string>();
  readonly #specs: SpecCache;
  readonly #adoptions = new Adoptions();

  constructor(opts: EtcdClusterControllerOptions) {
    this.#options = opts;
    this.#now = opts.now ?? (() => new Date());
    this.#log = opts.logger.child({ controller: 'etcdcluster' });
    this.#specs = new SpecCache(opts.features, opts.providers);
    this.#controller = new Controller({
      name: 'etcdcluster',
      workers: opts.workers,
      logger: opts.logger,
      sync: (key, signal) => this.sync(key, signal),
    });
    const { clusters, inspections } = opts.informers;
    const enqueue = (key: string | undefined): void => {
      if (key !== undefined) this.#controller.enqueue(key);
    };
    this.#controller.fedBy(
      onChange(clusters, (c) => enqueue(objectKey(c.metadata)), specAndMeta),
      onChange(inspections, (i) => enqueue(ownerKey(i))),
      onSecretChange(opts.informers, enqueue),
      // A new membership read (not every feature round) may change the status.
      onSnapshotChange(opts.store, (s) => (s.members === undefined ? [] : [s.members]), enqueue),
    );
  }

  start(): void {
    this.#controller.start();
  }

  /** Stops the workers (syncs in flight are aborted) and the handlers. The engine is the caller's. */
  stop(): Promise<void> {
    this.#adoptions.stop();
    return this.#controller.stop();
  }

  /** Whether this replica acts for the cluster: its shard owns the object's UID. */
  #owns(cluster: DeepReadonly<EtcdCluster>): boolean {
    return (this.#options.shard ?? WHOLE).owns(cluster.metadata.uid ?? key(cluster));
  }

  /**
   * Whether this replica acts for the cached cluster with this key (false
   * when not cached), decided without parsing another shard's packed object.
   */
  #ownsKey(key: string): boolean {
    const shardKey = this.#options.informers.clusterShardKey(key);
    return shardKey !== undefined && (this.#options.shard ?? WHOLE).owns(shardKey);
  }

  /** Stops what this replica runs for clusters its shard no longer owns (before the shard says so). */
  async releaseUnowned(): Promise<void> {
    const gone = [...this.#applied.keys()].filter((k) => !this.#ownsKey(k));
    await Promise.all(gone.map((k) => this.#release(k)));
  }

  /**
   * The shard's ownership changed: the clusters gained go to the membership
   * engine at once, from the caches (not once a worker reaches them behind
   * other syncs' API writes), and every cluster gained or lost is synced —
   * only the ones that moved, so a hand-off of 1/N of 10,000 clusters
   * queues 1/N of them. Their writes follow through the queue.
   */
  ownershipChanged(): void {
    const gained = moved(
      this.#options.informers.clusters.lister.keys(),
      (k) => this.#ownsKey(k),
      (k) => this.#applied.has(k),
      (k) => this.#controller.enqueue(k),
    );
    void this.#adopt(gained);
  }

  /**
   * Gives the engine each cluster still ours, not yet given, and ready to
   * run without an API call (finalizer set, valid, not being deleted); the
   * rest is left to its sync (queued), which writes what it must.
   */
  async #adopt(keys: readonly string[]): Promise<void> {
    const adopted = await this.#adoptions.run(keys, (k) => {
      if (this.#applied.has(k) || !this.#ownsKey(k)) return false;
      const { namespace, name } = splitObjectKey(k);
      const cluster = this.#options.informers.clusters.lister.get(namespace, name);
      if (cluster === undefined || cluster.metadata.deletionTimestamp !== undefined) return false;
      if (!(cluster.metadata.finalizers ?? []).includes(FINALIZER)) return false;
      const planned = this.#plan(cluster);
      if (!planned.ok) return false;
      this.#monitor(k, cluster, planned.value.provider, planned.value.desired).catch((err: unknown) => {
        this.#log.warn({ cluster: k, err: errorMessage(err) }, 'adopting the cluster failed');
      });
      return true;
    });
    if (adopted > 0) this.#log.info({ clusters: adopted }, 'clusters adopted from the caches');
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitObjectKey(key);
    // Ownership first: another shard's cluster is released without parsing its packed object.
    const shardKey = this.#options.informers.clusterShardKey(key);
    if (shardKey !== undefined && !(this.#options.shard ?? WHOLE).owns(shardKey)) {
      // Another replica's: it writes the status, creates the inspections, removes the finalizer.
      await this.#release(key);
      return;
    }
    const cached = this.#options.informers.clusters.lister.get(namespace, name);
    if (cached === undefined) {
      // Deleted (the finalizer cleaned up), or no longer matches --label-selector: release what this process holds.
      this.#cleanedUp.delete(key);
      await this.#release(key);
      return;
    }
    if (cached.metadata.deletionTimestamp !== undefined) {
      await this.#finalize(key, cached, signal);
      return;
    }
    let cluster = cached;
    if (!(cached.metadata.finalizers ?? []).includes(FINALIZER)) {
      // Carry on with what the server returned (its resourceVersion is the one the status write needs).
      cluster = await this.#options.clients.etcdClusters.patch(
        namespace,
        name,
        {
          metadata: {
            finalizers: [...(cached.metadata.finalizers ?? []), FINALIZER],
            ...unchangedSince(cached),
          },
        },
        { signal },
      );
    }

    const planned = this.#plan(cluster);
    if (!planned.ok) return this.#invalid(key, cluster, planned.problems, signal);
    const { valid, provider, desired, interval } = planned.value;
    if (!(await this.#monitor(key, cluster, provider, desired))) return;

    const wanted = desiredInspections(valid, interval);
    const featureMessages = await this.#reconcileInspections(cluster, wanted, signal);
    const owned = new Map<string, DeepReadonly<EtcdInspection>>();
    for (const d of wanted) {
      const i = this.#options.informers.inspections.lister.get(namespace, d.name);
      if (i !== undefined && controlledBy(i, cluster.metadata.uid)) owned.set(d.feature, i);
    }
    const next = runningStatus({
      previous: cluster.status,
      generation: cluster.metadata.generation,
      provider: provider.status(desired, this.#options.store.get(key)),
      features: valid.features,
      inspections: owned,
      inspectionNames: new Map(wanted.map((d) => [d.feature, d.name])),
      featureMessages,
      now: this.#now(),
    });
    // Not before the first membership read here (the store event brings us back, within the membership
    // interval, even when no member answers): a new object gets one write instead of Pending, then
    // Running; an adopted one keeps its state instead of Pending, then the same state again.
    if (awaitsFirstRead(cluster.status, next)) return;
    await this.#writeStatus(cluster, next, signal);
  }

  /** What the cluster calls for, from the caches alone (no API call): its provider and engine spec. */
  #plan(cluster: DeepReadonly<EtcdCluster>): Validated<Planned> {
    const validated = this.#specs.validate(cluster);
    if (!validated.ok) return validated;
    const valid = validated.value;
    // Validation admits registered cluster types only.
    const provider = this.#options.providers.get(valid.clusterType);
    const enabled = Object.entries(valid.features)
      .filter(([, f]) => f.enabled)
      .map(([f]) => f);
    const interval = (feature: string): number => featureInterval(this.#options.features, valid, feature);
    // The engine's rule, so the membership this controller reads is as fresh as the inspections'.
    const membersInterval = membersIntervalSeconds(enabled.map(interval));
    const built = this.#specs.build(
      cluster,
      valid,
      this.#options.informers.secrets.lister,
      {},
      {
        ...(this.#options.timeouts !== undefined && { timeouts: this.#options.timeouts }),
        membersIntervalSeconds: membersInterval,
      },
    );
    if (!built.ok) return built;
    return { ok: true, value: { valid, provider, desired: { cluster: valid, spec: built.value }, interval } };
  }

  /**
   * Gives the engine the cluster (the first time in this process) or a spec
   * the provider calls changed; false when the cluster is no longer ours.
   */
  async #monitor(
    key: string,
    cluster: DeepReadonly<EtcdCluster>,
    provider: ClusterProvider,
    desired: ProviderCluster,
  ): Promise<boolean> {
    // Checked again right before the engine is told (same tick): the shard may have moved during the sync's awaits.
    if (!this.#owns(cluster)) return false;
    const applied = this.#applied.get(key);
    if (applied === undefined) {
      // Recorded before the await: a release meanwhile must find (and drop) it.
      this.#applied.set(key, desired);
      try {
        await this.#options.engine.upsert(desired.spec);
      } catch (err) {
        // Not recorded as given, so that the retry gives it again.
        if (this.#applied.get(key) === desired) this.#applied.delete(key);
        throw err;
      }
      // Once per object, not once per process start: only before the first status was written.
      if (cluster.status?.observedGeneration === undefined) {
        this.#options.recorder.event(
          cluster,
          'Normal',
          provider.createdReason,
          `monitoring the cluster at ${desired.cluster.endpoints.map((e) => e.url).join(', ')}`,
        );
      }
      this.#log.info({ cluster: key, type: provider.type }, 'cluster set up');
    } else if (applied.spec !== desired.spec && !provider.equal(applied, desired)) {
      this.#applied.set(key, desired);
      await this.#options.engine.upsert(desired.spec);
    }
    return true;
  }

  /** Creates, updates and deletes the cluster's inspections; returns what to say per feature (conflicts). */
  async #reconcileInspections(
    cluster: DeepReadonly<EtcdCluster>,
    wanted: ReturnType<typeof desiredInspections>,
    signal: AbortSignal,
  ): Promise<Map<string, string>> {
    const ns = cluster.metadata.namespace ?? '';
    const lister = this.#options.informers.inspections.lister;
    const actions = planInspections(
      cluster.metadata.uid,
      wanted,
      (n) => lister.get(ns, n),
      lister.byIndex(INSPECTIONS_BY_OWNER, objectKey(cluster.metadata)),
    );
    const messages = new Map<string, string>();
    // Independent objects: written in parallel; the first failure fails the sync once all are done.
    const results = await Promise.allSettled(
      actions.map((action) => this.#apply(cluster, action, messages, signal)),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return messages;
  }

  async #apply(
    cluster: DeepReadonly<EtcdCluster>,
    action: InspectionAction,
    messages: Map<string, string>,
    signal: AbortSignal,
  ): Promise<void> {
    const api = this.#options.clients.etcdInspections;
    const ns = cluster.metadata.namespace;
    const log = this.#log.child({ cluster: objectKey(cluster.metadata) });
    switch (action.kind) {
      case 'create':
        try {
          await api.create(newInspection(cluster, action.desired), { signal });
          log.info({ inspection: action.desired.name }, 'EtcdInspection created');
        } catch (err) {
          // Created meanwhile (our cache is behind): the add event brings us back.
          if (!isAlreadyExists(err)) throw err;
        }
        return;
      case 'update':
        await api.update(
          {
            ...action.current,
            metadata: {
              ...action.current.metadata,
              labels: { ...action.current.metadata.labels, ...action.desired.labels },
            },
            spec: action.desired.spec,
          },
          { signal },
        );
        log.info({ inspection: action.desired.name }, 'EtcdInspection updated');
        return;
      case 'delete':
        await this.#deleteInspection(action.current, signal);
        log.info({ inspection: action.current.metadata.name, why: action.why }, 'EtcdInspection deleted');
        return;
      case 'conflict': {
        const message = `EtcdInspection ${ns}/${action.desired.name} exists and is not controlled by this EtcdCluster: remove it, or give it an owner reference (controller) to this cluster`;
        messages.set(action.desired.feature, message);
        const previous = cluster.status?.featureGatesStatus?.[action.desired.feature]?.message;
        if (previous !== message)
          this.#options.recorder.event(cluster, 'Warning', 'InspectionConflict', message);
        return;
      }
    }
  }

  async #deleteInspection(inspection: DeepReadonly<EtcdInspection>, signal: AbortSignal): Promise<void> {
    try {
      await this.#options.clients.etcdInspections.delete(
        inspection.metadata.namespace,
        inspection.metadata.name,
        {
          signal,
          ...(inspection.metadata.uid !== undefined && { preconditions: { uid: inspection.metadata.uid } }),
        },
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async #writeStatus(
    cluster: DeepReadonly<EtcdCluster>,
    next: NonNullable<EtcdCluster['status']>,
    signal: AbortSignal,
  ): Promise<void> {
    const now = this.#now();
    if (!this.#owns(cluster)) return; // moved to another replica during the sync: it writes now
    if (
      !needsWrite(
        cluster.status,
        next,
        now,
        spreadPeriod(
          this.#options.statusRefreshMs ?? DEFAULT_STATUS_REFRESH_MS,
          cluster.metadata.uid ?? key(cluster),
        ),
      )
    )
      return;
    try {
      await this.#options.clients.etcdClusters.updateStatus({ ...cluster, status: next }, { signal });
    } catch (err) {
      if (isNotFound(err)) return; // deleted meanwhile
      throw err; // a conflict too: our cache is behind; the queue retries shortly
    }
    this.#log.debug({ cluster: objectKey(cluster.metadata), phase: next.phase }, 'status written');
    for (const e of transitionEvents(cluster.status?.conditions, next.conditions ?? []))
      this.#options.recorder.event(cluster, e.type, e.reason, e.message);
  }

  async #invalid(
    key: string,
    cluster: DeepReadonly<EtcdCluster>,
    problems: readonly Problem[],
    signal: AbortSignal,
  ): Promise<void> {
    // Nothing runs for an object that cannot run as written; its inspections stay (they report Blocked).
    await this.#release(key);
    this.#log.info({ cluster: key, problems: formatProblems(problems) }, 'invalid EtcdCluster');
    await this.#writeStatus(
      cluster,
      invalidStatus(cluster.status, cluster.metadata.generation, problems, this.#now()),
      signal,
    );
  }

  async #release(key: string): Promise<void> {
    this.#applied.delete(key);
    await this.#options.engine.remove(key);
  }

  /** Deletion: the inspections, the engine's state, then the finalizer. */
  async #finalize(key: string, cluster: DeepReadonly<EtcdCluster>, signal: AbortSignal): Promise<void> {
    if (!(cluster.metadata.finalizers ?? []).includes(FINALIZER)) {
      await this.#release(key);
      return;
    }
    if (this.#cleanedUp.get(key) !== cluster.metadata.uid) {
      await this.#cleanUp(key, cluster, signal);
      this.#cleanedUp.set(key, cluster.metadata.uid ?? '');
    }
    try {
      await this.#options.clients.etcdClusters.patch(
        cluster.metadata.namespace,
        cluster.metadata.name,
        {
          metadata: {
            finalizers: (cluster.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
            ...unchangedSince(cluster),
          },
        },
        { signal },
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.#log.info({ cluster: key }, 'cluster released and finalizer removed');
  }

  /** The inspections and the engine's state; once per deleted object. */
  async #cleanUp(key: string, cluster: DeepReadonly<EtcdCluster>, signal: AbortSignal): Promise<void> {
    for (const i of this.#options.informers.inspections.lister.byIndex(INSPECTIONS_BY_OWNER, key)) {
      if (controlledBy(i, cluster.metadata.uid)) await this.#deleteInspection(i, signal);
    }
    await this.#release(key);
  }
}
