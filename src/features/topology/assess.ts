/**
 * The topology verdict of one round, as a pure function of what every
 * endpoint answered and of what the previous rounds saw (leader, term,
 * problems that must persist before they count).
 */
import { memberIdHex, type MemberInfo } from '../../etcd/types.ts';
import type { Finding } from '../../findings.ts';
import { humanDuration } from '../units.ts';

export interface EndpointObservation {
  /** host:port */
  readonly endpoint: string;
  /** Member name as known from the membership ('' when unknown). */
  readonly name: string;
  readonly status?: {
    readonly clusterId: bigint;
    readonly memberId: bigint;
    readonly leader: bigint;
    readonly raftTerm: bigint;
    readonly raftAppliedIndex: bigint;
    readonly version: string;
    /** '' before 3.6 */
    readonly storageVersion: string;
    readonly isLearner: boolean;
  };
  readonly members?: readonly MemberInfo[];
  /** From /version; '' when not asked or not answered. */
  readonly clusterVersion?: string;
  readonly error?: string;
}

export interface TopologyThresholds {
  readonly learnerLagEntries: number;
  readonly maxLeaderChanges: number;
  readonly leaderChangeWindowSeconds: number;
}

/** What a session carries from one round to the next. */
export interface TopologyMemory {
  clusterId: bigint | undefined;
  leader: bigint | undefined;
  term: bigint | undefined;
  leaderChanges: number;
  /** When the leader changes of the window happened (ms). */
  changeTimes: number[];
  /** Keys of the soft findings seen last round: they become problems when seen twice in a row. */
  pending: Set<string>;
}

export function newMemory(): TopologyMemory {
  return {
    clusterId: undefined,
    leader: undefined,
    term: undefined,
    leaderChanges: 0,
    changeTimes: [],
    pending: new Set(),
  };
}

export interface LearnerState {
  readonly id: string;
  readonly name: string;
  readonly endpoint: string;
  readonly started: boolean;
  /** Leader's applied index minus the learner's; undefined when either is unknown. */
  readonly lagEntries: number | undefined;
}

export interface VersionState {
  readonly endpoint: string;
  readonly server: string;
  readonly cluster: string;
  readonly storage: string;
}

export interface TopologyVerdict {
  readonly clusterId: string | undefined;
  readonly leader: string | undefined;
  readonly leaderEndpoint: string | undefined;
  readonly term: string | undefined;
  readonly leaderChanges: number;
  readonly leaderChangesInWindow: number;
  readonly foreignEndpoints: readonly { endpoint: string; clusterId: string }[];
  readonly learners: readonly LearnerState[];
  readonly unstarted: readonly { id: string; peerURLs: readonly string[]; isLearner: boolean }[];
  readonly versions: readonly VersionState[];
  readonly serverMinors: readonly string[];
  readonly memberListsDisagree: boolean;
  readonly problems: readonly string[];
  /** The same problems for the why section: the member, the figure or fact, what to do. */
  readonly findings: readonly Finding[];
  readonly summary: string;
}

const RUNBOOK = 'see docs/runbooks.md';

/** Where a finding about the whole cluster is, rather than one member. */
const CLUSTER_WIDE = 'cluster';

export function minorOf(version: string): string {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m === null ? version : `${m[1]}.${m[2]}`;
}

