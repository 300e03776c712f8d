/**
 * Metric families. Names and labels of the kstone-compatible families are
 * kept exactly as existing dashboards use them (camelCase labels included);
 * see docs/metrics.md for the lint findings this implies.
 */
/** A summary's samples are its quantiles plus `<name>_sum` and `<name>_count` (see MetricSample.family). */
export type MetricType = 'gauge' | 'counter' | 'summary';

export interface MetricDefinition {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  /** Labels besides the cluster's (clusterName and the cluster's own labels, e.g. namespace). */
  readonly labels: readonly string[];
}

const define =
  (type: MetricType) =>
  (name: string, help: string, labels: readonly string[] = []): MetricDefinition => ({
    name,
    type,
    help,
    labels,
  });

/** One family in one line: `family.gauge(name, help, labels)`; no labels besides the cluster's by default. */
export const family = {
  gauge: define('gauge'),
  counter: define('counter'),
  summary: define('summary'),
} as const;

/** Families the engine itself exports for every cluster, whatever features are on. */
export const ENGINE_METRICS = {
  failed: family.counter(
    'inspection_failed_num',
    'Inspections that could not reach a verdict, by inspection type (kstone-compatible name).',
    ['inspectionType'],
  ),
  success: family.gauge(
    'inspection_feature_success',
    '1 when the last round of the inspection reached a verdict, 0 when it failed.',
    ['inspectionType'],
  ),
  duration: family.gauge(
    'inspection_feature_duration_seconds',
    'Duration of the last round of the inspection.',
    ['inspectionType'],
  ),
  lastRun: family.gauge(
    'inspection_feature_last_run_timestamp_seconds',
    'Unix time the last round of the inspection started.',
    ['inspectionType'],
  ),
  interval: family.gauge(
    'inspection_feature_interval_seconds',
    'Configured interval of the inspection: the staleness alert compares the last run with it.',
    ['inspectionType'],
  ),
  consecutiveFailures: family.gauge(
    'inspection_feature_consecutive_failures',
    'Rounds of the inspection that failed in a row up to the last one; 0 after a success.',
    ['inspectionType'],
  ),
  runs: family.counter('inspection_feature_runs_total', 'Rounds of the inspection run, successful or not.', [
    'inspectionType',
  ]),
  discoverySuccess: family.gauge(
    'inspection_etcd_member_discovery_success',
    '1 when the last member list of the cluster could be read, else 0.',
  ),
  members: family.gauge('inspection_etcd_members', 'Members in the cluster membership, learners included.'),
  memberInfo: family.gauge(
    'inspection_etcd_member_info',
    'Always 1 for each member: its ID (hex), name, version and role (leader, follower, learner, unknown).',
    ['endpoint', 'memberId', 'memberName', 'version', 'role'],
  ),
  memberStatusUp: family.gauge(
    'inspection_etcd_member_status_up',
    '1 when the member answered its last Status call, else 0.',
    ['endpoint'],
  ),
  isLeader: family.gauge(
    'inspection_etcd_member_is_leader',
    '1 for the member that is the raft leader, else 0.',
    ['endpoint'],
  ),
  dbSize: family.gauge('inspection_etcd_member_db_size_bytes', 'Size of the member backend database file.', [
    'endpoint',
  ]),
  dbSizeInUse: family.gauge(
    'inspection_etcd_member_db_size_in_use_bytes',
    'Bytes of the backend database in use (the rest is reclaimable by defragmentation).',
    ['endpoint'],
  ),
  dbSizeQuota: family.gauge(
    'inspection_etcd_member_db_size_quota_bytes',
    'Configured backend quota (--quota-backend-bytes); reported by etcd 3.6+ only.',
    ['endpoint'],
  ),
  raftTerm: family.gauge('inspection_etcd_member_raft_term', 'Raft term of the member.', ['endpoint']),
  raftIndex: family.gauge(
    'inspection_etcd_member_raft_index',
    'Raft committed index of the member (float: exact up to 2^53).',
    ['endpoint'],
  ),
  raftAppliedIndex: family.gauge(
    'inspection_etcd_member_raft_applied_index',
    'Raft applied index of the member (float: exact up to 2^53).',
    ['endpoint'],
  ),
  revision: family.gauge(
    'inspection_etcd_member_revision',
    'Current store revision as the member reports it (float: exact up to 2^53).',
    ['endpoint'],
  ),
} as const satisfies Record<string, MetricDefinition>;

/** The label every inspection series carries; a cluster's own labels come beside it. */
export const CLUSTER_NAME_LABEL = 'clusterName';

/**
 * Why a cluster label name cannot be used, or undefined when it can: it must
 * be a Prometheus label name, not reserved (`__`), and not a label the
 * metrics set themselves (a series would carry it twice).
 */
export function clusterLabelProblem(
  name: string,
  definitions: readonly MetricDefinition[],
): string | undefined {
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name))
    return `"${name}" is not a Prometheus label name (letters, digits and "_", not starting with a digit)`;
  if (name.startsWith('__')) return `"${name}" starts with "__", which Prometheus reserves`;
  if (name === CLUSTER_NAME_LABEL) return `"${name}" is set from the cluster's name`;
  const user = definitions.find((d) => d.labels.includes(name));
  if (user !== undefined) return `"${name}" is a label of ${user.name}: choose another name`;
  return undefined;
}

/**
 * A metric prefix: a Prometheus name start ending in `_`, put in front of
 * every inspection family. `kstone_` gives kstone's own names
 * (`kstone_inspection_etcd_endpoint_healthy`: namespace kstone, subsystem
 * inspection), so kstone's dashboards and alerts work unchanged.
 */
export const METRIC_PREFIX_PATTERN = '^[a-zA-Z_:][a-zA-Z0-9_:]*_$';
export const KSTONE_METRIC_PREFIX = 'kstone_';

/** Why `prefix` cannot be a metric prefix, or undefined when it can ('' is none). */
export function metricPrefixProblem(prefix: string): string | undefined {
  if (prefix === '' || new RegExp(METRIC_PREFIX_PATTERN).test(prefix)) return undefined;
  return `"${prefix}" is not a metric prefix: use letters, digits, _ and :, not starting with a digit, and end it with _ (e.g. ${KSTONE_METRIC_PREFIX})`;
}
