/**
 * EtcdCluster (etcdmonitor.dev/v1alpha1, namespaced): an etcd cluster the
 * operator inspects. This schema is the one source of the TypeScript types,
 * the runtime checks of objects read from the API, and the CRD
 * (hack/gen-crds.ts → deploy/crds/etcdmonitor.dev_etcdclusters.yaml).
 */
import { Type, type Static } from '@sinclair/typebox';
import { BUILTIN_FEATURE_NAMES, DEFAULT_FEATURES } from '../../features/defaults.ts';
import { Conditions, Int64, KubeObject, Time } from './meta.ts';

export const ETCD_CLUSTER_KIND = 'EtcdCluster';

/** Cluster types the CRD admits; the provider registry decides which are served. */
export const CLUSTER_TYPES = ['imported'] as const;
export type ClusterType = (typeof CLUSTER_TYPES)[number];

/** The built-in features (src/features/index.ts); the default set of the validation. */
export const KNOWN_FEATURES = BUILTIN_FEATURE_NAMES;

export { DEFAULT_FEATURES };

/** Annotations kstone users bring along (honoured for migration; spec fields win). */
export const ANNOTATION_FEATURE_GATES = 'featureGates';
export const ANNOTATION_CERT_NAME = 'certName';

/** Standard key names looked up in a TLS Secret when none is given, in this order. */
export const TLS_DEFAULT_KEYS = {
  ca: ['ca.crt', 'ca.pem'],
  cert: ['tls.crt', 'client.pem'],
  key: ['tls.key', 'client-key.pem'],
} as const;
export const AUTH_DEFAULT_KEYS = { username: 'username', password: 'password' } as const;

const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const SECRET_KEY = '^[-._a-zA-Z0-9]+$';
/** scheme://host:port, host a name, an IPv4 or a bracketed IPv6; nothing after the port. */
export const ENDPOINT_PATTERN =
  '^https?://(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[0-9]{1,5}/?$';
export const FEATURE_NAME_PATTERN = '^[a-z][a-z0-9-]*$';

const SecretName = (description: string) =>
  Type.String({ minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN, description });
const SecretKey = (description: string) =>
  Type.String({ minLength: 1, maxLength: 253, pattern: SECRET_KEY, description });

export const TlsSecretRef = Type.Object(
  {
    secretName: SecretName(
      "Secret in the EtcdCluster's namespace holding the CA bundle and the client certificate and key (PEM).",
    ),
    caKey: Type.Optional(
      SecretKey(
        'Key of the CA bundle; default ca.crt, else ca.pem. Without a CA the system roots verify the members.',
      ),
    ),
    certKey: Type.Optional(SecretKey('Key of the client certificate; default tls.crt, else client.pem.')),
    keyKey: Type.Optional(SecretKey('Key of the client private key; default tls.key, else client-key.pem.')),
  },
  {
    description:
      "TLS towards the members (always verified). kstone's certName annotation is honoured when this is absent.",
  },
);
export type TlsSecretRef = Static<typeof TlsSecretRef>;

export const AuthSecretRef = Type.Object(
  {
    secretName: SecretName("Secret in the EtcdCluster's namespace holding the etcd user name and password."),
    usernameKey: Type.Optional(SecretKey('Key of the user name; default username.')),
    passwordKey: Type.Optional(SecretKey('Key of the password; default password.')),
  },
  { description: 'etcd username/password authentication.' },
);
export type AuthSecretRef = Static<typeof AuthSecretRef>;

export const FeatureSettings = Type.Object(
  {
    enabled: Type.Optional(
      Type.Boolean({ default: true, description: 'Whether the inspection runs; default true.' }),
    ),
    intervalSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 86_400,
        description: "How often the inspection runs; the feature's default when absent.",
      }),
    ),
    options: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'Feature-specific options (see docs/configuration.md); checked by the feature.',
        'x-kubernetes-preserve-unknown-fields': true,
      }),
    ),
  },
  { description: 'One inspection feature.' },
);
export type FeatureSettings = Static<typeof FeatureSettings>;

export const EtcdClusterSpec = Type.Object(
  {
    clusterType: Type.Optional(
      Type.Union(
        CLUSTER_TYPES.map((t) => Type.Literal(t)),
        {
          default: 'imported',
          description:
            'How the cluster is provided: imported (an existing cluster, reached at endpoints; the default). Immutable.',
          'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'clusterType is immutable' }],
        },
      ),
    ),
    endpoints: Type.Array(
      Type.String({
        maxLength: 512,
        'x-kubernetes-validations': [
          {
            rule: `self.matches(r'${ENDPOINT_PATTERN}')`,
            message:
              'an endpoint needs a scheme (http:// or https://) and a port, and nothing after the port, e.g. https://10.0.0.1:2379',
          },
        ],
      }),
      {
        minItems: 1,
        maxItems: 32,
        description:
          'Client URLs to import the cluster from (scheme://host:port); the other members are discovered from the member list.',
      },
    ),
    storageBackend: Type.Optional(
      Type.Union([Type.Literal('v3'), Type.Literal('v2')], {
        default: 'v3',
        description: 'etcd API to inspect: v3 (default) or v2 (etcd 3.4/3.5 with --enable-v2).',
      }),
    ),
    description: Type.Optional(Type.String({ maxLength: 1024, description: 'Free text.' })),
    tls: Type.Optional(TlsSecretRef),
    auth: Type.Optional(AuthSecretRef),
    features: Type.Optional(
      Type.Record(Type.String(), FeatureSettings, {
        maxProperties: 16,
        description: `Inspections by feature name (${KNOWN_FEATURES.join(', ')}). Absent (and no featureGates annotation): ${DEFAULT_FEATURES.join(', ')} run with their defaults.`,
        'x-kubernetes-validations': [
          {
            rule: `self.all(k, k.matches(r'${FEATURE_NAME_PATTERN}'))`,
            message: 'feature names are lower-case words, e.g. healthy',
          },
        ],
      }),
    ),
  },
  { description: 'The cluster to inspect and how.' },
);
export type EtcdClusterSpec = Static<typeof EtcdClusterSpec>;

