/**
 * The EtcdInspection controller: runs the inspections through the engine
 * and writes their status. Its unit of work is the cluster (queue keys are
 * "namespace/clusterName", the engine's id): every inspection of a cluster
 * runs in one engine cluster (one set of connections, one membership read),
 * so sync(key) computes that cluster's spec from the union of its
 * inspections — each feature at its inspection's intervalInSecond, with the
 * options of the EtcdCluster's spec.features — and gives it to the engine;
 * when the last inspection of a cluster goes, the cluster is removed from
 * the engine and its series leave /metrics. Then each inspection's status is
 * written from the latest round, only when it changed.
 */
import { digest } from '../../engine/cluster-spec.ts';
import type { Engine } from '../../engine/engine.ts';
import { WHOLE, type Shard } from '../../engine/shard.ts';
import type { FeatureSnapshot, SnapshotStore } from '../../engine/snapshot.ts';
import type { ClusterSpec, FeatureSpec } from '../../engine/cluster-spec.ts';
import type { FeatureRegistry } from '../../features/registry.ts';
import {
  DEFAULT_INSPECTION_PROVIDER,
  formatProblems,
  objectKey,
  splitObjectKey,
  validateEtcdInspection,
  type EtcdCluster,
  type EtcdInspection,
  type EtcdInspectionStatus,
} from '../../k8s/api/index.ts';
import { isConflict, isNotFound, type Clients, type DeepReadonly } from '../../k8s/client/index.ts';
import type { EventRecorder } from '../../k8s/events.ts';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { ProviderRegistry } from '../../providers/index.ts';
import {
  INSPECTIONS_BY_CLUSTER,
  inspectedClusterKey,
  onChange,
  onSecretChange,
  onSnapshotChange,
  type SharedInformers,
} from '../informers.ts';
import { Adoptions, moved } from '../adoption.ts';
import { Controller, type SyncResult } from '../runner.ts';
import { SpecCache, type ClientTimeouts } from '../spec.ts';
import { nextInspectionStatus, pendingDeferral, type InspectionState } from './status.ts';

/** A result whose summary alone moved is written at most this often. */
export const DEFAULT_RESULT_REFRESH_MS = 5 * 60_000;
/**
 * A new inspection without a result yet is not written as Pending during
 * this long: its first round usually ends within seconds, and one write
 * (the result) instead of two halves the writes when many clusters appear.
 */
export const PENDING_GRACE_MS = 10_000;

export interface EtcdInspectionControllerOptions {
  readonly clients: Pick<Clients, 'etcdInspections'>;
  readonly informers: SharedInformers;
  /** The engine whose store /metrics renders. */
  readonly engine: Engine;
  readonly store: SnapshotStore;
  readonly features: FeatureRegistry;
  readonly providers: ProviderRegistry;
  readonly recorder: EventRecorder;
  readonly logger: Logger;
  readonly workers: number;
  /**
   * Set when EtcdClusters are watched through a label selector: an
   * inspection whose cluster is not in our cache then belongs to another
   * operator (sharding) and is left alone instead of being marked Blocked.
   */
  readonly labelSelector?: string;
  readonly timeouts?: ClientTimeouts;
  readonly resultRefreshMs?: number;
  readonly now?: () => Date;
  /** The clusters this replica inspects (sharding); default all. */
  readonly shard?: Shard;
}

/** What of an inspection this controller acts on: not status (our own writes). */
function inspectionSpec(o: DeepReadonly<EtcdInspection>): unknown {
  return [o.metadata.generation, o.metadata.deletionTimestamp, o.metadata.uid, o.spec];
}

/** What of an EtcdCluster its inspections are run from. */
function clusterSpec(o: DeepReadonly<EtcdCluster>): unknown {
  return [o.metadata.generation, o.metadata.annotations, o.metadata.uid, o.spec];
}

/** The parts of a snapshot inspection statuses are made of: a new round, or new config errors. */
function resultsOf(
  features: Readonly<Record<string, FeatureSnapshot>>,
  configErrors: readonly string[],
): unknown[] {
  return [configErrors, ...Object.values(features).map((f) => f.last)];
}

