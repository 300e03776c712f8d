/**
 * What the client needs to know of a resource: where it lives in the API and
 * how to check what comes back. One descriptor per kind; the typed client and
 * the informer are generic over them.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { CoreEvent, Lease, Secret } from '../api/core.ts';
import { ETCD_CLUSTER_CRD, EtcdCluster } from '../api/etcdcluster.ts';
import { ETCD_INSPECTION_CRD, EtcdInspection } from '../api/etcdinspection.ts';
import { GROUP, VERSION, objectKey, type ObjectMeta } from '../api/meta.ts';
import { schemaProblems } from '../api/validate.ts';
import { KubeDecodeError } from './errors.ts';
import { isRecord } from '../api/json.ts';

/** Every object the client handles has at least this. */
export interface KubeObjectLike {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
}

export interface ResourceDescriptor<T extends KubeObjectLike> {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** e.g. etcdclusters */
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Whether the resource has a status subresource. */
  readonly hasStatus: boolean;
  readonly schema: TSchema;
  /** Phantom: the decoded type. */
  readonly _type?: T;
}

export function describeResource<S extends TSchema>(
  d: Omit<ResourceDescriptor<Static<S> & KubeObjectLike>, 'schema' | '_type'> & { schema: S },
): ResourceDescriptor<Static<S> & KubeObjectLike> {
  return d;
}

export const etcdClusterResource: ResourceDescriptor<EtcdCluster> = describeResource({
  group: GROUP,
  version: VERSION,
  plural: ETCD_CLUSTER_CRD.plural,
  kind: ETCD_CLUSTER_CRD.kind,
  namespaced: true,
  hasStatus: true,
  schema: EtcdCluster,
});

export const etcdInspectionResource: ResourceDescriptor<EtcdInspection> = describeResource({
  group: GROUP,
  version: VERSION,
  plural: ETCD_INSPECTION_CRD.plural,
  kind: ETCD_INSPECTION_CRD.kind,
  namespaced: true,
  hasStatus: true,
  schema: EtcdInspection,
});

export const secretResource: ResourceDescriptor<Secret> = describeResource({
  group: '',
  version: 'v1',
  plural: 'secrets',
  kind: 'Secret',
  namespaced: true,
  hasStatus: false,
  schema: Secret,
});

export const leaseResource: ResourceDescriptor<Lease> = describeResource({
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
  hasStatus: false,
  schema: Lease,
});

export const eventResource: ResourceDescriptor<CoreEvent> = describeResource({
  group: '',
  version: 'v1',
  plural: 'events',
  kind: 'Event',
  namespaced: true,
  hasStatus: false,
  schema: CoreEvent,
});

export function apiVersionOf(d: ResourceDescriptor<KubeObjectLike>): string {
  return d.group === '' ? d.version : `${d.group}/${d.version}`;
}

/** e.g. etcdclusters.etcdmonitor.dev, secrets */
export function resourceName(d: ResourceDescriptor<KubeObjectLike>): string {
  return d.group === '' ? d.plural : `${d.plural}.${d.group}`;
}

/** The collection: all namespaces when namespace is undefined. */
export function collectionPath(d: ResourceDescriptor<KubeObjectLike>, namespace: string | undefined): string {
  const base = d.group === '' ? `/api/${d.version}` : `/apis/${d.group}/${d.version}`;
  if (!d.namespaced || namespace === undefined) return `${base}/${d.plural}`;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/${d.plural}`;
}

export function objectPath(
  d: ResourceDescriptor<KubeObjectLike>,
  namespace: string | undefined,
  name: string,
  subresource?: 'status',
): string {
  if (d.namespaced && (namespace === undefined || namespace === ''))
    throw new Error(`${resourceName(d)} is namespaced: a namespace is needed for ${name}`);
  if (name === '') throw new Error(`${resourceName(d)}: an object name is needed`);
  const path = `${collectionPath(d, d.namespaced ? namespace : undefined)}/${encodeURIComponent(name)}`;
  return subresource === undefined ? path : `${path}/${subresource}`;
}

/** "ops/a" of a raw object, for messages; "?" parts when absent. */
export function rawKey(raw: unknown): string {
  const meta = isRecord(raw) ? raw['metadata'] : undefined;
  if (!isRecord(meta)) return '?';
  const name = typeof meta['name'] === 'string' ? meta['name'] : '?';
  return typeof meta['namespace'] === 'string' ? `${meta['namespace']}/${name}` : name;
}

/**
 * Checks an object from the API against the resource's schema and types it.
 * apiVersion and kind are filled in when absent (list items of built-in
 * kinds carry neither); managedFields are dropped. Throws KubeDecodeError.
 */
export function decodeObject<T extends KubeObjectLike>(d: ResourceDescriptor<T>, raw: unknown): T {
  if (!isRecord(raw))
    throw new KubeDecodeError(`a ${d.kind} from the API`, [{ field: '(root)', message: 'not an object' }]);
  const metadata = isRecord(raw['metadata']) ? { ...raw['metadata'] } : raw['metadata'];
  if (isRecord(metadata)) delete metadata['managedFields'];
  const candidate = {
    ...raw,
    apiVersion: raw['apiVersion'] ?? apiVersionOf(d),
    kind: raw['kind'] ?? d.kind,
    metadata,
  };
  const { value, problems } = schemaProblems(d.schema, candidate);
  if (problems.length > 0) throw new KubeDecodeError(`${d.kind} ${rawKey(raw)}`, problems);
  return value as T;
}

/** The informer/lister key of an object: namespace/name, or name for cluster-scoped ones. */
export function keyOf(obj: {
  readonly metadata: { readonly name: string; readonly namespace?: string | undefined };
}): string {
  return objectKey(obj.metadata);
}
