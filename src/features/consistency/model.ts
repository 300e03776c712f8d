/**
 * What the consistency inspection's parts share: its metric families,
 * options, the details it reports, and the per-member state of a round.
 */
import { Type } from '@sinclair/typebox';
import type { MemberHandle } from '../../engine/contract.ts';
import { memberIdHex, type HashKVResult, type StatusResult } from '../../etcd/types.ts';
import { family, type MetricDefinition } from '../../metrics/catalogue.ts';

export const CONSISTENCY_METRICS = {
  keyDiff: family.gauge(
    'inspection_etcd_node_diff_total',
    'Largest minus smallest key count of the checked range over the members, all counted at the same revision (v2: at the same index). 0 when the members agree; any other value is divergence, not lag.',
  ),
  revisionDiff: family.gauge(
    'inspection_etcd_node_revision_diff_total',
    'Largest minus smallest store revision the members reported in this round: replication lag, not divergence.',
  ),
  raftIndexDiff: family.gauge(
    'inspection_etcd_node_raft_index_diff_total',
    'Largest minus smallest raft committed index over the members: lag, not divergence.',
  ),
  appliedIndexDiff: family.gauge(
    'inspection_etcd_node_raft_applied_index_diff_total',
    'Largest minus smallest raft applied index over the members: lag, not divergence.',
  ),
  v2IndexDiff: family.gauge(
    'inspection_etcd_node_index_diff_total',
    'v2 clusters: largest minus smallest v2 store index (X-Etcd-Index) in one parallel read of every member: lag, not divergence.',
  ),
  hashMismatch: family.gauge(
    'inspection_etcd_consistency_hash_mismatch',
    '1 when members that hashed the same revision range disagree, 0 when every member was compared and all agree. Absent when the hash was not compared this round.',
  ),
  endpointHashMismatch: family.gauge(
    'inspection_etcd_endpoint_hash_mismatch',
    '1 for a member whose hash differs from the largest group of equal hashes (every compared member when there is no single largest group), 0 for a member that agrees. Only compared members have a series.',
    ['endpoint'],
  ),
  checkedRevision: family.gauge(
    'inspection_etcd_consistency_checked_revision',
    'The revision every member counted its keys at (v2: the common v2 index). Present when every member was counted.',
  ),
  hashRevision: family.gauge(
    'inspection_etcd_consistency_hash_revision',
    'The revision the compared hashes cover (a compaction revision for a cached compaction hash, else the checked revision of the round that hashed). Present with inspection_etcd_consistency_hash_mismatch.',
  ),
  hashTimestamp: family.gauge(
    'inspection_etcd_consistency_hash_timestamp_seconds',
    'When the exported hash verdict was reached (Unix time). With hashRevision auto a scan verdict stands, and is exported again, until the next hash (the next compaction, or hashIdleSeconds later). Present with inspection_etcd_consistency_hash_mismatch.',
  ),
  memberKeys: family.gauge(
    'inspection_etcd_consistency_member_keys',
    'Keys of the checked range on this member at the checked revision. Present when every member was counted.',
    ['endpoint'],
  ),
} as const satisfies Record<string, MetricDefinition>;

export const HASH_MODES = ['auto', 'compacted', 'current', 'none'] as const;
export type HashMode = (typeof HASH_MODES)[number];

export const ConsistencyOptionsSchema = Type.Object(
  {
    /** Key prefix whose keys are counted; '' = the whole keyspace (v2: '/'). */
    prefix: Type.String({ default: '' }),
    hashRevision: Type.Union(
      HASH_MODES.map((m) => Type.Literal(m)),
      { default: 'auto' },
    ),
    /** Deadline of one HashKV call (a scan of a large backend takes seconds). */
    hashTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 600, default: 30 }),
    /**
     * hashRevision auto: after this long without a compaction (or when never
     * compacted), a scan at a recent revision, at most once per period.
     */
    hashIdleSeconds: Type.Integer({ minimum: 1, maximum: 604_800, default: 600 }),
    /** v2: how many parallel reads until every member answers at the same index. */
    v2CountAttempts: Type.Integer({ minimum: 1, maximum: 20, default: 5 }),
  },
  { additionalProperties: false },
);

export interface ConsistencyOptions {
  readonly prefix: string;
  readonly hashRevision: HashMode;
  readonly hashTimeoutSeconds: number;
  readonly hashIdleSeconds: number;
  readonly v2CountAttempts: number;
}

/**
 * How the hash of a round was taken: etcd's cached compaction hash, a scan
 * after a compaction, a scan at a recent revision (hashRevision auto), or
 * the fixed modes' hash at the compaction / checked revision.
 */
export type HashKind = 'cached' | 'compaction-scan' | 'recent' | 'compacted' | 'current';

export type HashVerdict = 'consistent' | 'mismatch' | 'unknown' | 'not-checked';

export interface ConsistencyMember {
  readonly endpoint: string;
  readonly id: string | null;
  readonly name: string;
  readonly version: string | null;
  readonly learner: boolean;
  readonly revision: bigint | null;
  readonly raftIndex: bigint | null;
  readonly raftAppliedIndex: bigint | null;
  /** The member's compact revision (hashRevision auto and compacted); -1 when never compacted. */
  readonly compactRevision: bigint | null;
  /** Keys of the range at the checked revision (v2: at the common index). */
  readonly keys: bigint | null;
  /** v2: the member's index in the first parallel read. */
  readonly v2Index: bigint | null;
  readonly hash: number | null;
  /** The compact revision the member reported with its hash. */
  readonly hashCompactRevision: bigint | null;
  /** match / mismatch when compared; unknown when it should have been and was not; not-checked otherwise. */
  readonly hashState: 'match' | 'mismatch' | 'unknown' | 'not-checked';
  /** Why a part is unknown for this member. */
  readonly errors: readonly string[];
}

