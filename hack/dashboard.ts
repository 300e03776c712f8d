/**
 * The Grafana dashboard deploy/grafana/etcd-monitor.json, as code: panels
 * are listed once here with their PromQL, and `npm run gen:dashboard` writes
 * the JSON (the chart ships the same file as a ConfigMap).
 * test/prometheus/dashboard.test.ts fails when the JSON is out of date, and
 * evaluates every query below on a real Prometheus scraping etcd-monitor.
 */
import {
  type Dashboard,
  FieldColorModeId,
  MappingType,
  type Panel,
  type RowPanel,
  ThresholdsMode,
  type ValueMapping,
  type VariableModel,
  VariableHide,
  VariableRefresh,
} from '@grafana/schema';

/** Series of the clusters selected by the template variables. */
const SEL = 'clusterName=~"$cluster", namespace=~"$namespace"';
/** Series of every cluster in the selected namespaces (the fleet row). */
const NS = 'namespace=~"$namespace"';
const BY = 'by (clusterName, namespace)';

/** Voting members: learners do not count towards quorum. */
function voters(selector: string): string {
  return `inspection_etcd_endpoint_healthy{${selector}} unless on (clusterName, namespace, endpoint) inspection_etcd_member_info{${selector}, role="learner"}`;
}

/**
 * Each cluster's state: 2 critical, 1 warning, 0 ok. The `or` chain takes
 * the first term present for a cluster, so the terms go from worst to best;
 * every term but the last is present only when its condition holds.
 */
export function clusterState(selector: string): string {
  const critical = [
    `inspection_etcd_alarms{${selector}} > 0`,
    `inspection_etcd_node_diff_total{${selector}} > 0`,
    `inspection_etcd_consistency_hash_mismatch{${selector}} == 1`,
    `inspection_etcd_quota_level{${selector}} == 2`,
    `count ${BY} ((${voters(selector)}) == 0) >= on (clusterName, namespace) count ${BY} (${voters(selector)}) / 2`,
    `inspection_etcd_topology_has_leader{${selector}} == 0`,
    `inspection_etcd_topology_cluster_id_mismatch{${selector}} == 1`,
  ];
  const warning = [
    `inspection_etcd_endpoint_healthy{${selector}} == 0`,
    `inspection_etcd_quota_level{${selector}} == 1`,
    `inspection_feature_success{${selector}} == 0`,
    `inspection_etcd_member_discovery_success{${selector}} == 0`,
    `inspection_etcd_topology_server_minor_versions{${selector}} > 1`,
    `inspection_etcd_topology_unstarted_members{${selector}} > 0`,
    `inspection_etcd_topology_member_lists_disagree{${selector}} == 1`,
  ];
  return [
    ...critical.map((c) => `2 * group ${BY} (${c})`),
    ...warning.map((c) => `group ${BY} (${c})`),
    `0 * group ${BY} (inspection_feature_runs_total{${selector}})`,
  ].join('\nor ');
}

interface Target {
  readonly expr: string;
  readonly legend?: string;
  /** Tables show the latest value, one row per series. */
  readonly instant?: boolean;
}

type PanelType = 'stat' | 'table' | 'timeseries' | 'state-timeline' | 'bargauge';

interface PanelSpec {
  readonly title: string;
  readonly type: PanelType;
  readonly description: string;
  readonly targets: readonly Target[];
  readonly unit?: string;
  readonly w: number;
  readonly h: number;
  /** Value to text, for states. */
  readonly mappings?: Readonly<Record<string, { text: string; color: string }>>;
  /** Colour below the first threshold; default green. */
  readonly baseColor?: string;
  /** Ascending thresholds after the base: value and colour. */
  readonly thresholds?: readonly [number, string][];
  readonly min?: number;
  readonly max?: number;
  /** Table columns to hide. */
  readonly hide?: readonly string[];
  /** Tables: the one column `mappings` apply to (named by its target's legend). */
  readonly mappingColumn?: string;
}

interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

/** One series per member of the selected clusters, labelled "cluster endpoint" (and what it is). */
function perMember(metric: string, what?: string): Target {
  return {
    expr: `${metric}{${SEL}}`,
    legend: `{{clusterName}} {{endpoint}}${what === undefined ? '' : ` ${what}`}`,
  };
}

