/**
 * The informers the controllers read from: EtcdClusters (optionally by label
 * selector), EtcdInspections and Secrets, with the indexes that map an event
 * to the keys it concerns. One set per process: under `etcd-monitor
 * operator` both controllers share it (one list+watch per kind, one cache).
 */
import {
  ANNOTATION_CERT_NAME,
  ETCD_CLUSTER_KIND,
  objectKey,
  parseCertName,
  splitObjectKey,
  type EtcdCluster,
  type EtcdInspection,
  type Secret,
} from '../k8s/api/index.ts';
import {
  createInformer,
  type Clients,
  type DeepReadonly,
  type EventHandler,
  type Informer,
  type KubeObjectLike,
  type Lister,
  type Retention,
} from '../k8s/client/index.ts';
import type { Shard } from '../engine/shard.ts';
import type { ClusterSnapshot, SnapshotStore } from '../engine/snapshot.ts';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { SecretSource } from './spec.ts';

/** EtcdClusters by the Secrets they reference ("namespace/secret"): a Secret event → the clusters to sync. */
export const CLUSTERS_BY_SECRET = 'secret';
/** EtcdInspections by their controlling EtcdCluster ("namespace/cluster"). */
export const INSPECTIONS_BY_OWNER = 'owner';
/** EtcdInspections by spec.clusterName ("namespace/cluster"), whoever created them. */
export const INSPECTIONS_BY_CLUSTER = 'cluster';

export function secretRefs(cluster: DeepReadonly<EtcdCluster>): string[] {
  const ns = cluster.metadata.namespace ?? '';
  const refs = new Set<string>();
  if (cluster.spec.tls !== undefined) refs.add(`${ns}/${cluster.spec.tls.secretName}`);
  if (cluster.spec.auth !== undefined) refs.add(`${ns}/${cluster.spec.auth.secretName}`);
  const certName = cluster.metadata.annotations?.[ANNOTATION_CERT_NAME];
  if (cluster.spec.tls === undefined && certName !== undefined) {
    const ref = parseCertName(certName, ns);
    if (ref.ok) refs.add(`${ref.namespace}/${ref.name}`);
  }
  return [...refs];
}

/** "namespace/name" of the EtcdCluster that controls the inspection, if any. */
export function ownerKey(inspection: DeepReadonly<EtcdInspection>): string | undefined {
  const owner = inspection.metadata.ownerReferences?.find(
    (r) => r.controller === true && r.kind === ETCD_CLUSTER_KIND,
  );
  return owner === undefined
    ? undefined
    : objectKey({ namespace: inspection.metadata.namespace, name: owner.name });
}

/**
 * Calls `react` with an object added or deleted, and with the new object of
 * an update; when `parts` is given, only if the parts that matter to the
 * caller differ (compared as JSON; a resync, which hands the same object
 * twice, always counts). The controllers' handlers only enqueue keys, so
 * this is all a handler needs. Returns the remover.
 */
export function onChange<T extends KubeObjectLike>(
  informer: Pick<Informer<T>, 'addEventHandler'>,
  react: (obj: DeepReadonly<T>) => void,
  parts?: (obj: DeepReadonly<T>) => unknown,
): () => void {
  return informer.addEventHandler({
    onAdd: (obj) => react(obj),
    onUpdate: (a, b) => {
      if (parts === undefined || a === b || JSON.stringify(parts(a)) !== JSON.stringify(parts(b))) react(b);
    },
    onDelete: (obj) => react(obj),
  });
}

/**
 * Calls `react` with a cluster's id when the parts of its engine snapshot
 * that matter to the caller changed: compared one by one by identity (the
 * engine replaces what it updates); a cluster seen for the first time
 * counts as having had no parts. A cluster leaving the engine is forgotten,
 * not reacted to. Returns the remover.
 */
export function onSnapshotChange(
  store: Pick<SnapshotStore, 'subscribe'>,
  parts: (snapshot: ClusterSnapshot) => readonly unknown[],
  react: (id: string) => void,
): () => void {
  const seen = new Map<string, readonly unknown[]>();
  return store.subscribe((id, snapshot) => {
    if (snapshot === undefined) {
      seen.delete(id);
      return;
    }
    const now = parts(snapshot);
    const before = seen.get(id) ?? [];
    if (before.length === now.length && before.every((part, i) => part === now[i])) return;
    seen.set(id, now);
    react(id);
  });
}

/**
 * Calls `react` with the key of every EtcdCluster that references a Secret
 * (TLS, auth, certName annotation) whose data changed, was added or deleted.
 * Returns the remover.
 */