/** What a cluster's inspections call for (EtcdInspectionController's #plan). */
type Plan =
  /** Nothing to run or write here: no inspection left, or another replica's cluster. */
  | { readonly kind: 'none' }
  /** Nothing runs; every inspection says why. */
  | {
      readonly kind: 'blocked';
      readonly inspections: readonly DeepReadonly<EtcdInspection>[];
      readonly message: string;
    }
  /** The spec to run (undefined: every inspection is invalid), and the invalid inspections' problems. */
  | {
      readonly kind: 'run';
      readonly inspections: readonly DeepReadonly<EtcdInspection>[];
      readonly invalid: ReadonlyMap<string, string>;
      readonly spec: ClusterSpec | undefined;
    };

export class EtcdInspectionController {
  readonly #options: EtcdInspectionControllerOptions;
  readonly #log: Logger;
  readonly #controller: Controller;
  readonly #now: () => Date;
  /** The spec given to the engine and its digest, per cluster key. */
  readonly #applied = new Map<string, { spec: ClusterSpec; digest: string }>();
  readonly #specs: SpecCache;
  readonly #inspectionChecks = new WeakMap<object, string | undefined>();
  readonly #adoptions = new Adoptions();

  constructor(opts: EtcdInspectionControllerOptions) {
    this.#options = opts;
    this.#now = opts.now ?? (() => new Date());
    this.#log = opts.logger.child({ controller: 'etcdinspection' });
    this.#specs = new SpecCache(opts.features, opts.providers);
    this.#controller = new Controller({
      name: 'etcdinspection',
      workers: opts.workers,
      logger: opts.logger,
      sync: (key, signal) => this.sync(key, signal),
    });
    const { clusters, inspections } = opts.informers;
    const enqueue = (key: string): void => this.#controller.enqueue(key);
    this.#controller.fedBy(
      onChange(inspections, (i) => enqueue(inspectedClusterKey(i)), inspectionSpec),
      onChange(clusters, (c) => this.#clusterChanged(objectKey(c.metadata)), clusterSpec),
      onSecretChange(opts.informers, (key) => this.#clusterChanged(key)),
      onSnapshotChange(opts.store, (s) => resultsOf(s.features, s.configErrors), enqueue),
    );
  }

  /** Only clusters that have inspections concern this controller, and of another shard's only those still run here. */
  #clusterChanged(key: string): void {
    if (
      this.#applied.has(key) ||
      (this.#ownsKey(key) &&
        this.#options.informers.inspections.lister.byIndex(INSPECTIONS_BY_CLUSTER, key).length > 0)
    )
      this.#controller.enqueue(key);
  }

  start(): void {
    this.#controller.start();
  }

  stop(): Promise<void> {
    this.#adoptions.stop();
    return this.#controller.stop();
  }

  /**
   * Whether this replica inspects the cluster: its shard owns the
   * EtcdCluster's UID (the key when there is none), read without parsing a
   * packed object of another shard.
   */
  #ownsKey(key: string): boolean {
    return (this.#options.shard ?? WHOLE).owns(this.#options.informers.clusterShardKey(key) ?? key);
  }

  /** Stops inspecting the clusters the shard no longer owns (their series leave /metrics). */
  async releaseUnowned(): Promise<void> {
    await Promise.all([...this.#applied.keys()].filter((k) => !this.#ownsKey(k)).map((k) => this.#remove(k)));
  }

  /**
   * The shard's ownership changed: the clusters gained go to the engine at
   * once, from the caches — inspected now, not once a worker reaches them
   * behind other syncs' API writes (a hand-off of 2,000 clusters would
   * wait minutes for that) — and every cluster gained or lost is synced:
   * its statuses follow through the queue at the API's pace. Only the
   * clusters that moved, not every cluster (a hand-off moves about 1/N).
   */
  ownershipChanged(): void {
    const keys = new Set(this.#applied.keys());
    for (const k of this.#options.informers.inspections.lister.indexValues(INSPECTIONS_BY_CLUSTER))
      keys.add(k);
    const gained = moved(
      keys,
      (k) => this.#ownsKey(k),
      (k) => this.#applied.has(k),
      (k) => this.#controller.enqueue(k),
    );
    void this.#adopt(gained);
  }

  /** Gives the engine each cluster still ours and not yet given; a cluster that cannot run is left to its sync. */
  async #adopt(keys: readonly string[]): Promise<void> {
    const adopted = await this.#adoptions.run(keys, (k) => {
      if (this.#applied.has(k) || !this.#ownsKey(k)) return false;
      const plan = this.#plan(k);
      if (plan.kind !== 'run' || plan.spec === undefined) return false;
      this.#give(k, plan.spec).catch((err: unknown) => {
        // Its sync (queued) gives it again, and fails visibly if the engine keeps refusing.
        this.#log.warn({ cluster: k, err: errorMessage(err) }, 'adopting the cluster failed');
      });
      return true;
    });
    if (adopted > 0) this.#log.info({ clusters: adopted }, 'clusters adopted from the caches');
  }

  async sync(key: string, signal: AbortSignal): Promise<SyncResult | void> {
    const plan = this.#plan(key);
    if (plan.kind !== 'run' || plan.spec === undefined) await this.#remove(key);
    else if (!(await this.#give(key, plan.spec))) return; // moved to another replica meanwhile: it writes now
    switch (plan.kind) {
      case 'none':
        return;
      case 'blocked':
        return this.#writeAll(plan.inspections, () => ({ kind: 'blocked', message: plan.message }), signal);
      case 'run': {
        const snapshot = this.#options.store.get(key);
        return this.#writeAll(
          plan.inspections,
          (i) => {
            const problem = plan.invalid.get(i.metadata.name);
            if (problem !== undefined) return { kind: 'invalid', message: problem };
            return {
              kind: 'running',
              feature: snapshot?.features[i.spec.inspectionType],
              configErrors: snapshot?.configErrors ?? [],
            };
          },
          signal,
        );
      }
    }
  }

  /**
   * What a cluster's inspections call for, from the caches alone (no API
   * call, nothing changed): nothing (none left, not ours), Blocked, or a
   * spec to run (none when every inspection is invalid) and the invalid ones.
   */
  #plan(key: string): Plan {
    const { namespace, name } = splitObjectKey(key);
    // Another replica inspects it and writes these statuses (checked first: nothing of it is parsed).
    if (!this.#ownsKey(key)) return { kind: 'none' };
    const inspections = this.#options.informers.inspections.lister
      .byIndex(INSPECTIONS_BY_CLUSTER, key)
      .filter((i) => i.metadata.deletionTimestamp === undefined)
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    if (inspections.length === 0) return { kind: 'none' };
    const cluster = this.#options.informers.clusters.lister.get(namespace, name);
    if (cluster === undefined) {
      if (this.#options.labelSelector !== undefined) return { kind: 'none' };
      return { kind: 'blocked', inspections, message: `EtcdCluster ${key} not found` };
    }
    const validated = this.#specs.validate(cluster);
    if (!validated.ok)
      return {
        kind: 'blocked',
        inspections,
        message: `EtcdCluster ${key} is invalid: ${formatProblems(validated.problems)}`,
      };
    const valid = validated.value;

    // Each inspection on its own first: a bad one is reported, the others run.
    const invalid = new Map<string, string>();
    const features: Record<string, FeatureSpec> = {};
    for (const i of inspections) {
      const type = i.spec.inspectionType;
      const problem = this.#checkInspection(i);
      if (problem !== undefined) {
        invalid.set(i.metadata.name, problem);
        continue;
      }
      const interval =
        i.spec.intervalInSecond ??
        valid.features[type]?.intervalSeconds ??
        this.#options.features.get(type).defaultIntervalSeconds;
      // Two inspections of one type (made by hand): one run, at the shorter interval.
      const prior = features[type];
      if (prior !== undefined && prior.intervalSeconds <= interval) continue;
      const options = valid.features[type]?.options;
      const checked = this.#options.features.check(
        type,
        { intervalSeconds: interval, ...(options !== undefined && { options }) },
        valid.storageBackend,
      );
      if (!checked.ok)
        invalid.set(
          i.metadata.name,
          checked.problems.map((p) => (p.field === '' ? p.message : `${p.field}: ${p.message}`)).join('; '),
        );
      else if (checked.spec !== undefined) features[type] = checked.spec;
    }
    if (Object.keys(features).length === 0) return { kind: 'run', inspections, invalid, spec: undefined };
    const built = this.#specs.build(
      cluster,
      valid,
      this.#options.informers.secrets.lister,
      features,
      this.#options.timeouts !== undefined ? { timeouts: this.#options.timeouts } : {},
    );
    if (!built.ok)
      return {
        kind: 'blocked',
        inspections,
        message: `EtcdCluster ${key}: ${formatProblems(built.problems)}`,
      };
    return { kind: 'run', inspections, invalid, spec: built.value };
  }

  /**
   * Gives the engine the cluster's spec when it changed; false (and nothing
   * done) when the cluster is no longer ours. Decided and recorded at the
   * call, in the same tick as the ownership check (the shard may have moved
   * during a sync); resolves once the engine has it.
   */
  async #give(key: string, spec: ClusterSpec): Promise<boolean> {
    if (!this.#ownsKey(key)) return false;
    const applied = this.#applied.get(key);
    if (applied?.spec === spec) return true;
    const fingerprint = digest(spec);
    // Recorded before the engine has it: a release meanwhile must find (and drop) it.
    this.#applied.set(key, { spec, digest: fingerprint });
    if (applied?.digest === fingerprint) return true;
    try {
      await this.#options.engine.upsert(spec);
    } catch (err) {
      // Not recorded as given, so that the retry gives it again.
      if (this.#applied.get(key)?.spec === spec) this.#applied.delete(key);
      throw err;
    }
    return true;
  }

  /** Why the inspection itself is invalid (schema, unknown type or provider), memoized per cached object. */
  #checkInspection(i: DeepReadonly<EtcdInspection>): string | undefined {
    if (this.#inspectionChecks.has(i)) return this.#inspectionChecks.get(i);
    const checked = validateEtcdInspection(i, {
      features: this.#options.features,
      providers: [DEFAULT_INSPECTION_PROVIDER, ...this.#options.providers.names()],
    });
    const problem = checked.ok ? undefined : formatProblems(checked.problems);
    this.#inspectionChecks.set(i, problem);
    return problem;
  }

  async #remove(key: string): Promise<void> {
    if (!this.#applied.delete(key)) return;
    await this.#options.engine.remove(key);
    this.#log.info({ cluster: key }, 'no runnable inspection left: cluster removed from the engine');
  }

  /**
   * Writes every inspection whose status changed; a failure fails the sync
   * (after trying the others). Asks to be synced again when a Pending
   * write was put off.
   */
  async #writeAll(
    inspections: readonly DeepReadonly<EtcdInspection>[],
    stateOf: (i: DeepReadonly<EtcdInspection>) => InspectionState,
    signal: AbortSignal,
  ): Promise<SyncResult | void> {
    const failures: unknown[] = [];
    let recheckMs: number | undefined;
    for (const i of inspections) {
      const state = stateOf(i);
      const deferMs = pendingDeferral(
        i.status,
        state,
        i.metadata.creationTimestamp,
        this.#now(),
        PENDING_GRACE_MS,
      );
      if (deferMs !== undefined) {
        recheckMs = Math.max(recheckMs ?? 0, deferMs);
        continue;
      }
      const next = nextInspectionStatus(
        i.status,
        i.metadata.generation,
        state,
        this.#now(),
        this.#options.resultRefreshMs ?? DEFAULT_RESULT_REFRESH_MS,
      );
      if (next === undefined) continue;
      try {
        await this.#write(i, next, signal);
      } catch (err) {
        if (signal.aborted) throw err;
        failures.push(err);
      }
    }
    // The error that says most: anything but a conflict (a conflict only means our cache is behind).
    const worst = failures.find((e) => !isConflict(e)) ?? failures[0];
    if (worst !== undefined) throw worst;
    return recheckMs !== undefined ? { requeueAfterMs: recheckMs } : undefined;
  }

  async #write(
    i: DeepReadonly<EtcdInspection>,
    next: EtcdInspectionStatus,
    signal: AbortSignal,
  ): Promise<void> {
    // Moved to another replica during the sync: it writes now.
    if (!this.#ownsKey(inspectedClusterKey(i))) return;
    try {
      await this.#options.clients.etcdInspections.updateStatus({ ...i, status: next }, { signal });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    this.#log.debug({ inspection: objectKey(i.metadata), phase: next.phase }, 'status written');
    const before = i.status?.phase;
    if (
      next.phase !== before &&
      (next.phase === 'Blocked' || (next.phase === 'Error' && next.message?.startsWith('invalid: ')))
    ) {
      this.#options.recorder.event(
        i,
        'Warning',
        next.phase === 'Blocked' ? 'Blocked' : 'InvalidInspection',
        next.message ?? '',
      );
    }
  }
}
