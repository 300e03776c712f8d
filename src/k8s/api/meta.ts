/**
 * The parts of Kubernetes' object model that our kinds share: ObjectMeta (the
 * fields the operator reads; others pass through untyped), owner references
 * and status conditions. TypeBox schemas, so every object read from the API
 * is checked before it is typed.
 */
import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';

export const GROUP = 'etcdmonitor.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

// RFC 3339 as Kubernetes writes it (metav1.Time: seconds, "Z" or an offset).
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set('date-time', (value) => RFC3339.test(value) && !Number.isNaN(Date.parse(value)));

/** A date as metav1.Time is written: RFC 3339 in whole seconds, UTC ("2025-01-01T00:00:00Z"). */
export function kubeTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** A metav1.Time: RFC 3339 text. */
export const Time = (description?: string) =>
  Type.String({ format: 'date-time', ...(description !== undefined && { description }) });

/** A Date as the API writes a metav1.MicroTime (Lease times): six fractional digits. */
export function kubeMicroTime(date: Date): string {
  return date.toISOString().replace(/Z$/, '000Z');
}

/** Text cut to an API field's limit, with an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** A 64-bit integer that fits a JS number (generation, sizes). */
export const Int64 = (options: { description?: string; minimum?: number } = {}) =>
  Type.Integer({ format: 'int64', ...options });

export const OwnerReference = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  uid: Type.String(),
  controller: Type.Optional(Type.Boolean()),
  blockOwnerDeletion: Type.Optional(Type.Boolean()),
});
export type OwnerReference = Static<typeof OwnerReference>;

/**
 * ObjectMeta as read from the API: name always set, the rest as the server
 * fills it. managedFields are dropped on decoding (they are large and the
 * operator never uses them); unlisted fields pass through.
 */
export const ObjectMeta = Type.Object({
  name: Type.String({ minLength: 1 }),
  namespace: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  generation: Type.Optional(Int64()),
  creationTimestamp: Type.Optional(Time()),
  deletionTimestamp: Type.Optional(Time()),
  deletionGracePeriodSeconds: Type.Optional(Type.Integer()),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  ownerReferences: Type.Optional(Type.Array(OwnerReference)),
  finalizers: Type.Optional(Type.Array(Type.String())),
});
export type ObjectMeta = Static<typeof ObjectMeta>;

/** What a client may send as metadata: name required unless generateName is given. */
export interface ObjectMetaInput {
  name?: string;
  generateName?: string;
  namespace?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

export const ConditionStatus = Type.Union([
  Type.Literal('True'),
  Type.Literal('False'),
  Type.Literal('Unknown'),
]);
export type ConditionStatus = Static<typeof ConditionStatus>;

/** metav1.Condition, with the same constraints. */
export const Condition = Type.Object({
  type: Type.String({
    minLength: 1,
    maxLength: 316,
    pattern:
      '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
  }),
  status: ConditionStatus,
  reason: Type.String({
    minLength: 1,
    maxLength: 1024,
    pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    description: 'CamelCase reason of the last transition.',
  }),
  message: Type.String({ maxLength: 32768, description: 'Human-readable details.' }),
  lastTransitionTime: Time('When status last changed.'),
  observedGeneration: Type.Optional(
    Int64({ minimum: 0, description: 'The .metadata.generation the condition was set for.' }),
  ),
});
export type Condition = Static<typeof Condition>;

/** A list of conditions keyed by type, as Kubernetes merges them. */
export const Conditions = (description: string) =>
  Type.Array(Condition, {
    description,
    maxItems: 32,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  });

/** A whole object of one of our kinds: envelope, metadata, spec and optional status. */
export const KubeObject = <K extends string, S extends TSchema, St extends TSchema>(
  kind: K,
  spec: S,
  status: St,
) =>
  Type.Object({
    apiVersion: Type.Literal(API_VERSION),
    kind: Type.Literal(kind),
    metadata: ObjectMeta,
    spec,
    status: Type.Optional(status),
  });

/** Object keys as a namespace/name string (client-go's MetaNamespaceKeyFunc). */
export function objectKey(meta: { readonly name: string; readonly namespace?: string | undefined }): string {
  return meta.namespace !== undefined && meta.namespace !== '' ? `${meta.namespace}/${meta.name}` : meta.name;
}

/** The inverse of objectKey. */
export function splitObjectKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  if (slash < 0) return { namespace: undefined, name: key };
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The owner reference that makes `owner` the controller of an object (as the EtcdCluster owns its EtcdInspections). */
export function controllerRef(owner: {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly uid?: string | undefined };
}): OwnerReference {
  const uid = owner.metadata.uid;
  if (uid === undefined || uid === '')
    throw new Error(
      `${owner.kind} ${owner.metadata.name} has no uid yet: read it from the API before owning objects with it`,
    );
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}
