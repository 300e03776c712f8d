/**
 * Cluster providers: how an EtcdCluster of a given spec.clusterType comes to
 * exist and how its state is read. `imported` (a cluster that already runs,
 * reached at its endpoints) is the only one today; a provider that creates
 * clusters would do its work in the lifecycle hooks.
 *
 * The EtcdCluster controller calls, for one object:
 *   beforeCreate → (engine starts monitoring) → afterCreate      the first time this process sets it up
 *   beforeUpdate → (engine gets the new spec) → afterUpdate      when !equal(applied, desired)
 *   beforeDelete → (inspections deleted, engine released) → afterDelete   when the object is deleted (finalizer)
 * and status() on every sync. Hooks must be idempotent: a failed sync runs
 * them again. A hook that throws makes the sync fail and retry with backoff;
 * one that throws ProviderSpecError marks the object Invalid (no retry).
 */
import type { ClusterSnapshot } from '../engine/snapshot.ts';
import type { ClusterSpec } from '../engine/spec.ts';
import type { ConditionInput, ClusterPhase, MemberStatus, ValidEtcdCluster } from '../k8s/api/index.ts';
import type { Logger } from '../log.ts';

/** A cluster as the controller hands it to providers: the validated object and the engine spec built from it. */
export interface ProviderCluster {
  readonly cluster: ValidEtcdCluster;
  readonly spec: ClusterSpec;
}

export interface HookContext extends ProviderCluster {
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/** What a provider says about a cluster's state; the controller adds the conditions that come from inspections. */
export interface ProviderStatus {
  readonly phase: ClusterPhase;
  readonly members: readonly MemberStatus[];
  /** "healthy/total", undefined before membership was read. */
  readonly membersReady: string | undefined;
  readonly leader: string | undefined;
  readonly version: string | undefined;
  /** The Ready condition: can the cluster's state be read? */
  readonly ready: Omit<ConditionInput, 'type' | 'observedGeneration'>;
  /** Health from the members alone, used when no healthy inspection has a verdict. */
  readonly membersHealth: Omit<ConditionInput, 'type' | 'observedGeneration'>;
  /** When the state was read. */
  readonly checkedAt: Date | undefined;
}

export interface ClusterProvider {
  /** The spec.clusterType it serves. */
  readonly type: string;
  /** Reason of the Normal Event recorded when a cluster of this type is first set up (e.g. Imported). */
  readonly createdReason: string;
  beforeCreate?(ctx: HookContext): Promise<void>;
  afterCreate?(ctx: HookContext): Promise<void>;
  beforeUpdate?(ctx: HookContext, previous: ProviderCluster): Promise<void>;
  afterUpdate?(ctx: HookContext, previous: ProviderCluster): Promise<void>;
  beforeDelete?(ctx: Omit<HookContext, 'spec'> & { readonly spec: ClusterSpec | undefined }): Promise<void>;
  afterDelete?(ctx: Omit<HookContext, 'spec'> & { readonly spec: ClusterSpec | undefined }): Promise<void>;
  /** Whether `a` and `b` describe the same cluster: false runs the update hooks and gives the engine the new spec. */
  equal(a: ProviderCluster, b: ProviderCluster): boolean;
  /** The cluster's state from the engine's latest snapshot (undefined before the first one). */
  status(cluster: ProviderCluster, snapshot: ClusterSnapshot | undefined): ProviderStatus;
}

/** A problem with the object itself, found by a provider: reported as InvalidSpec, never retried. */
export class ProviderSpecError extends Error {
  override name = 'ProviderSpecError';
}

export type ProviderFactory = () => ClusterProvider;

/** Providers register a factory by type; each is built once, on first use. */
export class ProviderRegistry {
  readonly #factories = new Map<string, ProviderFactory>();
  readonly #instances = new Map<string, ClusterProvider>();

  register(type: string, factory: ProviderFactory): void {
    if (!/^[a-z][a-z0-9-]*$/.test(type)) throw new Error(`invalid cluster type "${type}"`);
    if (this.#factories.has(type)) throw new Error(`cluster provider "${type}" is already registered`);
    this.#factories.set(type, factory);
  }

  types(): string[] {
    return [...this.#factories.keys()].sort();
  }

  /** The provider of a type, or undefined when none is registered. */
  get(type: string): ClusterProvider | undefined {
    const built = this.#instances.get(type);
    if (built !== undefined) return built;
    const factory = this.#factories.get(type);
    if (factory === undefined) return undefined;
    const provider = factory();
    if (provider.type !== type)
      throw new Error(`cluster provider factory "${type}" built "${provider.type}"`);
    this.#instances.set(type, provider);
    return provider;
  }
}
