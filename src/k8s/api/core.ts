/**
 * The built-in objects the operator reads or writes besides its own kinds:
 * Secrets (TLS material and passwords of clusters), Leases (leader
 * election) and core/v1 Events. Only what is used is typed; other fields
 * pass through untouched (a Lease read and written back keeps them).
 */
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta, Time } from './meta.ts';

export const Secret = Type.Object({
  apiVersion: Type.Literal('v1'),
  kind: Type.Literal('Secret'),
  metadata: ObjectMeta,
  type: Type.Optional(Type.String()),
  /** Values are base64, as the API sends them. */
  data: Type.Optional(Type.Record(Type.String(), Type.String())),
  immutable: Type.Optional(Type.Boolean()),
});
export type Secret = Static<typeof Secret>;

/** The decoded bytes of one key of a Secret, or undefined when the key is absent. */
export function secretValue(
  secret: { readonly data?: Readonly<Record<string, string>> | undefined },
  key: string,
): Buffer | undefined {
  const encoded = secret.data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64');
}

/** coordination.k8s.io/v1 LeaseSpec: the leader-election record. MicroTimes are RFC 3339 with microseconds. */
export const LeaseSpec = Type.Object({
  holderIdentity: Type.Optional(Type.String()),
  leaseDurationSeconds: Type.Optional(Type.Integer()),
  acquireTime: Type.Optional(Time()),
  renewTime: Type.Optional(Time()),
  leaseTransitions: Type.Optional(Type.Integer()),
});
export type LeaseSpec = Static<typeof LeaseSpec>;

export const Lease = Type.Object({
  apiVersion: Type.Literal('coordination.k8s.io/v1'),
  kind: Type.Literal('Lease'),
  metadata: ObjectMeta,
  spec: Type.Optional(LeaseSpec),
});
export type Lease = Static<typeof Lease>;

/** core/v1 ObjectReference: what an Event is about. */
export const ObjectReference = Type.Object({
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  fieldPath: Type.Optional(Type.String()),
});
export type ObjectReference = Static<typeof ObjectReference>;

/** An optional metav1.Time that Events written through events.k8s.io/v1 leave null. */
const NullableTime = Type.Optional(Type.Union([Time(), Type.Null()]));

/**
 * core/v1 Event. Core rather than events.k8s.io/v1 because deduplication
 * counts live in `count`/`lastTimestamp` there, which `kubectl describe`
 * and `kubectl get events` show (COUNT, LAST SEEN); events.k8s.io/v1 keeps
 * them in `series`, which those views do not show. Both APIs store the
 * same objects.
 */
export const CoreEvent = Type.Object({
  apiVersion: Type.Literal('v1'),
  kind: Type.Literal('Event'),
  metadata: ObjectMeta,
  involvedObject: ObjectReference,
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  type: Type.Optional(Type.String()),
  count: Type.Optional(Type.Integer()),
  firstTimestamp: NullableTime,
  lastTimestamp: NullableTime,
  source: Type.Optional(
    Type.Object({ component: Type.Optional(Type.String()), host: Type.Optional(Type.String()) }),
  ),
  reportingComponent: Type.Optional(Type.String()),
  reportingInstance: Type.Optional(Type.String()),
});
export type CoreEvent = Static<typeof CoreEvent>;
