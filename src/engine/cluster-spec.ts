import { createHash } from 'node:crypto';
import { Secret } from '../etcd/secret.ts';
import type { ClientOptions } from '../etcd/types.ts';
import type { ClusterIdentity, FeatureSpec } from './contract.ts';

export type { FeatureSpec, StorageBackend } from './contract.ts';

/**
 * What the engine needs to inspect one cluster. Adapters (standalone config,
 * `inspect` flags, Kubernetes objects) build it; the engine never reads files
 * or Kubernetes objects itself.
 */
export interface ClusterSpec extends Omit<ClusterIdentity, 'labels'> {
  /** ClusterIdentity.labels; none when absent. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly client: ClientOptions;
  /**
   * true: inspect every member that MemberList reports (at its first client
   * URL); false: inspect only the configured endpoints (for members whose
   * advertised URLs are not reachable from the monitor).
   */
  readonly discoverMembers: boolean;
  /** The enabled features, by name, as FeatureRegistry.check accepted them. */
  readonly features: Readonly<Record<string, FeatureSpec>>;
  /**
   * How often membership is read; default: membersIntervalSeconds() of the
   * features. The EtcdCluster controller runs membership only (no features)
   * and sets it from the cluster's features with the same rule.
   */
  readonly membersIntervalSeconds?: number;
}

/** Membership is read at least this often. */
export const MAX_MEMBERS_INTERVAL_SECONDS = 30;

/**
 * The one rule for how often a cluster's membership is read: as often as
 * its most frequent feature runs, and at least every 30 s.
 */
export function membersIntervalSeconds(featureIntervals: readonly number[]): number {
  return Math.min(MAX_MEMBERS_INTERVAL_SECONDS, ...featureIntervals.filter((s) => s > 0));
}

/**
 * A digest of everything that needs new connections (or new feature
 * sessions: the labels are part of what they see) when it changes. Secrets
 * enter the digest (a changed password must reconnect) but never leave it.
 */
export function connectionFingerprint(spec: ClusterSpec): string {
  return digest({
    endpoints: spec.endpoints.map((e) => e.url),
    backend: spec.storageBackend,
    labels: spec.labels ?? {},
    discover: spec.discoverMembers,
    client: spec.client,
  });
}

/** What restarts a feature's session when it changes: its settings and parsed options. */
export function featureFingerprint(spec: FeatureSpec): string {
  return digest({
    feature: spec.feature.name,
    intervalSeconds: spec.intervalSeconds,
    timeoutSeconds: spec.timeoutSeconds,
    options: spec.options,
  });
}

/** A stable digest of JSON-able settings; Secrets enter as their hash (never as text). */
export function digest(value: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(comparable(value)))
    .digest('hex');
}

/** Secrets as hashes, bigints as text. Done before stringify: JSON.stringify would call Secret.toJSON first. */
function comparable(value: unknown): unknown {
  if (value instanceof Secret)
    return `secret:${createHash('sha256').update(value.revealBytes()).digest('hex')}`;
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(comparable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, comparable(v)]));
  }
  return value;
}
/**
 * The features in a stable order: by code point, not localeCompare (the
 * names are ASCII; the first localeCompare loads ICU's collation data,
 * 8-20 ms and ~3 MiB of RSS at every start).
 */
export function sortedFeatures(spec: ClusterSpec): [string, FeatureSpec][] {
  return Object.entries(spec.features).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The deadline of one round of a feature. */
export function roundTimeoutMs(feature: FeatureSpec): number {
  const seconds = feature.timeoutSeconds ?? Math.min(feature.intervalSeconds, 60);
  return Math.max(1, seconds) * 1000;
}
