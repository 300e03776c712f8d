/**
 * EtcdInspection (etcdmonitor.dev/v1alpha1, namespaced): one feature of one
 * EtcdCluster, run on its interval. The EtcdCluster controller creates one per
 * enabled feature (`<cluster>-<feature>`, owned by the cluster); the
 * EtcdInspection controller runs it and writes its status.
 */
import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { FEATURE_NAME_PATTERN, KNOWN_FEATURES } from './etcdcluster.ts';
import { Int64, KubeObject, Time } from './meta.ts';

export const ETCD_INSPECTION_KIND = 'EtcdInspection';
export const DEFAULT_INSPECTION_PROVIDER = 'etcd-monitor';

const immutable = (field: string) => ({
  'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: `${field} is immutable` }],
});

export const EtcdInspectionSpec = Type.Object(
  {
    clusterName: Type.String({
      minLength: 1,
      maxLength: 253,
      description: 'The EtcdCluster (same namespace) to inspect. Immutable.',
      ...immutable('clusterName'),
    }),
    inspectionType: Type.String({
      minLength: 1,
      maxLength: 63,
      pattern: FEATURE_NAME_PATTERN,
      description: `The feature to run: ${KNOWN_FEATURES.join(', ')}. Immutable.`,
      ...immutable('inspectionType'),
    }),
    inspectionProvider: Type.Optional(
      Type.String({
        default: DEFAULT_INSPECTION_PROVIDER,
        maxLength: 63,
        description:
          'The cluster provider of the inspected cluster (its clusterType, e.g. imported), set by the EtcdCluster controller; etcd-monitor when created by hand.',
      }),
    ),
    intervalInSecond: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 86_400,
        description: "Seconds between two rounds; the feature's default when absent.",
      }),
    ),
  },
  { description: 'Which feature of which cluster, and how often.' },
);
export type EtcdInspectionSpec = Static<typeof EtcdInspectionSpec>;

export const INSPECTION_PHASES = ['Pending', 'Ok', 'Problems', 'Error', 'Blocked'] as const;
export type InspectionPhase = (typeof INSPECTION_PHASES)[number];

export const InspectionResult = Type.Object(
  {
    ok: Type.Boolean({ description: 'false: the round reached no verdict (see error).' }),
    summary: Type.String({ maxLength: 1024, description: 'One line, e.g. "3/3 members healthy".' }),
    problems: Type.Optional(
      Type.Array(Type.String({ maxLength: 1024 }), {
        maxItems: 32,
        description: 'What the round found wrong (at most 32).',
      }),
    ),
    error: Type.Optional(Type.String({ maxLength: 4096, description: 'Why the round reached no verdict.' })),
    durationMilliseconds: Type.Optional(Int64({ minimum: 0 })),
  },
  { description: 'The outcome of the last round.' },
);
export type InspectionResult = Static<typeof InspectionResult>;

export const EtcdInspectionStatus = Type.Object(
  {
    phase: Type.Optional(
      Type.Union(
        INSPECTION_PHASES.map((p) => Type.Literal(p)),
        {
          description:
            'Pending (not run yet), Ok, Problems (found some), Error (no verdict) or Blocked (the cluster is missing or invalid).',
        },
      ),
    ),
    observedGeneration: Type.Optional(Int64({ minimum: 0 })),
    lastUpdatedTime: Type.Optional(Time('When the last round finished.')),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    lastResult: Type.Optional(InspectionResult),
  },
  { description: 'What the last round found.' },
);
export type EtcdInspectionStatus = Static<typeof EtcdInspectionStatus>;

export const EtcdInspection = KubeObject(ETCD_INSPECTION_KIND, EtcdInspectionSpec, EtcdInspectionStatus);
export type EtcdInspection = Static<typeof EtcdInspection>;

export const ETCD_INSPECTION_CRD = {
  kind: ETCD_INSPECTION_KIND,
  listKind: 'EtcdInspectionList',
  plural: 'etcdinspections',
  singular: 'etcdinspection',
  shortNames: ['etcdi'],
  categories: ['etcd-monitor', 'etcd'],
  spec: EtcdInspectionSpec,
  status: EtcdInspectionStatus,
  printerColumns: [
    { name: 'Cluster', type: 'string', jsonPath: '.spec.clusterName' },
    { name: 'Type', type: 'string', jsonPath: '.spec.inspectionType' },
    { name: 'Interval', type: 'integer', jsonPath: '.spec.intervalInSecond' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Summary', type: 'string', jsonPath: '.status.lastResult.summary', priority: 1 },
    { name: 'Updated', type: 'date', jsonPath: '.status.lastUpdatedTime' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
} as const;

/**
 * The name of the EtcdInspection that runs `feature` for `clusterName`:
 * `<cluster>-<feature>`. Names are at most 253 characters; a cluster name too
 * long for that is shortened and given a hash suffix, so the result is still
 * unique and stable.
 */
export function inspectionName(clusterName: string, feature: string): string {
  const name = `${clusterName}-${feature}`;
  if (name.length <= 253) return name;
  const hash = createHash('sha256').update(clusterName).digest('hex').slice(0, 10);
  const keep = 253 - feature.length - hash.length - 2;
  return `${clusterName.slice(0, keep).replace(/[-.]+$/, '')}-${hash}-${feature}`;
}