export const CLUSTER_PHASES = [
  'Pending',
  'Running',
  'Degraded',
  'Unavailable',
  'Invalid',
  'Terminating',
] as const;
export type ClusterPhase = (typeof CLUSTER_PHASES)[number];

/** Condition types the EtcdCluster controller maintains. */
export const CLUSTER_CONDITIONS = [
  'Ready',
  'Healthy',
  'Consistent',
  'AlarmsClear',
  'WithinQuota',
  'TopologyOk',
  'CertificatesValid',
  'PerformanceOk',
  'LatencyOk',
] as const;
export type ClusterConditionType = (typeof CLUSTER_CONDITIONS)[number];

export const MemberStatus = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{1,16}$', description: 'Member ID in hex, as etcdctl prints it.' }),
  name: Type.Optional(Type.String({ description: 'Empty for a member that has not started yet.' })),
  endpoint: Type.Optional(Type.String({ description: 'host:port the member is inspected at.' })),
  clientURLs: Type.Optional(Type.Array(Type.String(), { maxItems: 16 })),
  version: Type.Optional(Type.String({ description: 'etcd server version.' })),
  role: Type.Optional(
    Type.Union([
      Type.Literal('leader'),
      Type.Literal('follower'),
      Type.Literal('learner'),
      Type.Literal('unknown'),
    ]),
  ),
  healthy: Type.Boolean(),
  dbSize: Type.Optional(Int64({ minimum: 0, description: 'Backend database size in bytes.' })),
  errors: Type.Optional(
    Type.Array(Type.String({ maxLength: 1024 }), {
      maxItems: 16,
      description: 'Why the member is not healthy or could not be inspected.',
    }),
  ),
});
export type MemberStatus = Static<typeof MemberStatus>;

export const FeatureGateStatus = Type.Object({
  enabled: Type.Boolean(),
  inspection: Type.Optional(Type.String({ description: 'The EtcdInspection that runs this feature.' })),
  message: Type.Optional(Type.String({ maxLength: 1024 })),
});
export type FeatureGateStatus = Static<typeof FeatureGateStatus>;

export const EtcdClusterStatus = Type.Object(
  {
    phase: Type.Optional(
      Type.Union(
        CLUSTER_PHASES.map((p) => Type.Literal(p)),
        { description: 'Pending, Running, Degraded, Unavailable, Invalid or Terminating.' },
      ),
    ),
    conditions: Type.Optional(
      Conditions(
        'Ready, Healthy, Consistent, AlarmsClear, WithinQuota, TopologyOk, CertificatesValid, PerformanceOk, LatencyOk.',
      ),
    ),
    observedGeneration: Type.Optional(
      Int64({ minimum: 0, description: 'The .metadata.generation this status describes.' }),
    ),
    members: Type.Optional(
      Type.Array(MemberStatus, {
        maxItems: 64,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['id'],
      }),
    ),
    membersReady: Type.Optional(
      Type.String({ maxLength: 16, description: 'Healthy members / all members, e.g. 3/3.' }),
    ),
    leader: Type.Optional(Type.String({ description: 'Name (or hex ID) of the leader.' })),
    version: Type.Optional(Type.String({ description: 'etcd version of the cluster.' })),
    featureGatesStatus: Type.Optional(
      Type.Record(Type.String(), FeatureGateStatus, {
        maxProperties: 16,
        description: 'Per feature: enabled, and the EtcdInspection that runs it.',
      }),
    ),
    lastInspectionTime: Type.Optional(Time('When the cluster was last inspected.')),
  },
  { description: 'What the operator last observed.' },
);
export type EtcdClusterStatus = Static<typeof EtcdClusterStatus>;

export const EtcdCluster = KubeObject(ETCD_CLUSTER_KIND, EtcdClusterSpec, EtcdClusterStatus);
export type EtcdCluster = Static<typeof EtcdCluster>;

/** CRD names and columns (the schema above is the rest). */
export const ETCD_CLUSTER_CRD = {
  kind: ETCD_CLUSTER_KIND,
  listKind: 'EtcdClusterList',
  plural: 'etcdclusters',
  singular: 'etcdcluster',
  shortNames: ['etcdc'],
  categories: ['etcd-monitor', 'etcd'],
  spec: EtcdClusterSpec,
  status: EtcdClusterStatus,
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    {
      name: 'Members',
      type: 'string',
      jsonPath: '.status.membersReady',
      description: 'Healthy members / all members',
    },
    { name: 'Leader', type: 'string', jsonPath: '.status.leader' },
    { name: 'Version', type: 'string', jsonPath: '.status.version' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    { name: 'Type', type: 'string', jsonPath: '.spec.clusterType', priority: 1 },
    { name: 'Inspected', type: 'date', jsonPath: '.status.lastInspectionTime', priority: 1 },
  ],
} as const;
