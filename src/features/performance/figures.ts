/**
 * From a member's /metrics text to a reading (the few families that say why
 * etcd is slow), and from two readings to the figures of the interval
 * between them. Names checked on etcd 3.4.23, 3.5.35 and 3.6.16: the same on
 * all three except etcd_server_apply_duration_seconds (3.5+; absent on 3.4,
 * where slow applies are still counted).
 */
import { parseExposition } from './exposition.ts';
import { counterIncrease, histogramIncrease, histograms, quantile, total, type Histogram } from './rates.ts';

export const ETCD_FAMILIES = {
  walFsync: 'etcd_disk_wal_fsync_duration_seconds',
  backendCommit: 'etcd_disk_backend_commit_duration_seconds',
  /** 3.5+. */
  apply: 'etcd_server_apply_duration_seconds',
  slowApplies: 'etcd_server_slow_apply_total',
  /** Label To: the peer's member ID in hex. */
  peerRoundTrip: 'etcd_network_peer_round_trip_time_seconds',
  /** Label To; only once a send failed. */
  peerSentFailures: 'etcd_network_peer_sent_failures_total',
  heartbeatFailures: 'etcd_server_heartbeat_send_failures_total',
  leaderChanges: 'etcd_server_leader_changes_seen_total',
  proposalsFailed: 'etcd_server_proposals_failed_total',
  proposalsPending: 'etcd_server_proposals_pending',
  isLeader: 'etcd_server_is_leader',
  /** Label server_id: the member's own ID in hex (which member a metrics URL really serves). */
  serverId: 'etcd_server_id',
  rss: 'process_resident_memory_bytes',
  processStart: 'process_start_time_seconds',
} as const;

/** One reading of one member's /metrics. */
export interface Reading {
  readonly atMs: number;
  /** The member's own ID as it reports it, hex. */
  readonly serverId: string | undefined;
  readonly processStartSeconds: number | undefined;
  readonly walFsync: Histogram | undefined;
  readonly backendCommit: Histogram | undefined;
  readonly apply: Histogram | undefined;
  readonly slowApplies: number | undefined;
  /** By peer ID (hex, lower case, no leading zeros, as etcd writes it). */
  readonly peerRoundTrip: ReadonlyMap<string, Histogram>;
  readonly peerSentFailures: ReadonlyMap<string, number>;
  readonly heartbeatFailures: number | undefined;
  readonly leaderChanges: number | undefined;
  readonly proposalsFailed: number | undefined;
  readonly proposalsPending: number | undefined;
  readonly isLeader: boolean | undefined;
  readonly rssBytes: number | undefined;
}

export function readMetrics(text: string, atMs: number): Reading {
  const f = parseExposition(text, Object.values(ETCD_FAMILIES));
  const one = (name: string): Histogram | undefined => histograms(f.get(name)).get('');
  const failures = new Map<string, number>();
  for (const s of f.get(ETCD_FAMILIES.peerSentFailures) ?? []) {
    const to = s.labels['To'];
    if (to !== undefined) failures.set(to, (failures.get(to) ?? 0) + s.value);
  }
  const isLeader = total(f.get(ETCD_FAMILIES.isLeader));
  return {
    atMs,
    serverId: f.get(ETCD_FAMILIES.serverId)?.find((s) => s.value === 1)?.labels['server_id'],
    processStartSeconds: total(f.get(ETCD_FAMILIES.processStart)),
    walFsync: one(ETCD_FAMILIES.walFsync),
    backendCommit: one(ETCD_FAMILIES.backendCommit),
    apply: one(ETCD_FAMILIES.apply),
    slowApplies: total(f.get(ETCD_FAMILIES.slowApplies)),
    peerRoundTrip: histograms(f.get(ETCD_FAMILIES.peerRoundTrip), 'To'),
    peerSentFailures: failures,
    heartbeatFailures: total(f.get(ETCD_FAMILIES.heartbeatFailures)),
    leaderChanges: total(f.get(ETCD_FAMILIES.leaderChanges)),
    proposalsFailed: total(f.get(ETCD_FAMILIES.proposalsFailed)),
    proposalsPending: total(f.get(ETCD_FAMILIES.proposalsPending)),
    isLeader: isLeader === undefined ? undefined : isLeader === 1,
    rssBytes: total(f.get(ETCD_FAMILIES.rss)),
  };
}