export function onSecretChange(
  informers: Pick<SharedInformers, 'clusters' | 'secrets'>,
  react: (clusterKey: string) => void,
): () => void {
  return onChange(
    informers.secrets,
    (secret) => {
      for (const c of informers.clusters.lister.byIndex(CLUSTERS_BY_SECRET, objectKey(secret.metadata)))
        react(objectKey(c.metadata));
    },
    (secret) => secret.data,
  );
}

export function inspectedClusterKey(inspection: DeepReadonly<EtcdInspection>): string {
  return objectKey({ namespace: inspection.metadata.namespace, name: inspection.spec.clusterName });
}

export interface SharedInformersOptions {
  /** Only EtcdClusters with these labels (--label-selector). */
  readonly labelSelector?: string;
  /** Every cached EtcdCluster and EtcdInspection is handed to the controllers again this often. */
  readonly resyncPeriodMs: number;
  readonly logger: Logger;
  /**
   * Watch Secrets only in these namespaces (--secret-namespaces), one
   * informer each, so that RBAC can grant Secret reads there alone (Roles)
   * instead of cluster-wide. Default: every namespace.
   */
  readonly secretNamespaces?: readonly string[];
  /**
   * Sharding: the EtcdClusters this replica acts on, and their
   * EtcdInspections, are cached whole; every other one packed (its JSON
   * text, parsed only when read). Default: everything whole.
   */
  readonly shard?: Shard;
}

/** EtcdClusters are kept whole when the shard owns them: by UID (by key without one), as the controllers decide. */
export function clusterRetention(shard: Shard): Retention<EtcdCluster> {
  return { tag: (c) => c.metadata.uid ?? objectKey(c.metadata), whole: (tag) => shard.owns(tag) };
}

/**
 * EtcdInspections follow their cluster: tagged with the UID of their
 * controlling EtcdCluster, else with "namespace/clusterName", which is
 * resolved to that cluster's shard key (`clusterShardKey`) when decided. A
 * UID has no "/".
 */
export function inspectionRetention(
  shard: Shard,
  clusterShardKey: (clusterKey: string) => string | undefined,
): Retention<EtcdInspection> {
  return {
    tag: (i) =>
      i.metadata.ownerReferences?.find((r) => r.controller === true && r.kind === ETCD_CLUSTER_KIND)?.uid ??
      inspectedClusterKey(i),
    whole: (tag) => shard.owns(tag.includes('/') ? (clusterShardKey(tag) ?? tag) : tag),
  };
}

/** What the controllers use of the Secret cache: one informer, or one per namespace. */
export type SecretCache = Pick<Informer<Secret>, 'addEventHandler' | 'start' | 'stop' | 'waitForSync'> & {
  readonly lister: Lister<Secret> & Pick<SecretSource, 'unwatched'>;
};

/** Secrets of a few namespaces, one informer each, seen as one cache. */
class NamespacedSecrets implements SecretCache {
  readonly #byNamespace: ReadonlyMap<string, Informer<Secret>>;

