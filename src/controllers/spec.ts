/**
 * The adapter both controllers share: an EtcdCluster (validated) and the
 * Secrets it names → the engine's ClusterSpec. Features are checked by the
 * feature registry (an unknown feature, options the feature rejects, a
 * feature that does not support the storage backend), Secrets here (missing,
 * bad PEM); problems name the field, so the controllers can say so in a
 * condition instead of the engine failing later.
 */
import { featureFingerprint, type ClusterSpec, type FeatureSpec } from '../engine/cluster-spec.ts';
import type { ClientOptions } from '../etcd/types.ts';
import { DEFAULT_CLIENT_OPTIONS } from '../etcd/types.ts';
import type { FeatureRegistry } from '../features/registry.ts';
import {
  authFromSecret,
  objectKey,
  tlsFromSecret,
  validateEtcdCluster,
  type Problem,
  type Secret,
  type Validated,
  type ValidEtcdCluster,
} from '../k8s/api/index.ts';
import type { DeepReadonly } from '../k8s/client/index.ts';
import type { ProviderRegistry } from '../providers/index.ts';

/** Where Secrets come from: the Secret informer's lister. */
export interface SecretSource {
  get(namespace: string | undefined, name: string): DeepReadonly<Secret> | undefined;
  /** Why a namespace's Secrets cannot be seen (not watched: --secret-namespaces), or undefined when they can. */
  unwatched?(namespace: string): string | undefined;
}

/** Deadlines of the calls to members (the CRD has no field for them). */
export interface ClientTimeouts {
  readonly dialTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export const DEFAULT_CLIENT_TIMEOUTS: ClientTimeouts = {
  dialTimeoutMs: DEFAULT_CLIENT_OPTIONS.dialTimeoutMs,
  requestTimeoutMs: DEFAULT_CLIENT_OPTIONS.requestTimeoutMs,
};

/** validateEtcdCluster with the features (the registry checks each one) and providers this process has. */
export function validateCluster(
  obj: unknown,
  features: FeatureRegistry,
  providers: ProviderRegistry,
): Validated<ValidEtcdCluster> {
  return validateEtcdCluster(obj, { features, clusterTypes: providers.names() });
}

/** The interval of a feature: the EtcdCluster's, else the feature's default. */
export function featureInterval(registry: FeatureRegistry, cluster: ValidEtcdCluster, name: string): number {
  return cluster.features[name]?.intervalSeconds ?? registry.get(name).defaultIntervalSeconds;
}

/** The engine id of an EtcdCluster: namespace/name, so same-named clusters of two namespaces never share state. */
export function clusterId(cluster: { readonly namespace: string; readonly name: string }): string {
  return objectKey(cluster);
}

/**
 * The engine spec of a cluster, with the given features. TLS material and
 * credentials are read from the Secrets now; a Secret that is missing or
 * does not hold what is needed is a problem (never a partial spec).
 */
export function clusterSpecFrom(
  cluster: ValidEtcdCluster,
  secrets: SecretSource,
  features: Readonly<Record<string, FeatureSpec>>,
  opts: { readonly timeouts?: ClientTimeouts; readonly membersIntervalSeconds?: number } = {},
): Validated<ClusterSpec> {
  const problems: Problem[] = [];
  let client: ClientOptions = { ...(opts.timeouts ?? DEFAULT_CLIENT_TIMEOUTS) };
  // A Secret in a namespace the operator does not watch: say so and name the flag, not just "not found".
  const unseen = (ref: {
    field: string;
    secretNamespace: string;
    secretName: string;
  }): Problem | undefined => {
    const why = secrets.unwatched?.(ref.secretNamespace);
    return why === undefined
      ? undefined
      : {
          field: ref.field,
          message: `Secret ${ref.secretNamespace}/${ref.secretName} cannot be read: ${why}`,
        };
  };
  if (cluster.tls !== undefined) {
    const hidden = unseen(cluster.tls);
    const tls = tlsFromSecret(cluster.tls, secrets.get(cluster.tls.secretNamespace, cluster.tls.secretName));
    if (hidden !== undefined) problems.push(hidden);
    else if (tls.ok) client = { ...client, tls: tls.value };
    else problems.push(...tls.problems);
  }
  if (cluster.auth !== undefined) {
    const hidden = unseen(cluster.auth);
    const auth = authFromSecret(
      cluster.auth,
      secrets.get(cluster.auth.secretNamespace, cluster.auth.secretName),
    );
    if (hidden !== undefined) problems.push(hidden);
    else if (auth.ok) client = { ...client, auth: auth.value };
    else problems.push(...auth.problems);
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: {
      id: clusterId(cluster),
      name: cluster.name,
      labels: { namespace: cluster.namespace },
      endpoints: cluster.endpoints,
      storageBackend: cluster.storageBackend,
      client,
      discoverMembers: true,
      features,
      ...(opts.membersIntervalSeconds !== undefined && {
        membersIntervalSeconds: opts.membersIntervalSeconds,
      }),
    },
  };
}

/**
 * Validation and specs, memoized per cached object. Informer objects are
 * frozen and replaced on every change, so an object's identity stands for
 * its content: a sync caused by a membership read or an inspection round
 * (the most frequent ones) re-runs neither the schema nor the PEM parsing.
 */
export class SpecCache {
  readonly #features: FeatureRegistry;
  readonly #providers: ProviderRegistry;
  readonly #validated = new WeakMap<object, Validated<ValidEtcdCluster>>();
  readonly #built = new WeakMap<
    object,
    { key: string; secrets: readonly unknown[]; result: Validated<ClusterSpec> }
  >();

  constructor(features: FeatureRegistry, providers: ProviderRegistry) {
    this.#features = features;
    this.#providers = providers;
  }

  validate(cluster: object): Validated<ValidEtcdCluster> {
    let result = this.#validated.get(cluster);
    if (result === undefined) {
      result = validateCluster(cluster, this.#features, this.#providers);
      this.#validated.set(cluster, result);
    }
    return result;
  }

  /** clusterSpecFrom, reused while the object, the Secrets it reads and the arguments are the same (the same spec object is returned). */
  build(
    cluster: object,
    valid: ValidEtcdCluster,
    secrets: SecretSource,
    features: Readonly<Record<string, FeatureSpec>>,
    opts: { readonly timeouts?: ClientTimeouts; readonly membersIntervalSeconds?: number } = {},
  ): Validated<ClusterSpec> {
    const used = [valid.tls, valid.auth].map((ref) =>
      ref === undefined ? undefined : secrets.get(ref.secretNamespace, ref.secretName),
    );
    const key = JSON.stringify([
      Object.entries(features).map(([name, feature]) => [name, featureFingerprint(feature)]),
      opts,
    ]);
    const cached = this.#built.get(cluster);
    if (cached !== undefined && cached.key === key && cached.secrets.every((s, i) => s === used[i]))
      return cached.result;
    const result = clusterSpecFrom(valid, secrets, features, opts);
    this.#built.set(cluster, { key, secrets: used, result });
    return result;
  }
}