/** One series per cluster of the selected clusters. */
function perCluster(metric: string, what?: string): Target {
  return {
    expr: `${metric}{${SEL}}`,
    legend: `{{clusterName}}${what === undefined ? '' : ` ${what}`}`,
  };
}

/** One series per etcd-monitor process (the monitor's own metrics carry no cluster). */
function perProcess(metric: string, what?: string): Target {
  return { expr: metric, legend: `{{instance}}${what === undefined ? '' : ` ${what}`}` };
}

/** Text and colour of the values 0 and 1 of a state. */
function twoStates(zero: [string, string], one: [string, string]): PanelSpec['mappings'] {
  return { '0': { text: zero[0], color: zero[1] }, '1': { text: one[0], color: one[1] } };
}

/** A state timeline of one 0/1 series per member of the selected clusters. */
function memberStates(
  title: string,
  description: string,
  metric: string,
  [zero, one]: [[string, string], [string, string]],
  size: { w: number; h: number },
): PanelSpec {
  return {
    title,
    type: 'state-timeline',
    description,
    targets: [perMember(metric)],
    mappings: twoStates(zero, one),
    ...size,
  };
}

/** A quantile of each process's wait for a round slot over the rate interval. */
function slotWait(q: number): Target {
  return {
    expr: `histogram_quantile(${q}, sum by (instance, le) (rate(etcd_monitor_round_queue_wait_seconds_bucket[$__rate_interval])))`,
    legend: `{{instance}} p${q * 100}`,
  };
}

const HEALTH = twoStates(['unhealthy', 'red'], ['healthy', 'green']);
const STATE = {
  '0': { text: 'OK', color: 'green' },
  '1': { text: 'Warning', color: 'orange' },
  '2': { text: 'Critical', color: 'red' },
};