  constructor(clients: Clients, namespaces: readonly string[], logger: Logger) {
    this.#byNamespace = new Map(
      [...new Set(namespaces)].map((namespace) => [
        namespace,
        createInformer(clients.secrets, { namespace }, { logger }),
      ]),
    );
  }

  get lister(): Lister<Secret> & Pick<SecretSource, 'unwatched'> {
    const all = [...this.#byNamespace.values()];
    const watched = [...this.#byNamespace.keys()];
    // A Secret in a namespace that is not watched is not there; unwatched()
    // tells the cluster that names it why, naming the flag.
    return {
      unwatched: (namespace) =>
        this.#byNamespace.has(namespace)
          ? undefined
          : `the operator reads Secrets only in namespace${watched.length === 1 ? '' : 's'} ${watched.join(', ')} (--secret-namespaces); add ${namespace} to --secret-namespaces (the chart's rbac.secretNamespaces) or put the Secret in one of those`,
      get: (namespace, name) =>
        namespace === undefined ? undefined : this.#byNamespace.get(namespace)?.lister.get(namespace, name),
      list: (namespace, selector) =>
        namespace === undefined
          ? all.flatMap((i) => i.lister.list(undefined, selector))
          : (this.#byNamespace.get(namespace)?.lister.list(namespace, selector) ?? []),
      byIndex: (index, value) => all.flatMap((i) => i.lister.byIndex(index, value)),
      indexValues: (index) => [...new Set(all.flatMap((i) => i.lister.indexValues(index)))],
      keys: () => all.flatMap((i) => i.lister.keys()),
      get size() {
        return all.reduce((n, i) => n + i.lister.size, 0);
      },
    };
  }

  addEventHandler(handler: EventHandler<Secret>): () => void {
    const removers = [...this.#byNamespace.values()].map((i) => i.addEventHandler(handler));
    return () => {
      for (const remove of removers) remove();
    };
  }

  start(): void {
    for (const i of this.#byNamespace.values()) i.start();
  }

  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    const synced = await Promise.all([...this.#byNamespace.values()].map((i) => i.waitForSync(signal)));
    return synced.every(Boolean);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#byNamespace.values()].map((i) => i.stop()));
  }
}

export class SharedInformers {
  readonly clusters: Informer<EtcdCluster>;
  readonly inspections: Informer<EtcdInspection>;
  readonly secrets: SecretCache;

  constructor(clients: Clients, opts: SharedInformersOptions) {
    const logger = opts.logger.child({ component: 'informer' });
    const shard = opts.shard;
    // Why packed and not left out (kube-state-metrics' sharding drops what is not its shard): a
    // cluster that moves here must be acted on at once with its full current object; re-listing
    // 10,000 clusters, or a GET per moved object at the client's rate limit, would take minutes.
    this.clusters = createInformer(
      clients.etcdClusters,
      opts.labelSelector !== undefined ? { labelSelector: opts.labelSelector } : {},
      {
        resyncPeriodMs: opts.resyncPeriodMs,
        logger,
        indexers: { [CLUSTERS_BY_SECRET]: secretRefs },
        ...(shard !== undefined && { retention: clusterRetention(shard) }),
      },
    );
    this.inspections = createInformer(
      clients.etcdInspections,
      {},
      {
        resyncPeriodMs: opts.resyncPeriodMs,
        logger,
        ...(shard !== undefined && {
          retention: inspectionRetention(shard, (key) => this.clusterShardKey(key)),
        }),
        indexers: {
          [INSPECTIONS_BY_OWNER]: (i) => {
            const key = ownerKey(i);
            return key === undefined ? [] : [key];
          },
          [INSPECTIONS_BY_CLUSTER]: (i) => [inspectedClusterKey(i)],
        },
      },
    );
    this.secrets =
      opts.secretNamespaces === undefined
        ? createInformer(clients.secrets, {}, { logger })
        : new NamespacedSecrets(clients, opts.secretNamespaces, logger);
  }

  /**
   * What an EtcdCluster's shard is decided on: its UID (its key when it has
   * none), read without parsing a packed object; undefined when it is not
   * cached.
   */
  clusterShardKey(clusterKey: string): string | undefined {
    const tag = this.clusters.tagOf(clusterKey);
    if (tag !== undefined) return tag;
    const { namespace, name } = splitObjectKey(clusterKey);
    const cluster = this.clusters.lister.get(namespace, name);
    return cluster === undefined ? undefined : (cluster.metadata.uid ?? clusterKey);
  }

  /** The shard moved: keep whole what this replica now acts on, pack the rest (clusters first: inspections follow them). */
  retain(): void {
    this.clusters.retain();
    this.inspections.retain();
  }

  start(): void {
    this.clusters.start();
    this.inspections.start();
    this.secrets.start();
  }

  /** Resolves true once every cache holds its first list; false when the signal aborts first. */
  async waitForSync(signal: AbortSignal): Promise<boolean> {
    const synced = await Promise.all([
      this.clusters.waitForSync(signal),
      this.inspections.waitForSync(signal),
      this.secrets.waitForSync(signal),
    ]);
    return synced.every(Boolean);
  }

  async stop(): Promise<void> {
    await Promise.all([this.clusters.stop(), this.inspections.stop(), this.secrets.stop()]);
  }
}

/**
 * etcd_monitor_informer_objects{resource, form}: the objects the operator's
 * caches hold, whole (parsed) or packed (another shard's, as JSON text), so
 * that a replica's memory can be told apart from its share.
 */
export function registerCacheMetrics(registry: Registry, informers: () => SharedInformers | undefined): void {
  new Gauge({
    name: 'etcd_monitor_informer_objects',
    help: "Objects in the operator's informer caches by resource, whole (parsed) or packed (another shard's, kept as JSON text).",
    labelNames: ['resource', 'form'],
    registers: [registry],
    collect() {
      this.reset();
      const now = informers();
      if (now === undefined) return;
      for (const informer of [now.clusters, now.inspections]) {
        const stats = informer.retentionStats();
        this.set({ resource: informer.name, form: 'whole' }, stats.whole);
        this.set({ resource: informer.name, form: 'packed' }, stats.packed);
      }
      this.set({ resource: 'secrets', form: 'whole' }, now.secrets.lister.size);
      this.set({ resource: 'secrets', form: 'packed' }, 0);
    },
  });
}
