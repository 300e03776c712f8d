/**
 * Cluster providers: how the state of an EtcdCluster of a given
 * spec.clusterType is read. `imported` (a cluster that already runs,
 * reached at its endpoints) is the only one. The EtcdCluster controller
 * asks equal() whether a changed object changes the cluster (false gives
 * the engine the new spec) and status() on every sync.
 *
 * There are no lifecycle hooks: nothing creates or deletes clusters. A
 * provider that does would add them here together with its first use.
 */
import { Registry } from '../registry.ts';
import type { ClusterSnapshot } from '../engine/snapshot.ts';
import type { ClusterSpec } from '../engine/cluster-spec.ts';
import type { ConditionInput, ClusterPhase, MemberStatus, ValidEtcdCluster } from '../k8s/api/index.ts';

/** A cluster as the controller hands it to providers: the validated object and the engine spec built from it. */
export interface ProviderCluster {
  readonly cluster: ValidEtcdCluster;
  readonly spec: ClusterSpec;
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
  /** Whether `a` and `b` describe the same cluster: false gives the engine the new spec. */
  equal(a: ProviderCluster, b: ProviderCluster): boolean;
  /** The cluster's state from the engine's latest snapshot (undefined before the first one). */
  status(cluster: ProviderCluster, snapshot: ClusterSnapshot | undefined): ProviderStatus;
}

/** The process-wide catalogue of providers, by spec.clusterType. */
export class ProviderRegistry extends Registry<ClusterProvider> {
  constructor() {
    super('cluster provider', (provider) => provider.type);
  }
}
