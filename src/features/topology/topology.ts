/**
 * topology: is the membership what it should be? Per round, every member
 * (and every configured endpoint that is not a member) is asked for its
 * Status and its member list, and members for /version: leader and term,
 * leader changes, learners and their lag, version skew, cluster identity,
 * members never started, member lists that disagree.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Endpoint } from '../../etcd/endpoint.ts';
import { family, type MetricDefinition } from '../../metrics/catalogue.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import { errorMessage } from '../../errors.ts';
import {
  defineFeature,
  failedOutcome,
  type ClusterHandle,
  type EtcdHttpView,
  type EtcdV3ReadView,
  type FeatureSession,
  type InspectionOutcome,
  type OwnedV3ReadClient,
} from '../../engine/contract.ts';
import { parseOptions } from '../options.ts';
import {
  assessTopology,
  newMemory,
  type EndpointObservation,
  type TopologyMemory,
  type TopologyVerdict,
} from './assess.ts';

export const TOPOLOGY_METRICS = {
  hasLeader: family.gauge(
    'inspection_etcd_topology_has_leader',
    '1 when the voting members agree on a leader, else 0.',
  ),
  term: family.gauge(
    'inspection_etcd_topology_raft_term',
    'The highest raft term any member reports: every election raises it.',
  ),
  leaderChanges: family.counter(
    'inspection_etcd_topology_leader_changes_total',
    'Leader changes seen between rounds (another leader, or the same one re-elected in a higher term), for the life of the session.',
  ),
  learners: family.gauge(
    'inspection_etcd_topology_learners',
    'Learners (non-voting members) in the membership.',
  ),
  learnerLag: family.gauge(
    'inspection_etcd_topology_learner_lag_entries',
    "The leader's raft applied index minus the learner's.",
    ['endpoint'],
  ),
  unstarted: family.gauge(
    'inspection_etcd_topology_unstarted_members',
    'Members in the membership without client URLs: added but never started.',
  ),
  listsDisagree: family.gauge(
    'inspection_etcd_topology_member_lists_disagree',
    '1 when members answer MemberList with different members, else 0.',
  ),
  minors: family.gauge(
    'inspection_etcd_topology_server_minor_versions',
    'Distinct minor server versions among the members: more than 1 is version skew.',
  ),
  versionInfo: family.gauge(
    'inspection_etcd_topology_version_info',
    'Always 1: the server, cluster (/version) and storage (3.6+) versions each member reports.',
    ['endpoint', 'serverVersion', 'clusterVersion', 'storageVersion'],
  ),
  foreign: family.gauge(
    'inspection_etcd_topology_cluster_id_mismatch',
    '1 for an endpoint that answers with another cluster ID than most endpoints (another cluster), 0 for the others.',
    ['endpoint'],
  ),
} as const satisfies Record<string, MetricDefinition>;

export const TopologyOptionsSchema = Type.Object(
  {
    learnerLagEntries: Type.Integer({
      minimum: 0,
      default: 10_000,
      description:
        'A learner trailing the leader by more raft entries than this (two rounds in a row) is a problem.',
    }),
    maxLeaderChanges: Type.Integer({
      minimum: 0,
      default: 3,
      description: 'More leader changes than this within leaderChangeWindowSeconds is a problem.',
    }),
    leaderChangeWindowSeconds: Type.Integer({ minimum: 1, maximum: 7 * 86_400, default: 3600 }),
  },
  { additionalProperties: false },
);

export type TopologyOptions = Static<typeof TopologyOptionsSchema>;

export type TopologyDetails = Omit<TopologyVerdict, 'problems' | 'findings' | 'summary'> & {
  readonly endpoints: readonly { endpoint: string; error?: string }[];
};

interface Target {
  readonly endpoint: string;
  readonly name: string;
  readonly v3: EtcdV3ReadView;
  readonly http: EtcdHttpView | undefined;
}

class TopologySession implements FeatureSession {
  readonly #cluster: ClusterHandle;
  readonly #options: TopologyOptions;
  readonly #memory: TopologyMemory = newMemory();
  /** Channels of our own to configured endpoints that are not in the membership (by URL). */
  readonly #strangers = new Map<string, OwnedV3ReadClient>();

  constructor(cluster: ClusterHandle, options: TopologyOptions) {
    this.#cluster = cluster;
    this.#options = options;
  }

  /** Every member with a client URL, plus every configured endpoint no member has. */
  #targets(): Target[] {
    const targets: Target[] = [];
    const urls = new Set<string>();
    for (const m of this.#cluster.members()) {
      if (m.endpoint === undefined) continue;
      urls.add(m.endpoint.url);
      targets.push({ endpoint: m.snapshot.endpoint, name: m.snapshot.name, v3: m.v3(), http: m.http() });
    }
    const wanted = new Map<string, Endpoint>();
    for (const e of this.#cluster.identity.endpoints) if (!urls.has(e.url)) wanted.set(e.url, e);
    for (const [url, owned] of this.#strangers) {
      if (wanted.has(url)) continue;
      owned.close();
      this.#strangers.delete(url);
    }
    for (const [url, e] of wanted) {
      let owned = this.#strangers.get(url);
      if (owned === undefined) {
        owned = this.#cluster.openV3Client(e);
        this.#strangers.set(url, owned);
      }
      targets.push({ endpoint: e.hostPort, name: '', v3: owned.client, http: undefined });
    }
    return targets;
  }

  async inspect(signal: AbortSignal): Promise<InspectionOutcome> {
    const targets = this.#targets();
    const observations = await Promise.all(targets.map((t) => observe(t, signal)));
    const verdict = assessTopology(observations, this.#memory, this.#options, Date.now());
    const endpoints = observations.map((o) => ({
      endpoint: o.endpoint,
      ...(o.error !== undefined ? { error: o.error } : {}),
    }));
    const { problems, findings, summary, ...rest } = verdict;
    const details: TopologyDetails = { ...rest, endpoints };
    if (verdict.clusterId === undefined) {
      const error = `no endpoint answered Status: ${observations.map((o) => `${o.endpoint}: ${o.error ?? '?'}`).join('; ') || 'no endpoints'}`;
      return failedOutcome(error, { summary: error, details });
    }
    return { ok: true, summary, problems, findings, details, metrics: topologyMetrics(verdict) };
  }

  async close(): Promise<void> {
    for (const owned of this.#strangers.values()) owned.close();
    this.#strangers.clear();
  }
}

async function observe(target: Target, signal: AbortSignal): Promise<EndpointObservation> {
  const [status, list, version] = await Promise.allSettled([
    target.v3.status({ signal }),
    target.v3.memberList({ signal }),
    target.http === undefined ? Promise.resolve(undefined) : target.http.version({ signal }),
  ]);
  const errors: string[] = [];
  if (status.status === 'rejected') errors.push(errorMessage(status.reason));
  if (list.status === 'rejected') errors.push(errorMessage(list.reason));
  // /version is optional: a missing cluster version never hides the rest.
  return {
    endpoint: target.endpoint,
    name: target.name,
    ...(status.status === 'fulfilled'
      ? {
          status: {
            clusterId: status.value.header.clusterId,
            memberId: status.value.header.memberId,
            leader: status.value.leader,
            raftTerm: status.value.raftTerm,
            raftAppliedIndex: status.value.raftAppliedIndex,
            version: status.value.version,
            storageVersion: status.value.storageVersion,
            isLearner: status.value.isLearner,
          },
        }
      : {}),
    ...(list.status === 'fulfilled' ? { members: list.value.members } : {}),
    ...(version.status === 'fulfilled' && version.value !== undefined
      ? { clusterVersion: version.value.etcdcluster }
      : {}),
    ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
  };
}

function topologyMetrics(v: TopologyVerdict): MetricSample[] {
  const m = TOPOLOGY_METRICS;
  const out: MetricSample[] = [
    { name: m.hasLeader.name, labels: {}, value: v.leader === undefined ? 0 : 1 },
    { name: m.leaderChanges.name, labels: {}, value: v.leaderChanges },
    { name: m.learners.name, labels: {}, value: v.learners.length },
    { name: m.unstarted.name, labels: {}, value: v.unstarted.length },
    { name: m.listsDisagree.name, labels: {}, value: v.memberListsDisagree ? 1 : 0 },
    { name: m.minors.name, labels: {}, value: v.serverMinors.length },
  ];
  if (v.term !== undefined) out.push({ name: m.term.name, labels: {}, value: Number(v.term) });
  for (const l of v.learners) {
    if (l.endpoint !== '' && l.lagEntries !== undefined)
      out.push({ name: m.learnerLag.name, labels: { endpoint: l.endpoint }, value: l.lagEntries });
  }
  for (const ver of v.versions) {
    out.push({
      name: m.versionInfo.name,
      labels: {
        endpoint: ver.endpoint,
        serverVersion: ver.server,
        clusterVersion: ver.cluster,
        storageVersion: ver.storage,
      },
      value: 1,
    });
    out.push({ name: m.foreign.name, labels: { endpoint: ver.endpoint }, value: 0 });
  }
  for (const f of v.foreignEndpoints)
    out.push({ name: m.foreign.name, labels: { endpoint: f.endpoint }, value: 1 });
  return out;
}

export const topologyFeature = defineFeature({
  name: 'topology',
  description:
    'Leader and term, leader changes, learners and their lag, version skew, cluster identity of every endpoint, members never started, member lists that disagree.',
  defaultIntervalSeconds: 30,
  metrics: TOPOLOGY_METRICS,
  optionsSchema: TopologyOptionsSchema,
  parseOptions: (raw) => parseOptions('topology', TopologyOptionsSchema, raw),
  open: (cluster, options) => new TopologySession(cluster, options),
});