export const ROWS: readonly RowSpec[] = [
  {
    title: 'Fleet',
    panels: [
      {
        title: 'Clusters by state',
        type: 'stat',
        description:
          'Clusters in the selected namespaces by their worst finding. Critical: an alarm, divergent data, no quorum, a member above the critical quota share. Warning: an unhealthy member, quota warning, a failing inspection or member discovery.',
        targets: [
          { expr: `count((${clusterState(NS)}) == 0) or vector(0)`, legend: 'OK' },
          { expr: `count((${clusterState(NS)}) == 1) or vector(0)`, legend: 'Warning' },
          { expr: `count((${clusterState(NS)}) == 2) or vector(0)`, legend: 'Critical' },
        ],
        w: 8,
        h: 6,
      },
      {
        title: 'Current problems',
        type: 'table',
        description:
          'etcd-monitor alerts pending or firing (the ALERTS series of the Prometheus that evaluates deploy/prometheus/etcd-monitor.rules.yaml). Each links its runbook in docs/runbooks.md.',
        targets: [{ expr: `ALERTS{component=~"etcd|etcd-monitor", ${NS}}`, instant: true }],
        hide: ['Time', 'Value', '__name__', 'job', 'instance'],
        w: 16,
        h: 6,
      },
      {
        title: 'Clusters',
        type: 'table',
        description:
          'One row per cluster: state, members and how many are healthy, raised alarms, distinct etcd versions (more than 1: an upgrade in progress or version skew), highest quota use of a member.',
        targets: [
          { expr: clusterState(NS), legend: 'state', instant: true },
          { expr: `count ${BY} (inspection_etcd_endpoint_healthy{${NS}})`, legend: 'members', instant: true },
          { expr: `sum ${BY} (inspection_etcd_endpoint_healthy{${NS}})`, legend: 'healthy', instant: true },
          { expr: `sum ${BY} (inspection_etcd_alarms{${NS}})`, legend: 'alarms', instant: true },
          {
            expr: `count ${BY} (count by (clusterName, namespace, version) (inspection_etcd_member_info{${NS}, version!=""}))`,
            legend: 'versions',
            instant: true,
          },
          {
            expr: `max ${BY} (inspection_etcd_quota_usage_ratio{${NS}})`,
            legend: 'quota used',
            instant: true,
          },
        ],
        mappings: STATE,
        mappingColumn: 'state',
        hide: ['Time'],
        w: 24,
        h: 7,
      },
    ],
  },
  {
    title: 'Members',
    panels: [
      {
        title: 'Members, roles and versions',
        type: 'table',
        description:
          'Every member of the membership: ID (hex, as etcdctl prints it), name, version, raft role, health.',
        targets: [
          { expr: `inspection_etcd_member_info{${SEL}}`, instant: true },
          { expr: `inspection_etcd_endpoint_healthy{${SEL}}`, legend: 'healthy', instant: true },
        ],
        mappings: HEALTH,
        mappingColumn: 'healthy',
        hide: ['Time', '__name__', 'job', 'instance', 'Value #A'],
        w: 24,
        h: 7,
      },
      memberStates(
        'Member health',
        '/health and Status of each member (1 healthy).',
        'inspection_etcd_endpoint_healthy',
        [
          ['unhealthy', 'red'],
          ['healthy', 'green'],
        ],
        { w: 12, h: 7 },
      ),
      memberStates(
        'Leader',
        'Which member is the raft leader over time.',
        'inspection_etcd_member_is_leader',
        [
          ['follower', 'transparent'],
          ['leader', 'blue'],
        ],
        { w: 12, h: 7 },
      ),
      {
        title: 'Leader elections (1h)',
        type: 'stat',
        description:
          'Raft term changes in the last hour: each is an election. More than a few an hour means unstable members or network.',
        targets: [
          {
            expr: `max ${BY} (changes(inspection_etcd_member_raft_term{${SEL}}[1h]))`,
            legend: '{{clusterName}}',
          },
        ],
        thresholds: [
          [1, 'orange'],
          [4, 'red'],
        ],
        w: 6,
        h: 5,
      },
      {
        title: 'Members per version',
        type: 'bargauge',
        description: 'More than one version in a cluster: an upgrade in progress, or skew left behind.',
        targets: [
          {
            expr: `count by (clusterName, namespace, version) (inspection_etcd_member_info{${SEL}, version!=""})`,
            legend: '{{clusterName}} {{version}}',
          },
        ],
        w: 6,
        h: 5,
      },
      {
        title: 'Server, cluster and storage versions',
        type: 'table',
        description:
          "What each member reports: server version (Status), cluster version (/version: the lowest member's until an upgrade completes) and storage version (3.6+).",
        targets: [{ expr: `inspection_etcd_topology_version_info{${SEL}}`, instant: true }],
        hide: ['Time', 'Value', '__name__', 'job', 'instance'],
        w: 12,
        h: 6,
      },
      {
        title: 'Topology',
        type: 'stat',
        description:
          'Leader changes in the last hour, learners, members added but never started, distinct minor versions (more than 1: skew), members whose member lists disagree (1).',
        targets: [
          {
            expr: `increase(inspection_etcd_topology_leader_changes_total{${SEL}}[1h])`,
            legend: '{{clusterName}} leader changes (1h)',
          },
          perCluster('inspection_etcd_topology_learners', 'learners'),
          perCluster('inspection_etcd_topology_unstarted_members', 'not started'),
          perCluster('inspection_etcd_topology_server_minor_versions', 'minor versions'),
          perCluster('inspection_etcd_topology_member_lists_disagree', 'member lists disagree'),
        ],
        w: 12,
        h: 6,
      },
      memberStates(
        'Cluster identity',
        'Endpoints that answer with another cluster ID than most: they belong to another cluster (critical).',
        'inspection_etcd_topology_cluster_id_mismatch',
        [
          ['this cluster', 'green'],
          ['another cluster', 'red'],
        ],
        { w: 12, h: 5 },
      ),
      {
        title: 'Learner lag',
        type: 'timeseries',
        description:
          "Raft entries each learner trails the leader's applied index by; etcd promotes a learner only once it is in sync.",
        targets: [perMember('inspection_etcd_topology_learner_lag_entries')],
        w: 12,
        h: 5,
      },
      {
        title: 'Alarms raised',
        type: 'stat',
        description:
          'Raised alarms per cluster (NOSPACE, CORRUPT). Any alarm makes /health fail on every member.',
        targets: [{ expr: `sum ${BY} (inspection_etcd_alarms{${SEL}})`, legend: '{{clusterName}}' }],
        thresholds: [[1, 'red']],
        w: 6,
        h: 5,
      },
      {
        title: 'Alarms',
        type: 'table',
        description: 'Each raised alarm and where: endpoint "cluster" is a cluster-wide alarm (member ID 0).',
        targets: [{ expr: `inspection_etcd_endpoint_alarm{${SEL}}`, instant: true }],
        hide: ['Time', 'Value', '__name__', 'job', 'instance'],
        w: 6,
        h: 5,
      },
    ],
  },
  {
    title: 'Consistency',
    panels: [
      {
        title: 'Consistency verdict',
        type: 'stat',
        description:
          'Divergence, not lag: key-count spread between members at one pinned revision, and whether HashKV at a common revision disagrees (1). No value means no verdict this round (unknown, never "consistent").',
        targets: [
          perCluster('inspection_etcd_node_diff_total', 'key count spread'),
          perCluster('inspection_etcd_consistency_hash_mismatch', 'hash mismatch'),
        ],
        thresholds: [[1, 'red']],
        w: 8,
        h: 6,
      },
      {
        title: 'Keys per member at the pinned revision',
        type: 'timeseries',
        description:
          'Every member counted at the same revision: lines that part mean a member holds different keys.',
        targets: [perMember('inspection_etcd_consistency_member_keys')],
        w: 8,
        h: 6,
      },
      memberStates(
        'Hash mismatch per member',
        'Members whose HashKV differs from the largest group of equal hashes.',
        'inspection_etcd_endpoint_hash_mismatch',
        [
          ['agrees', 'green'],
          ['differs', 'red'],
        ],
        { w: 8, h: 6 },
      ),
      {
        title: 'Lag between members',
        type: 'timeseries',
        description:
          'Lag, not divergence: largest minus smallest revision and raft indexes over the members in one round. Non-zero under writes; only a gap that keeps growing matters.',
        targets: [
          perCluster('inspection_etcd_node_revision_diff_total', 'revision'),
          perCluster('inspection_etcd_node_raft_index_diff_total', 'raft index'),
          perCluster('inspection_etcd_node_raft_applied_index_diff_total', 'raft applied index'),
        ],
        w: 16,
        h: 6,
      },
      {
        title: 'Hash verdict age',
        type: 'stat',
        description:
          'How old the exported hash verdict is. With hashRevision auto a scan verdict stands until the next hash (the next compaction, or hashIdleSeconds later: 10 minutes by default); older than 30 minutes counts as no verdict (EtcdConsistencyUnknown).',
        targets: [
          {
            expr: `time() - inspection_etcd_consistency_hash_timestamp_seconds{${SEL}}`,
            legend: '{{clusterName}}',
          },
        ],
        unit: 's',
        thresholds: [
          [900, 'orange'],
          [1800, 'red'],
        ],
        w: 8,
        h: 6,
      },
    ],
  },
  {
    title: 'Capacity',
    panels: [
      {
        title: 'Database size',
        type: 'timeseries',
        description:
          'Backend file size and the part in use per member; the quota in effect. The gap is what defragmentation gives back.',
        targets: [
          perMember('inspection_etcd_member_db_size_bytes', 'size'),
          perMember('inspection_etcd_member_db_size_in_use_bytes', 'in use'),
          { expr: `max ${BY} (inspection_etcd_quota_bytes{${SEL}})`, legend: '{{clusterName}} quota' },
        ],
        unit: 'bytes',
        w: 12,
        h: 7,
      },
      {
        title: 'Quota used',
        type: 'bargauge',
        description: 'Database size / quota per member. etcd raises NOSPACE at 100 %.',
        targets: [perMember('inspection_etcd_quota_usage_ratio')],
        unit: 'percentunit',
        min: 0,
        max: 1,
        thresholds: [
          [0.75, 'orange'],
          [0.9, 'red'],
        ],
        w: 6,
        h: 7,
      },
      {
        title: 'Fragmentation',
        type: 'bargauge',
        description: '1 - in use / size: the share of the file defragmentation would give back.',
        targets: [perMember('inspection_etcd_db_fragmentation_ratio')],
        unit: 'percentunit',
        min: 0,
        max: 1,
        thresholds: [[0.45, 'orange']],
        w: 6,
        h: 7,
      },
      {
        title: 'Database growth',
        type: 'timeseries',
        description:
          "Growth of each member's database file (least-squares slope over the quota inspection's window); negative while it shrinks.",
        targets: [perMember('inspection_etcd_db_growth_bytes_per_second')],
        unit: 'Bps',
        w: 12,
        h: 6,
      },
      {
        title: 'Time until the quota is full',
        type: 'bargauge',
        description:
          'At the current growth, when each member reaches its quota (NOSPACE). Only growing members appear; 0: already there.',
        targets: [perMember('inspection_etcd_quota_seconds_until_full')],
        unit: 's',
        thresholds: [
          [0, 'red'],
          [21600, 'orange'],
          [86400, 'green'],
        ],
        w: 12,
        h: 6,
      },
    ],
  },
  {
    title: 'Performance',
    panels: [
      {
        title: 'Worst performance finding per member',
        type: 'state-timeline',
        description:
          "The performance inspection's verdict per member, its worst cause: a slow disk, slow applies, a slow peer link, missed heartbeats, leader changes, failed or pending proposals, memory. The why section of the status page says which figure crossed which threshold.",
        targets: [
          {
            expr: `max by (clusterName, namespace, endpoint) (inspection_etcd_member_performance_level{${SEL}})`,
            legend: '{{clusterName}} {{endpoint}}',
          },
        ],
        mappings: STATE,
        w: 24,
        h: 5,
      },
      {
        title: 'Disk latency (p99 per interval)',
        type: 'timeseries',
        description:
          "WAL fsync and backend commit p99 of each member over each round's interval, from its own /metrics. etcd's guidance: fsync below 10 ms, commit below 25 ms.",
        targets: [
          perMember('inspection_etcd_member_wal_fsync_p99_seconds', 'WAL fsync'),
          perMember('inspection_etcd_member_backend_commit_p99_seconds', 'backend commit'),
        ],
        unit: 's',
        thresholds: [[0.01, 'orange']],
        w: 12,
        h: 7,
      },
      {
        title: 'Peer round trip (p99, worst of 5 min)',
        type: 'timeseries',
        description:
          'Round trip each member measures to each peer (etcd observes it every 30 s, so the worst of 5 minutes is shown). Guidance: below 150 ms.',
        targets: [
          {
            expr: `max_over_time(inspection_etcd_member_peer_round_trip_p99_seconds{${SEL}}[5m])`,
            legend: '{{clusterName}} {{endpoint}} → {{peer}}',
          },
        ],
        unit: 's',
        thresholds: [[0.15, 'orange']],
        w: 12,
        h: 7,
      },
      {
        title: 'Probe round trip (p99 over the window)',
        type: 'timeseries',
        description:
          "The latency inspection's probes of each member, as a client sees them: a serializable read (the member alone) and, with writeProbe, a linearizable write and read (the leader and a quorum). p99 over the sliding window; EtcdProbeSlow fires past the thresholds.",
        targets: [
          {
            expr: `inspection_etcd_probe_duration_seconds{quantile="0.99", ${SEL}}`,
            legend: '{{clusterName}} {{endpoint}} {{probe}}',
          },
        ],
        unit: 's',
        w: 24,
        h: 7,
      },
    ],
  },
  {
    title: 'Certificates',
    panels: [
      {
        title: 'Certificate expiry',
        type: 'table',
        description:
          "Every certificate the certificates inspection saw (TLS clusters): each member's serving chain (source = the member), the configured client certificate and CA. Time left until expiry; warning below 30 days, critical below 7.",
        targets: [
          { expr: `inspection_etcd_certificate_expiry_seconds{${SEL}}`, legend: 'expires in', instant: true },
        ],
        unit: 's',
        baseColor: 'red',
        thresholds: [
          [604800, 'orange'],
          [2592000, 'green'],
        ],
        mappingColumn: 'expires in',
        hide: ['Time', '__name__', 'job', 'instance'],
        w: 16,
        h: 7,
      },
      {
        title: 'Serving certificates',
        type: 'state-timeline',
        description:
          'Per member: whether its chain verifies against the configured CA, and whether it covers the host the member is reached at.',
        targets: [
          perMember('inspection_etcd_certificate_chain_verified', 'verified'),
          {
            expr: `1 - inspection_etcd_certificate_host_mismatch{${SEL}}`,
            legend: '{{clusterName}} {{endpoint}} host covered',
          },
        ],
        mappings: twoStates(['no', 'red'], ['yes', 'green']),
        w: 8,
        h: 7,
      },
    ],
  },
  {
    title: 'Keys and writes',
    panels: [
      {
        title: 'Keys per resource',
        type: 'timeseries',
        description:
          'Keys under the watched prefixes per Kubernetes resource, exact at the processed revision.',
        targets: [
          {
            expr: `sum by (clusterName, namespace, resourceName) (inspection_etcd_key_total{${SEL}})`,
            legend: '{{clusterName}} {{resourceName}}',
          },
        ],
        w: 12,
        h: 7,
      },
      {
        title: 'Writes per resource',
        type: 'timeseries',
        description:
          'PUT and DELETE events per second per resource, from the watch (each event counted once).',
        targets: [
          {
            expr: `sum by (clusterName, namespace, resourceName, grpcMethod) (rate(inspection_etcd_request_total{${SEL}}[$__rate_interval]))`,
            legend: '{{clusterName}} {{resourceName}} {{grpcMethod}}',
          },
        ],
        unit: 'ops',
        w: 12,
        h: 7,
      },
      {
        title: 'Bytes per resource',
        type: 'timeseries',
        description:
          'Keys and values as stored per resource (request option sizes), exact at the processed revision: which resource is eating the database.',
        targets: [
          {
            expr: `sum by (clusterName, namespace, resourceName) (inspection_etcd_resource_bytes{${SEL}})`,
            legend: '{{clusterName}} {{resourceName}}',
          },
        ],
        unit: 'bytes',
        w: 12,
        h: 7,
      },
      {
        title: 'Largest object per resource',
        type: 'timeseries',
        description:
          'The largest object (key + value) of each resource (request option sizes). etcd refuses a request above --max-request-bytes (1.5 MiB by default): an object growing toward it can no longer be updated.',
        targets: [
          {
            expr: `max by (clusterName, namespace, resourceName) (inspection_etcd_resource_object_largest_bytes{${SEL}})`,
            legend: '{{clusterName}} {{resourceName}}',
          },
        ],
        unit: 'bytes',
        thresholds: [[1024 * 1024, 'orange']],
        w: 12,
        h: 7,
      },
      {
        title: 'Request watch',
        type: 'timeseries',
        description: 'How far the watch trails the cluster (seconds), and whether it is established (1).',
        targets: [
          perCluster('inspection_etcd_request_watch_lag_seconds', 'lag'),
          perCluster('inspection_etcd_request_watch_up', 'up'),
        ],
        w: 24,
        h: 6,
      },
    ],
  },
  {
    title: 'Inspections',
    panels: [
      {
        title: 'Inspection success',
        type: 'state-timeline',
        description:
          'Whether each inspection reached a verdict (an unhealthy member is a verdict; no answer is not).',
        targets: [
          { expr: `inspection_feature_success{${SEL}}`, legend: '{{clusterName}} {{inspectionType}}' },
          perCluster('inspection_etcd_member_discovery_success', 'member discovery'),
        ],
        mappings: twoStates(['failed', 'red'], ['ok', 'green']),
        w: 12,
        h: 7,
      },
      {
        title: 'Inspection duration',
        type: 'timeseries',
        description: 'How long the last round of each inspection took.',
        targets: [
          {
            expr: `inspection_feature_duration_seconds{${SEL}}`,
            legend: '{{clusterName}} {{inspectionType}}',
          },
        ],
        unit: 's',
        w: 12,
        h: 7,
      },
      {
        title: 'Time since the last round',
        type: 'timeseries',
        description:
          'Staleness: seconds since each inspection last started, against its interval. Far above the interval: the monitor is stuck (alert EtcdMonitorInspectionStale).',
        targets: [
          {
            expr: `time() - inspection_feature_last_run_timestamp_seconds{${SEL}}`,
            legend: '{{clusterName}} {{inspectionType}}',
          },
          {
            expr: `max ${BY} (inspection_feature_interval_seconds{${SEL}})`,
            legend: '{{clusterName}} longest interval',
          },
        ],
        unit: 's',
        w: 12,
        h: 7,
      },
      {
        title: 'Failed rounds',
        type: 'timeseries',
        description:
          'Rounds that failed in a row (3 or more: alert EtcdMonitorInspectionFailing), and failures per hour.',
        targets: [
          {
            expr: `inspection_feature_consecutive_failures{${SEL}}`,
            legend: '{{clusterName}} {{inspectionType}} in a row',
          },
          {
            expr: `increase(inspection_failed_num{${SEL}}[1h])`,
            legend: '{{clusterName}} {{inspectionType}} per hour',
          },
        ],
        w: 12,
        h: 7,
      },
    ],
  },
  {
    title: 'etcd-monitor',
    panels: [
      {
        title: 'Monitor CPU',
        type: 'timeseries',
        description:
          'CPU of each etcd-monitor process (1 = one core saturated: inspections will fall behind).',
        targets: [
          {
            expr: 'rate(etcd_monitor_process_cpu_seconds_total[$__rate_interval])',
            legend: '{{instance}}',
          },
        ],
        unit: 'percentunit',
        w: 12,
        h: 6,
      },
      {
        title: 'Monitor event-loop lag',
        type: 'timeseries',
        description: 'Event-loop lag of each etcd-monitor process: high values delay every round and scrape.',
        targets: [perProcess('etcd_monitor_nodejs_eventloop_lag_seconds')],
        unit: 's',
        w: 12,
        h: 6,
      },
      {
        title: 'Round slots',
        type: 'timeseries',
        description:
          'Inspection rounds and membership reads running and waiting for a slot of the global limiter (--max-concurrent-rounds), against the slots. Waiting rounds that stay above zero: the process is saturated; add replicas (sharding) or slots.',
        targets: [
          perProcess('etcd_monitor_rounds_running', 'running'),
          perProcess('etcd_monitor_rounds_waiting', 'waiting'),
          perProcess('etcd_monitor_round_slots', 'slots'),
        ],
        w: 12,
        h: 6,
      },
      {
        title: 'Wait for a slot (p50, p99)',
        type: 'timeseries',
        description:
          'How long rounds waited for a slot before they started (not charged to their deadline). Waits near an interval mean rounds are skipped.',
        targets: [slotWait(0.99), slotWait(0.5)],
        unit: 's',
        w: 12,
        h: 6,
      },
      {
        title: 'Rounds skipped',
        type: 'timeseries',
        description:
          'Rounds per second that fell due while the previous one still waited for a slot: skipped because the monitor is saturated, not failed inspections (alert EtcdMonitorSaturated).',
        targets: [
          {
            expr: 'sum by (instance, feature) (rate(etcd_monitor_rounds_skipped_total[$__rate_interval]))',
            legend: '{{instance}} {{feature}}',
          },
        ],
        unit: 'ops',
        w: 12,
        h: 6,
      },
      {
        title: 'Shard: replicas and clusters',
        type: 'timeseries',
        description:
          'Per process: the replicas it counts as sharing the clusters (1 without sharding) and the clusters it inspects (its share). Replicas that disagree on the count are handing clusters over; a share far from clusters ÷ replicas is worth a look.',
        targets: [
          perProcess('etcd_monitor_shard_members', 'replicas'),
          perProcess('etcd_monitor_clusters', 'clusters'),
        ],
        w: 12,
        h: 6,
      },
    ],
  },
];

