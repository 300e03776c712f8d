import type { Logger } from '../log.ts';
import type { Endpoint } from '../etcd/endpoint.ts';
import type { EtcdHttpMemberClient, EtcdV2MemberClient, EtcdV3MemberClient } from '../etcd/types.ts';
import type { MetricDefinition } from '../metrics/catalogue.ts';
import type { MetricSample } from '../metrics/sample.ts';
import type { MemberSnapshot } from '../engine/snapshot.ts';
import type { ClusterSpec, StorageBackend } from '../engine/spec.ts';

/** One member as a feature sees it: what is known of it, and its reused clients. */
export interface MemberHandle {
  readonly snapshot: MemberSnapshot;
  /** undefined when the member has no usable client URL (e.g. an unstarted learner). */
  readonly endpoint: Endpoint | undefined;
  /** Shared per-member clients, owned by the cluster: never close them. */
  v3(): EtcdV3MemberClient;
  http(): EtcdHttpMemberClient;
  v2(): EtcdV2MemberClient;
}

/** What a feature may use of the cluster it inspects. */
export interface ClusterHandle {
  readonly spec: ClusterSpec;
  readonly logger: Logger;
  /** Resolves once membership has been read at least once (or failed), or rejects when signal aborts. */
  ready(signal: AbortSignal): Promise<void>;
  /** The members of the latest discovery (configured endpoints until then). */
  members(): readonly MemberHandle[];
  /**
   * A v3 client with a channel of its own, for long-lived streams (watches)
   * that must not share fate with the round-based calls. The caller owns it
   * and must close it.
   */
  openV3Client(endpoint: Endpoint): OwnedV3Client;
}

export interface OwnedV3Client {
  readonly client: EtcdV3MemberClient;
  close(): void;
}

export interface InspectionOutcome {
  /** false: no verdict could be reached this round; counted as a failed inspection. */
  readonly ok: boolean;
  readonly error?: string;
  readonly summary: string;
  /**
   * What the inspection found wrong (an unhealthy member, a raised alarm, a
   * hash mismatch). Empty when everything passed; a failed round (ok false)
   * has its error instead.
   */
  readonly problems: readonly string[];
  readonly details: unknown;
  readonly metrics: readonly MetricSample[];
}

/** The per-cluster state of a feature: opened when enabled, closed when disabled or the cluster goes. */
export interface FeatureSession {
  inspect(signal: AbortSignal): Promise<InspectionOutcome>;
  close(): Promise<void>;
}

/**
 * An inspection plugin. One instance per process (built by the registry);
 * everything per cluster lives in the sessions it opens.
 */
export interface Feature<Options = unknown> {
  readonly name: string;
  readonly description: string;
  readonly backends: readonly StorageBackend[];
  readonly defaultIntervalSeconds: number;
  /** The metric families this feature exports (documented, linted). */
  readonly metrics: readonly MetricDefinition[];
  /** Validates and defaults the options; throws OptionsError naming the field. */
  parseOptions(raw: Readonly<Record<string, unknown>> | undefined): Options;
  open(cluster: ClusterHandle, options: Options): FeatureSession;
}

export class OptionsError extends Error {
  override name = 'OptionsError';
}
