/**
 * The verdict on one interval of a member: each figure against etcd's
 * guidance (docs "Tuning", "Hardware recommendations" and the etcd mixin's
 * alerts), a cause in words and what to do (with its section of
 * docs/runbooks.md). Pure: figures in, findings out.
 */
import type { Finding } from '../../findings.ts';
import { humanDuration } from '../units.ts';
import type { MemberFigures } from './figures.ts';

export interface PerformanceThresholds {
  readonly walFsyncP99Seconds: number;
  readonly backendCommitP99Seconds: number;
  readonly applyP99Seconds: number;
  readonly peerRoundTripP99Seconds: number;
  /** A latency this many times its threshold is critical. */
  readonly criticalFactor: number;
  /** Counts in one interval above which there is a finding. */
  readonly slowApplies: number;
  readonly heartbeatFailures: number;
  readonly leaderChanges: number;
  readonly proposalsFailed: number;
  readonly proposalsPending: number;
  /** 0: no bound. */
  readonly residentMemoryBytes: number;
}

/** The causes a finding can have; the `cause` label of inspection_etcd_member_performance_level. */
export const CAUSES = {
  slow_disk: 'slow disk',
  slow_apply: 'slow apply',
  slow_peer_link: 'slow peer link',
  heartbeat_failures: 'heartbeats not sent in time',
  leader_changes: 'leader changes',
  failed_proposals: 'failed proposals',
  proposal_backlog: 'proposal backlog',
  high_memory: 'high memory',
} as const;

export type Cause = keyof typeof CAUSES;

export interface PerformanceFinding extends Finding {
  readonly causeKey: Cause;
}

const ACTIONS: Record<Cause, { action: string; runbook: string }> = {
  slow_disk: {
    action:
      'put the data dir (WAL) on a dedicated SSD/NVMe, check the disk for other load (iostat) and I/O throttling',
    runbook: 'EtcdMemberSlowDisk',
  },
  slow_apply: {
    action:
      'look for expensive requests (large ranges, many keys), CPU starvation or a defragmentation on this member',
    runbook: 'EtcdMemberSlowApply',
  },
  slow_peer_link: {
    action:
      'check the network between the two members (latency, loss, bandwidth) and whether either is overloaded',
    runbook: 'EtcdMemberSlowPeerLink',
  },
  heartbeat_failures: {
    action:
      'the leader could not keep up: check its disk, CPU and network; raise --heartbeat-interval only after that',
    runbook: 'EtcdMemberRaftTrouble',
  },
  leader_changes: {
    action: 'find why leadership moves: slow disks, overloaded members or a flaky network between members',
    runbook: 'EtcdFrequentLeaderChanges',
  },
  failed_proposals: {
    action: 'writes failed (lost leader or quorum): check the leader changes and the members\u2019 health',
    runbook: 'EtcdMemberRaftTrouble',
  },
  proposal_backlog: {
    action: 'the leader cannot commit as fast as it is asked: check its disk and the write load',
    runbook: 'EtcdMemberRaftTrouble',
  },
  high_memory: {
    action: 'look for large ranges or watches and for a large keyspace; give the member more memory',
    runbook: 'EtcdMemberHighMemory',
  },
};

/** "etcd-1 ↔ etcd-3": a peer link, named from the member that measured it. */
export function linkLabel(from: string, to: string): string {
  return `${from} \u2194 ${to}`;
}

export interface MemberToAssess {
  /** How people name the member (memberLabel). */
  readonly where: string;
  /** Its short name in a peer link (the member's name, else its endpoint), as peerName names the other end. */
  readonly linkName: string;
  readonly figures: MemberFigures;
  /** A peer's name from its ID (hex, as etcd writes it); the ID itself when unknown. */
  readonly peerName: (peerId: string) => string;
}

export function assessMember(member: MemberToAssess, t: PerformanceThresholds): PerformanceFinding[] {
  const f = member.figures;
  const window = `over the last ${f.windowSeconds < 120 ? `${Math.round(f.windowSeconds)} s` : humanDuration(f.windowSeconds)}`;
  const findings: PerformanceFinding[] = [];
  const add = (
    causeKey: Cause,
    measure: string,
    value: number | undefined,
    threshold: number,
    unit: Finding['unit'],
    opts: { where?: string; critical?: boolean; gauge?: boolean } = {},
  ): void => {
    if (value === undefined || !(value > threshold)) return;
    findings.push({
      causeKey,
      member: opts.where ?? member.where,
      cause: CAUSES[causeKey],
      measure,
      value,
      threshold,
      unit,
      ...(opts.gauge !== true && { window }),
      severity: opts.critical === true ? 'critical' : 'warning',
      ...ACTIONS[causeKey],
    });
  };
  const latency = (
    causeKey: Cause,
    measure: string,
    value: number | undefined,
    threshold: number,
    where?: string,
  ): void =>
    add(causeKey, measure, value, threshold, 'seconds', {
      ...(where !== undefined && { where }),
      critical: value !== undefined && value > threshold * t.criticalFactor,
    });
  latency('slow_disk', 'WAL fsync p99', f.walFsyncP99Seconds, t.walFsyncP99Seconds);
  latency('slow_disk', 'backend commit p99', f.backendCommitP99Seconds, t.backendCommitP99Seconds);
  latency('slow_apply', 'apply duration p99', f.applyP99Seconds, t.applyP99Seconds);
  add('slow_apply', 'slow applies', f.slowApplies, t.slowApplies, 'count');
  for (const peer of f.peers) {
    const where = linkLabel(member.linkName, member.peerName(peer.peerId));
    latency(
      'slow_peer_link',
      'peer round trip p99',
      peer.roundTripP99Seconds,
      t.peerRoundTripP99Seconds,
      where,
    );
  }
  add('heartbeat_failures', 'heartbeat send failures', f.heartbeatFailures, t.heartbeatFailures, 'count');
  add('leader_changes', 'leader changes seen', f.leaderChanges, t.leaderChanges, 'count');
  add('failed_proposals', 'failed proposals', f.proposalsFailed, t.proposalsFailed, 'count');
  add('proposal_backlog', 'pending proposals', f.proposalsPending, t.proposalsPending, 'count', {
    gauge: true,
  });
  if (t.residentMemoryBytes > 0)
    add('high_memory', 'resident memory', f.rssBytes, t.residentMemoryBytes, 'bytes', { gauge: true });
  return findings;
}

/**
 * The one member every slow peer link has at one of its ends, when there are
 * several links: the member to look at (paused, overloaded, its network).
 */
export function commonLinkMember(findings: readonly PerformanceFinding[]): string | undefined {
  const links = findings
    .filter((f) => f.causeKey === 'slow_peer_link')
    .map((f) => f.member.split(' \u2194 '));
  if (links.length < 2) return undefined;
  const [first = []] = links;
  const common = first.filter((end) => links.every((ends) => ends.includes(end)));
  return common.length === 1 ? common[0] : undefined;
}

/** 0 none, 1 warning, 2 critical: the worst finding of each cause. */
export function levelsByCause(findings: readonly PerformanceFinding[]): Record<Cause, number> {
  const levels = Object.fromEntries(Object.keys(CAUSES).map((c) => [c, 0])) as Record<Cause, number>;
  for (const f of findings)
    levels[f.causeKey] = Math.max(levels[f.causeKey], f.severity === 'critical' ? 2 : 1);
  return levels;
}