/** The template variables, with the query Grafana runs for each. */
export const VARIABLES = [
  {
    name: 'namespace',
    label: 'namespace',
    query: 'label_values(inspection_feature_runs_total, namespace)',
  },
  {
    name: 'cluster',
    label: 'cluster',
    query: 'label_values(inspection_feature_runs_total{namespace=~"$namespace"}, clusterName)',
  },
] as const;

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

function refId(index: number): string {
  return String.fromCharCode(65 + index);
}

function panelJson(spec: PanelSpec, id: number, x: number, y: number): Panel {
  const steps = [
    { color: spec.baseColor ?? 'green', value: null },
    ...(spec.thresholds ?? []).map(([value, color]) => ({ color, value })),
  ];
  const mappings: ValueMapping[] =
    spec.mappings === undefined
      ? []
      : [
          {
            type: MappingType.ValueToText,
            options: Object.fromEntries(
              Object.entries(spec.mappings).map(([value, m], index) => [value, { ...m, index }]),
            ),
          },
        ];
  const table = spec.type === 'table';
  const panel: Panel = {
    id,
    type: spec.type,
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos: { x, y, w: spec.w, h: spec.h },
    fieldConfig: {
      defaults: {
        ...(spec.unit !== undefined ? { unit: spec.unit } : {}),
        ...(spec.min !== undefined ? { min: spec.min } : {}),
        ...(spec.max !== undefined ? { max: spec.max } : {}),
        mappings: spec.mappingColumn === undefined ? mappings : [],
        thresholds: { mode: ThresholdsMode.Absolute, steps },
        color: {
          mode: spec.type === 'timeseries' ? FieldColorModeId.PaletteClassic : FieldColorModeId.Thresholds,
        },
      },
      overrides:
        spec.mappingColumn === undefined
          ? []
          : [
              {
                matcher: { id: 'byName', options: spec.mappingColumn },
                properties: [
                  { id: 'mappings', value: mappings },
                  { id: 'custom.cellOptions', value: { type: 'color-background' } },
                ],
              },
            ],
    },
    options:
      spec.type === 'stat'
        ? {
            reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
            colorMode: 'background',
            textMode: 'auto',
          }
        : spec.type === 'bargauge'
          ? {
              reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
              orientation: 'horizontal',
              displayMode: 'gradient',
            }
          : spec.type === 'timeseries'
            ? {
                legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
                tooltip: { mode: 'multi', sort: 'desc' },
              }
            : spec.type === 'state-timeline'
              ? { showValue: 'never', mergeValues: true, legend: { showLegend: false } }
              : { showHeader: true, cellHeight: 'sm' },
    targets: spec.targets.map((t, i) => ({
      datasource: DATASOURCE,
      refId: refId(i),
      expr: t.expr,
      legendFormat: t.legend ?? '__auto',
      ...(table || t.instant === true ? { instant: true, range: false, format: 'table' } : { range: true }),
    })),
  };
  if (table) {
    panel.transformations = [
      // Several queries join on their labels into one row per cluster/member.
      ...(spec.targets.length > 1 ? [{ id: 'merge', options: {} }] : []),
      {
        id: 'organize',
        options: {
          excludeByName: Object.fromEntries((spec.hide ?? []).map((c) => [c, true])),
          // A table's value columns are "Value #<refId>": name them after their target.
          renameByName: Object.fromEntries(
            spec.targets.flatMap((t, i) =>
              t.legend === undefined
                ? []
                : [[spec.targets.length > 1 ? `Value #${refId(i)}` : 'Value', t.legend]],
            ),
          ),
        },
      },
    ];
  }
  return panel;
}