export interface PeerFigures {
  /** The peer's member ID, hex as etcd writes it. */
  readonly peerId: string;
  /** p99 of the probes' round trips to the peer in the interval; undefined: no probe completed. */
  readonly roundTripP99Seconds: number | undefined;
  readonly sentFailures: number;
}

/**
 * What a member did between two readings. Counts are increases over
 * windowSeconds; the gauges (proposals pending, leadership, RSS) are the
 * second reading's.
 */
export interface MemberFigures extends Pick<Reading, 'proposalsPending' | 'isLeader' | 'rssBytes'> {
  readonly windowSeconds: number;
  /** The process restarted between the readings: counts are since its start (still inside the window). */
  readonly restarted: boolean;
  readonly walFsyncP99Seconds: number | undefined;
  readonly backendCommitP99Seconds: number | undefined;
  /** undefined on etcd 3.4 (no histogram) or when nothing was applied. */
  readonly applyP99Seconds: number | undefined;
  readonly slowApplies: number | undefined;
  readonly heartbeatFailures: number | undefined;
  readonly leaderChanges: number | undefined;
  readonly proposalsFailed: number | undefined;
  readonly peers: readonly PeerFigures[];
}

export const P99 = 0.99;

function p99(previous: Histogram | undefined, current: Histogram | undefined, restarted: boolean) {
  if (current === undefined) return undefined;
  return quantile(P99, histogramIncrease(previous, current, restarted));
}

function increase(previous: number | undefined, current: number | undefined, restarted: boolean) {
  return current === undefined ? undefined : counterIncrease(previous, current, restarted);
}

/** The figures of the interval between two readings of the same member. */
export function figuresBetween(previous: Reading, current: Reading): MemberFigures {
  const restarted =
    previous.processStartSeconds !== undefined &&
    current.processStartSeconds !== undefined &&
    previous.processStartSeconds !== current.processStartSeconds;
  const peers: PeerFigures[] = [];
  const peerIds = new Set([...current.peerRoundTrip.keys(), ...current.peerSentFailures.keys()]);
  for (const peerId of [...peerIds].sort()) {
    const rtt = current.peerRoundTrip.get(peerId);
    const failures = current.peerSentFailures.get(peerId);
    peers.push({
      peerId,
      roundTripP99Seconds: p99(previous.peerRoundTrip.get(peerId), rtt, restarted),
      sentFailures:
        failures === undefined
          ? 0
          : counterIncrease(previous.peerSentFailures.get(peerId) ?? 0, failures, restarted),
    });
  }
  return {
    windowSeconds: Math.max(0, (current.atMs - previous.atMs) / 1000),
    restarted,
    walFsyncP99Seconds: p99(previous.walFsync, current.walFsync, restarted),
    backendCommitP99Seconds: p99(previous.backendCommit, current.backendCommit, restarted),
    applyP99Seconds: p99(previous.apply, current.apply, restarted),
    slowApplies: increase(previous.slowApplies, current.slowApplies, restarted),
    heartbeatFailures: increase(previous.heartbeatFailures, current.heartbeatFailures, restarted),
    leaderChanges: increase(previous.leaderChanges, current.leaderChanges, restarted),
    proposalsFailed: increase(previous.proposalsFailed, current.proposalsFailed, restarted),
    proposalsPending: current.proposalsPending,
    isLeader: current.isLeader,
    rssBytes: current.rssBytes,
    peers,
  };
}
