import { Type, type Static } from '@sinclair/typebox';

const Seconds = (description: string, defaultValue?: number) =>
  Type.Integer({
    minimum: 1,
    maximum: 86_400,
    description,
    ...(defaultValue !== undefined ? { default: defaultValue } : {}),
  });

export const FeatureConfig = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ description: 'Defaults to true.' })),
    intervalSeconds: Type.Optional(
      Seconds('How often the inspection runs; the feature default when absent.'),
    ),
    timeoutSeconds: Type.Optional(Seconds('Deadline of one round; the interval (at most 60 s) when absent.')),
    options: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'Feature-specific options.' }),
    ),
  },
  { additionalProperties: false },
);

/**
 * Labels every series of a cluster carries (e.g. env, region). The loader
 * checks the names (Prometheus label names, none the metrics use themselves).
 */
export const LabelsConfig = Type.Record(Type.String(), Type.String({ maxLength: 1024 }), {
  maxProperties: 16,
  description: 'Extra labels on every series of the cluster, e.g. {env: prod, region: eu-1}.',
});

export const TlsConfig = Type.Object(
  {
    caFile: Type.Optional(Type.String({ minLength: 1 })),
    certFile: Type.Optional(Type.String({ minLength: 1 })),
    keyFile: Type.Optional(Type.String({ minLength: 1 })),
    serverName: Type.Optional(Type.String({ minLength: 1 })),
    insecureSkipVerify: Type.Optional(
      Type.Boolean({ description: 'Turns certificate verification off. Never in production.' }),
    ),
  },
  { additionalProperties: false },
);

export const AuthConfig = Type.Object(
  {
    username: Type.String({ minLength: 1 }),
    passwordFile: Type.String({
      minLength: 1,
      description: 'File holding the password; never the password itself.',
    }),
  },
  { additionalProperties: false },
);

export const ClusterConfig = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    labels: Type.Optional(LabelsConfig),
    endpoints: Type.Array(Type.String(), { minItems: 1 }),
    storageBackend: Type.Union([Type.Literal('v3'), Type.Literal('v2')], { default: 'v3' }),
    discoverMembers: Type.Boolean({ default: true }),
    dialTimeoutSeconds: Type.Optional(Seconds('Connection timeout per member.')),
    requestTimeoutSeconds: Type.Optional(Seconds('Deadline of each call to a member.')),
    tls: Type.Optional(TlsConfig),
    auth: Type.Optional(AuthConfig),
    features: Type.Optional(Type.Record(Type.String(), FeatureConfig)),
  },
  { additionalProperties: false },
);

export const MonitorConfig = Type.Object(
  {
    listen: Type.Optional(
      Type.String({ minLength: 1, description: 'HOST:PORT of the HTTP server; --listen overrides.' }),
    ),
    probeListen: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'HOST:PORT of a second listener serving only /healthz and /readyz, for the kubelet; --probe-listen overrides.',
      }),
    ),
    defaults: Type.Optional(
      Type.Object(
        {
          dialTimeoutSeconds: Seconds('Connection timeout per member.', 5),
          requestTimeoutSeconds: Seconds('Deadline of each call to a member.', 5),
          labels: Type.Optional(LabelsConfig),
          features: Type.Optional(Type.Record(Type.String(), FeatureConfig)),
        },
        { additionalProperties: false },
      ),
    ),
    metricPrefix: Type.Optional(
      Type.String({
        description:
          "Put in front of every inspection metric name; kstone_ exports kstone's names (kstone_inspection_…). --metric-prefix overrides.",
      }),
    ),
    sharding: Type.Optional(
      Type.Object(
        {
          shard: Type.Integer({ minimum: 0, description: "This daemon's shard, from 0 to totalShards - 1." }),
          totalShards: Type.Integer({
            minimum: 1,
            maximum: 1000,
            description: 'How many daemons share the clusters of this file.',
          }),
        },
        {
          additionalProperties: false,
          description:
            'Split the clusters of this file over several daemons that all read it: each inspects only the clusters its shard owns (rendezvous hashing of the names). --shard/--total-shards override.',
        },
      ),
    ),
    clusters: Type.Array(ClusterConfig),
  },
  { additionalProperties: false },
);

export type MonitorConfig = Static<typeof MonitorConfig>;
export type ClusterConfig = Static<typeof ClusterConfig>;
export type FeatureConfig = Static<typeof FeatureConfig>;