/** Picks the Prometheus data source: the dashboard works with any name. */
const DATASOURCE_VARIABLE: VariableModel = {
  name: 'datasource',
  label: 'Prometheus',
  type: 'datasource',
  query: 'prometheus',
  hide: VariableHide.dontHide,
  refresh: VariableRefresh.onDashboardLoad,
  options: [],
};

/** A multi-value variable whose "All" matches every value, and series without the label. */
function queryVariable(v: (typeof VARIABLES)[number]): VariableModel {
  return {
    name: v.name,
    label: v.label,
    type: 'query',
    datasource: DATASOURCE,
    query: { query: v.query, refId: `${v.name}-query` },
    refresh: VariableRefresh.onTimeRangeChanged,
    includeAll: true,
    allValue: '.*',
    multi: true,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    sort: 1,
    hide: VariableHide.dontHide,
  };
}

/** The whole dashboard JSON model. */
export function buildDashboard(): Dashboard {
  const panels: (Panel | RowPanel)[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({
      id: id++,
      type: 'row',
      title: row.title,
      collapsed: false,
      gridPos: { x: 0, y, w: 24, h: 1 },
      panels: [],
    });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const spec of row.panels) {
      if (x + spec.w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push(panelJson(spec, id++, x, y));
      x += spec.w;
      rowHeight = Math.max(rowHeight, spec.h);
    }
    y += rowHeight;
  }
  return {
    title: 'etcd-monitor',
    uid: 'etcd-monitor',
    description:
      'etcd clusters as etcd-monitor inspects them: health, roles and versions, alarms, consistency, capacity, keys and writes per resource, and the inspections themselves. Alerts and runbooks: deploy/prometheus/etcd-monitor.rules.yaml, docs/runbooks.md.',
    tags: ['etcd', 'etcd-monitor'],
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    timezone: '',
    version: 1,
    links: [],
    annotations: { list: [] },
    templating: { list: [DATASOURCE_VARIABLE, ...VARIABLES.map(queryVariable)] },
    panels,
  };
}

/** The file as written to deploy/grafana/etcd-monitor.json. */
export function dashboardJson(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}