export interface ConsistencyDetails {
  readonly backend: 'v3' | 'v2';
  readonly prefix: string;
  readonly hashMode: HashMode;
  /** R: where the keys were counted (v2: the common index); null when not every member was counted. */
  readonly checkedRevision: bigint | null;
  readonly hashRevision: bigint | null;
  readonly hash: HashVerdict;
  /** How the compared hashes were taken; null when none were. */
  readonly hashKind: HashKind | null;
  /** When the verdict in `hash` was reached (ISO 8601); null without one. */
  readonly hashCheckedAt: string | null;
  /** hashRevision auto: the verdict was reached by an earlier round and stands (no hash taken this round). */
  readonly hashReused: boolean;
  /** Why the hash was not checked, is unknown or was reused; when the next hash comes ('' otherwise). */
  readonly hashNote: string;
  readonly keyDiff: bigint | null;
  readonly revisionDiff: bigint | null;
  readonly raftIndexDiff: bigint | null;
  readonly raftAppliedIndexDiff: bigint | null;
  readonly v2IndexDiff: bigint | null;
  readonly members: readonly ConsistencyMember[];
}

/** Per-member state while a round runs (v3 and v2). */
export interface MemberRound {
  readonly member: MemberHandle;
  readonly label: string;
  errors: string[];
  status?: StatusResult;
  compactRevision?: bigint;
  keys?: bigint;
  v2Index?: bigint;
  hash?: HashKVResult;
  hashState: ConsistencyMember['hashState'];
}

/** null for an absent value: the details are JSON, where undefined disappears. */
export function orNull(v: bigint | null | undefined): bigint | null {
  return v ?? null;
}

/** The label of a member in findings and series: its endpoint, else its name. */
export function labelOf(member: MemberHandle): string {
  return member.snapshot.endpoint !== ''
    ? member.snapshot.endpoint
    : member.snapshot.name || '(member without client URL)';
}

/** The details of a round: the verdict given, and every member's answers. */
export function roundDetails(
  backend: 'v3' | 'v2',
  options: ConsistencyOptions,
  rounds: readonly MemberRound[],
  verdict: Partial<ConsistencyDetails>,
): ConsistencyDetails {
  return {
    backend,
    prefix: options.prefix,
    hashMode: options.hashRevision,
    checkedRevision: null,
    hashRevision: null,
    hash: 'unknown',
    hashKind: null,
    hashCheckedAt: null,
    hashReused: false,
    hashNote: '',
    keyDiff: null,
    revisionDiff: null,
    raftIndexDiff: null,
    raftAppliedIndexDiff: null,
    v2IndexDiff: null,
    ...verdict,
    members: rounds.map((w) => ({
      endpoint: w.member.snapshot.endpoint,
      id:
        w.member.snapshot.id !== undefined
          ? memberIdHex(w.member.snapshot.id)
          : w.status !== undefined
            ? memberIdHex(w.status.header.memberId)
            : null,
      name: w.member.snapshot.name,
      version: w.status?.version ?? w.member.snapshot.version ?? null,
      learner: w.status?.isLearner ?? w.member.snapshot.role === 'learner',
      revision: orNull(w.status?.header.revision),
      raftIndex: orNull(w.status?.raftIndex),
      raftAppliedIndex: orNull(w.status?.raftAppliedIndex),
      compactRevision: orNull(w.compactRevision),
      keys: orNull(w.keys),
      v2Index: orNull(w.v2Index),
      hash: w.hash?.hash ?? null,
      hashCompactRevision: orNull(w.hash?.compactRevision),
      hashState: w.hashState,
      errors: w.errors,
    })),
  };
}

/** A member that answered Status this round: what the later steps of a v3 round work with. */
export type AnsweredMember = MemberRound & { readonly status: StatusResult };

export function answeredStatus(round: MemberRound): round is AnsweredMember {
  return round.status !== undefined;
}

/** A member whose hash came back. */
export type HashedMember = MemberRound & { readonly hash: HashKVResult };

export function answeredHash(round: MemberRound): round is HashedMember {
  return round.hash !== undefined;
}

/**
 * hashRevision auto: the last hash verdict reached, exported again by the
 * rounds that take no hash, until a newer one replaces it (verdict.ts
 * supersedes). Only for the membership it was reached with.
 */
export interface StandingVerdict {
  readonly hash: 'consistent' | 'mismatch';
  readonly revision: bigint;
  readonly kind: HashKind;
  /** How it was taken, in words ("scan after compaction 120"). */
  readonly how: string;
  readonly atMs: number;
  readonly membership: string;
  readonly tie: boolean;
  /** Per compared member (memberKey): its label, hash and state. */
  readonly members: ReadonlyMap<
    string,
    { readonly label: string; readonly hash: HashKVResult; readonly state: 'match' | 'mismatch' }
  >;
}

/** A member's identity across rounds: its member ID, else its label. */
export function memberKey(round: MemberRound): string {
  const id = round.member.snapshot.id ?? round.status?.header.memberId;
  return id !== undefined ? memberIdHex(id) : round.label;
}

/** The voting members of the cluster, as one comparable string. */
export function membershipOf(members: readonly MemberHandle[]): string {
  return members
    .filter((m) => m.snapshot.role !== 'learner')
    .map((m) => (m.snapshot.id !== undefined ? memberIdHex(m.snapshot.id) : m.snapshot.endpoint))
    .sort()
    .join(',');
}
