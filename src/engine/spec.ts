import { createHash } from 'node:crypto';
import { Secret } from '../etcd/secret.ts';
import type { ClientOptions } from '../etcd/types.ts';
import type { ClusterIdentity } from './contract.ts';

export type { StorageBackend } from './contract.ts';

export interface FeatureSpec {
  readonly enabled: boolean;
  readonly intervalSeconds: number;
  /** Deadline of one round; defaults to the interval (capped at 60 s). */
  readonly timeoutSeconds?: number;
  /** Feature-specific; validated by the feature's parseOptions. */
  readonly options?: Readonly<Record<string, unknown>>;
}

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
  readonly features: Readonly<Record<string, FeatureSpec>>;
  /**
   * How often membership is read; default: as often as the most frequent
   * enabled feature, at most every 30 s. The EtcdCluster controller runs
   * membership only (no features) and sets it from the cluster's features.
   */
  readonly membersIntervalSeconds?: number;
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

export function featureFingerprint(feature: FeatureSpec): string {
  return digest(feature);
}

/** A stable digest of JSON-able settings; Secrets enter as their hash (never as text). */
export function digest(value: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(comparable(value)))
    .digest('hex');
}

/** Secrets as hashes, bigints as text. Done before stringify: JSON.stringify would call Secret.toJSON first. */
function comparable(value: unknown): unknown {
  if (value instanceof Secret) return `secret:${createHash('sha256').update(value.reveal()).digest('hex')}`;
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(comparable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, comparable(v)]));
  }
  return value;
}
/** Enabled features only, in a stable order. */
export function enabledFeatures(spec: ClusterSpec): [string, FeatureSpec][] {
  return Object.entries(spec.features)
    .filter(([, f]) => f.enabled)
    .sort(([a], [b]) => a.localeCompare(b));
}

/** The deadline of one round of a feature. */
export function roundTimeoutMs(feature: FeatureSpec): number {
  const seconds = feature.timeoutSeconds ?? Math.min(feature.intervalSeconds, 60);
  return Math.max(1, seconds) * 1000;
}
