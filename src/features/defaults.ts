/**
 * The built-in features by name (src/features/index.ts registers their
 * code), and whether a cluster that names none gets it — a standalone config
 * without `defaults`, an EtcdCluster without spec.features: those that cost
 * a few calls per member and round. consistency (a key walk per member, hash
 * scans), request (a watch) and latency (one sample a round) are asked for by
 * name. One table, so the daemon, the operator and the CRD cannot drift apart.
 */
const BUILTIN_FEATURES_ON_BY_DEFAULT = {
  healthy: true,
  alarm: true,
  consistency: false,
  request: false,
  quota: true,
  topology: true,
  certificates: true,
  performance: true,
  latency: false,
} as const;

export type BuiltinFeatureName = keyof typeof BUILTIN_FEATURES_ON_BY_DEFAULT;

export const BUILTIN_FEATURE_NAMES = Object.keys(
  BUILTIN_FEATURES_ON_BY_DEFAULT,
) as readonly BuiltinFeatureName[];

export const DEFAULT_FEATURES: readonly string[] = BUILTIN_FEATURE_NAMES.filter(
  (name) => BUILTIN_FEATURES_ON_BY_DEFAULT[name],
);
