/**
 * The features a cluster gets when it names none — a standalone config without
 * `defaults`, an EtcdCluster without spec.features: those that cost a few calls
 * per member and round. consistency (a key walk per member, hash scans),
 * request (a watch) and latency (one sample a round) are asked for by name.
 * One list, so the daemon and the operator cannot drift apart.
 */
export const DEFAULT_FEATURES: readonly string[] = [
  'healthy',
  'alarm',
  'quota',
  'topology',
  'certificates',
  'performance',
];