/** Numeric order of "major.minor" strings ("3.10" after "3.9"). */
export function compareMinor(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

function majority<T>(values: readonly T[], prefer: T | undefined): T | undefined {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: T | undefined;
  let bestCount = 0;
  for (const [v, n] of counts) {
    if (n > bestCount || (n === bestCount && v === prefer)) {
      best = v;
      bestCount = n;
    }
  }
  return best;
}

function where(o: { endpoint: string; name: string }): string {
  return o.name === '' ? o.endpoint : `${o.endpoint} (${o.name})`;
}

/**
 * Updates `memory` and returns the round's verdict. `nowMs` is the round's
 * time (leader changes are counted in a window).
 */
export function assessTopology(
  observations: readonly EndpointObservation[],
  memory: TopologyMemory,
  t: TopologyThresholds,
  nowMs: number,
): TopologyVerdict {
  const problems: string[] = [];
  const findings: Finding[] = [];
  const soft = new Set<string>();
  /** A problem that may be a moment of an election or a membership change: reported when seen two rounds in a row. */
  const persisting = (key: string, text: string, ...found: Finding[]): void => {
    soft.add(key);
    if (!memory.pending.has(key)) return;
    problems.push(text);
    findings.push(...found);
  };

  // Identity: the cluster is what most endpoints say it is.
  const answered = observations.filter((o) => o.status !== undefined);
  const clusterId = majority(
    answered.map((o) => o.status!.clusterId),
    memory.clusterId,
  );
  const ours = answered.filter((o) => o.status!.clusterId === clusterId);
  const foreign = answered.filter((o) => o.status!.clusterId !== clusterId);
  for (const o of foreign) {
    problems.push(
      `critical: endpoint ${where(o)} answers as member ${memberIdHex(o.status!.memberId)} of cluster ${memberIdHex(o.status!.clusterId)}, while ${ours.length} other endpoint(s) answer as cluster ${memberIdHex(clusterId!)}: it belongs to another etcd cluster (a wrong address in the endpoints, or a member re-bootstrapped into a new cluster: split brain); fix the endpoints or the member; its answers are left out of every other check of this inspection; ${RUNBOOK} (EtcdEndpointOfAnotherCluster)`,
    );
    findings.push({
      member: where(o),
      cause: 'endpoint of another cluster',
      measure: `answers as member ${memberIdHex(o.status!.memberId)} of cluster ${memberIdHex(o.status!.clusterId)}; ${ours.length} other endpoint(s) as cluster ${memberIdHex(clusterId!)}`,
      severity: 'critical',
      action:
        'a wrong address in the endpoints, or a member re-bootstrapped into a new cluster (split brain): fix the endpoints or the member; its answers are left out of every other check',
      runbook: 'EtcdEndpointOfAnotherCluster',
    });
  }
  if (clusterId !== undefined && memory.clusterId !== undefined && clusterId !== memory.clusterId) {
    problems.push(
      `critical: the cluster ID changed from ${memberIdHex(memory.clusterId)} to ${memberIdHex(clusterId)}: the endpoints now reach a different etcd cluster (re-created or restored from a snapshot into a new cluster); make sure that was intended; ${RUNBOOK} (EtcdEndpointOfAnotherCluster)`,
    );
    findings.push({
      member: CLUSTER_WIDE,
      cause: 'cluster ID changed',
      measure: `cluster ID ${memberIdHex(clusterId)}, was ${memberIdHex(memory.clusterId)}`,
      severity: 'critical',
      action:
        'the endpoints now reach a different etcd cluster (re-created, or restored from a snapshot into a new cluster): make sure that was intended',
      runbook: 'EtcdEndpointOfAnotherCluster',
    });
  }
  if (clusterId !== undefined) memory.clusterId = clusterId;

  // The membership: the leader's list when it answered, else the most common list.
  const signature = (list: readonly MemberInfo[]): string =>
    list
      .map((m) => `${memberIdHex(m.id)}${m.isLearner ? '(learner)' : ''}`)
      .sort()
      .join(',');
  const lists = ours.filter((o) => o.members !== undefined);
  const commonSignature = majority(
    lists.map((o) => signature(o.members!)),
    undefined,
  );
  const memberList = lists.find((o) => signature(o.members!) === commonSignature)?.members ?? [];
  const memberListsDisagree = new Set(lists.map((o) => signature(o.members!))).size > 1;
  if (memberListsDisagree) {
    persisting(
      'lists',
      `the members disagree about the membership: ${lists.map((o) => `${where(o)} lists [${signature(o.members!)}]`).join('; ')}; a member that keeps an old list missed a membership change (check its log, and that it is connected to the leader); ${RUNBOOK} (EtcdMemberListsDisagree)`,
      // One finding per member whose list is not the common one (all of them when none is).
      ...lists
        .filter((o) => commonSignature === undefined || signature(o.members!) !== commonSignature)
        .map(
          (o): Finding => ({
            member: where(o),
            cause: 'member list differs',
            measure: `lists [${signature(o.members!)}], the others [${commonSignature ?? '?'}]`,
            severity: 'warning',
            action:
              'this member missed a membership change: check its log and that it is connected to the leader',
            runbook: 'EtcdMemberListsDisagree',
          }),
        ),
    );
  }

  // Leader and term.
  const voters = ours.filter((o) => !o.status!.isLearner);
  const leaderVotes = voters.map((o) => o.status!.leader).filter((l) => l !== 0n);
  const leader = majority(leaderVotes, memory.leader);
  let term: bigint | undefined;
  for (const o of ours) if (term === undefined || o.status!.raftTerm > term) term = o.status!.raftTerm;
  for (const o of voters) {
    if (o.status!.leader === 0n) {
      persisting(
        `noleader:${o.endpoint}`,
        `member ${where(o)} knows no leader: it cannot serve linearizable reads or writes; check its network to the other members and their health; ${RUNBOOK} (EtcdNoLeader)`,
        {
          member: where(o),
          cause: 'no leader',
          measure: `knows no leader (term ${o.status!.raftTerm})`,
          severity: 'critical',
          action:
            'it cannot serve linearizable reads or writes: check its network to the other members and their health',
          runbook: 'EtcdNoLeader',
        },
      );
    } else if (leader !== undefined && o.status!.leader !== leader) {
      persisting(
        `otherleader:${o.endpoint}`,
        `member ${where(o)} follows leader ${memberIdHex(o.status!.leader)} while the others follow ${memberIdHex(leader)}: it is partitioned or lagging behind an election; check its network; ${RUNBOOK} (EtcdNoLeader)`,
        {
          member: where(o),
          cause: 'follows another leader',
          measure: `follows ${memberIdHex(o.status!.leader)}, the others ${memberIdHex(leader)}`,
          severity: 'warning',
          action: 'it is partitioned or lagging behind an election: check its network to the other members',
          runbook: 'EtcdNoLeader',
        },
      );
    }
  }
  if (leader !== undefined && term !== undefined) {
    const changed =
      memory.leader !== undefined &&
      (leader !== memory.leader || (memory.term !== undefined && term > memory.term));
    if (changed) {
      memory.leaderChanges++;
      memory.changeTimes.push(nowMs);
    }
    memory.leader = leader;
    memory.term = term;
  }
  const windowStart = nowMs - t.leaderChangeWindowSeconds * 1000;
  memory.changeTimes = memory.changeTimes.filter((at) => at >= windowStart);
  const inWindow = memory.changeTimes.length;
  const leaderObs = ours.find((o) => o.status!.memberId === leader);
  if (inWindow > t.maxLeaderChanges) {
    problems.push(
      `the leader changed ${inWindow} times in the last ${humanDuration(t.leaderChangeWindowSeconds)} (now ${leader === undefined ? 'none' : memberIdHex(leader)}, term ${term ?? '?'}; more than ${t.maxLeaderChanges}): elections stall writes; look for slow disks (fsync), CPU starvation or a flaky network between members, and an election timeout too short for them; ${RUNBOOK} (EtcdFrequentLeaderChanges)`,
    );
    findings.push({
      // Elections are the cluster's; the leader now is where to start looking.
      member: CLUSTER_WIDE,
      cause: 'frequent leader changes',
      measure: `leader changes (now ${leaderObs !== undefined ? where(leaderObs) : leader === undefined ? 'no leader' : memberIdHex(leader)}, term ${term ?? '?'})`,
      value: inWindow,
      threshold: t.maxLeaderChanges,
      unit: 'count',
      window: `over the last ${humanDuration(t.leaderChangeWindowSeconds)}`,
      severity: 'warning',
      action:
        'elections stall writes: look for slow disks (fsync), CPU starvation or a flaky network between members, and an election timeout too short for them',
      runbook: 'EtcdFrequentLeaderChanges',
    });
  }

  // Learners: how far each trails the leader.
  const leaderApplied = leaderObs?.status?.raftAppliedIndex;
  const learners: LearnerState[] = memberList
    .filter((m) => m.isLearner)
    .map((m) => {
      const obs = ours.find((o) => o.status!.memberId === m.id);
      const lag =
        obs !== undefined && leaderApplied !== undefined
          ? Number(leaderApplied - obs.status!.raftAppliedIndex)
          : undefined;
      return {
        id: memberIdHex(m.id),
        name: m.name,
        endpoint: obs?.endpoint ?? '',
        started: m.clientURLs.length > 0,
        lagEntries: lag === undefined ? undefined : Math.max(0, lag),
      };
    });
  for (const l of learners) {
    if (l.lagEntries !== undefined && l.lagEntries > t.learnerLagEntries) {
      const learner = where({ endpoint: l.endpoint || l.id, name: l.name });
      persisting(
        `learnerlag:${l.id}`,
        `learner ${learner} trails the leader by ${l.lagEntries} entries (more than ${t.learnerLagEntries}): do not promote it yet (etcd refuses until it has caught up); if the gap keeps growing, check its disk and network, or remove and re-add it; ${RUNBOOK} (EtcdLearnerLagging)`,
        {
          member: learner,
          cause: 'learner lagging',
          measure: 'raft entries behind the leader',
          value: l.lagEntries,
          threshold: t.learnerLagEntries,
          unit: 'count',
          severity: 'warning',
          action:
            'do not promote it yet (etcd refuses until it has caught up); if the gap keeps growing, check its disk and network, or remove and re-add it',
          runbook: 'EtcdLearnerLagging',
        },
      );
    }
  }

  // Members added but never started.
  const unstarted = memberList
    .filter((m) => m.clientURLs.length === 0)
    .map((m) => ({ id: memberIdHex(m.id), peerURLs: m.peerURLs, isLearner: m.isLearner }));
  for (const u of unstarted) {
    persisting(
      `unstarted:${u.id}`,
      `${u.isLearner ? 'learner' : 'member'} ${u.id} (peer ${u.peerURLs.join(',') || '?'}) is in the membership without client URLs: it was added but never started${u.isLearner ? '' : ', and as a voting member it counts toward the quorum, so the cluster tolerates one failure less'}; start it with --initial-cluster-state=existing, or remove it (etcdctl member remove ${u.id}); ${RUNBOOK} (EtcdMemberNotStarted)`,
      {
        member: `${u.id} (peer ${u.peerURLs.join(',') || '?'})`,
        cause: `${u.isLearner ? 'learner' : 'member'} never started`,
        measure: `in the membership without client URLs${u.isLearner ? '' : ': a voter, so the cluster tolerates one failure less'}`,
        severity: 'warning',
        action: `start it with --initial-cluster-state=existing, or remove it (etcdctl member remove ${u.id})`,
        runbook: 'EtcdMemberNotStarted',
      },
    );
  }

  // Versions.
  const versions: VersionState[] = ours.map((o) => ({
    endpoint: o.endpoint,
    server: o.status!.version,
    cluster: o.clusterVersion ?? '',
    storage: o.status!.storageVersion,
  }));
  const serverMinors = [...new Set(versions.map((v) => minorOf(v.server)))].sort(compareMinor);
  if (serverMinors.length > 1) {
    const byMinor = serverMinors
      .map(
        (minor) =>
          `${minor} on ${ours
            .filter((o) => minorOf(o.status!.version) === minor)
            .map((o) => `${where(o)} ${o.status!.version}`)
            .join(', ')}`,
      )
      .join('; ');
    const clusterVersions = [...new Set(versions.map((v) => v.cluster).filter((v) => v !== ''))];
    problems.push(
      `members run different minor versions (${byMinor})${clusterVersions.length > 0 ? `, cluster version ${clusterVersions.join('/')}` : ''}: etcd supports mixed versions only during a rolling upgrade or downgrade; finish it one member at a time (the cluster version moves up once every member runs the new version); ${RUNBOOK} (EtcdVersionSkew)`,
    );
    // One finding per member behind the newest minor: the ones an upgrade has still to reach.
    const newest = serverMinors.at(-1)!;
    for (const o of ours.filter((o) => minorOf(o.status!.version) !== newest)) {
      findings.push({
        member: where(o),
        cause: 'version skew',
        measure: `runs ${o.status!.version}, ${newest} on ${ours.filter((n) => minorOf(n.status!.version) === newest).length} other member(s)${clusterVersions.length > 0 ? `, cluster version ${clusterVersions.join('/')}` : ''}`,
        severity: 'warning',
        action:
          'etcd supports mixed versions only during a rolling upgrade or downgrade: finish it one member at a time',
        runbook: 'EtcdVersionSkew',
      });
    }
  } else if (serverMinors.length === 1) {
    const lagging = versions.filter(
      (v) => v.cluster !== '' && compareMinor(minorOf(v.cluster), serverMinors[0]!) < 0,
    );
    if (lagging.length > 0) {
      persisting(
        'clusterversion',
        `every member runs ${serverMinors[0]} but the cluster version is ${lagging[0]!.cluster} (as ${lagging.map((v) => v.endpoint).join(', ')} report it): the upgrade is not complete; the leader raises the cluster version once all members run the new version, so check the leader's log for why it does not; ${RUNBOOK} (EtcdVersionSkew)`,
        {
          // The leader raises the cluster version: its log says why it does not.
          member: leaderObs !== undefined ? where(leaderObs) : CLUSTER_WIDE,
          cause: 'upgrade not complete',
          measure: `cluster version ${lagging[0]!.cluster} while every member runs ${serverMinors[0]}`,
          severity: 'warning',
          action:
            "the leader raises the cluster version once all members run the new version: check the leader's log for why it does not",
          runbook: 'EtcdVersionSkew',
        },
      );
    }
  }

  memory.pending = soft;
  const leaderText =
    leader === undefined
      ? 'no leader'
      : `leader ${leaderObs !== undefined ? where(leaderObs) : memberIdHex(leader)}`;
  const summary = [
    `${leaderText}, term ${term ?? '?'}, ${memory.leaderChanges} leader change(s) seen`,
    `${memberList.length} member(s)${learners.length > 0 ? `, ${learners.length} learner(s)` : ''}`,
    `version${serverMinors.length > 1 ? 's' : ''} ${[...new Set(versions.map((v) => v.server))].sort().join(', ') || '?'}`,
    ...(foreign.length > 0 ? [`FOREIGN: ${foreign.map((o) => o.endpoint).join(', ')}`] : []),
    ...(unstarted.length > 0 ? [`not started: ${unstarted.map((u) => u.id).join(', ')}`] : []),
  ].join('; ');
  return {
    clusterId: clusterId === undefined ? undefined : memberIdHex(clusterId),
    leader: leader === undefined ? undefined : memberIdHex(leader),
    leaderEndpoint: leaderObs?.endpoint,
    term: term?.toString(),
    leaderChanges: memory.leaderChanges,
    leaderChangesInWindow: inWindow,
    foreignEndpoints: foreign.map((o) => ({
      endpoint: o.endpoint,
      clusterId: memberIdHex(o.status!.clusterId),
    })),
    learners,
    unstarted,
    versions,
    serverMinors,
    memberListsDisagree,
    problems,
    findings,
    summary,
  };
}
