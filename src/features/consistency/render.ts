/**
 * What a v3 consistency round reports, as pure functions of the gathered
 * answers and the verdict: findings, series, details and the summary line.
 * No I/O and no mutation (render.test.ts builds the rounds by hand).
 */
import { failedOutcome, type InspectionOutcome } from '../../engine/contract.ts';
import type { Finding } from '../../findings.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import { humanDuration, memberLabel } from '../units.ts';
import { spread, type HashComparison } from './compare.ts';
import {
  CONSISTENCY_METRICS,
  roundDetails,
  type AnsweredMember,
  type ConsistencyDetails,
  type ConsistencyOptions,
  type HashKind,
  type HashVerdict,
  type MemberRound,
  type StandingVerdict,
} from './model.ts';
import { reachedVerdict } from './verdict.ts';

/** A gathered and judged v3 round. */
export interface V3Round {
  readonly options: ConsistencyOptions;
  /** Every member, with its hash state after the comparison. */
  readonly rounds: readonly MemberRound[];
  /** The members that answered Status. */
  readonly answered: readonly AnsweredMember[];
  /** R: where the keys were counted. */
  readonly checkedRevision: bigint;
  /** The revision hashed (undefined: not checked this round). */
  readonly hashRevision: bigint | undefined;
  readonly comparison: Pick<HashComparison, 'mismatch' | 'tie'>;
  readonly hash: HashVerdict;
  readonly hashNote: string;
  /** How the compared hashes were taken (absent: none were). */
  readonly hashKind?: HashKind;
  /** The same in words, for the summary ("scan after compaction 120"). */
  readonly hashHow?: string;
  /** When the verdict in `hash` was reached, and when this round ran (ms since the epoch). */
  readonly hashCheckedAtMs?: number;
  readonly nowMs?: number;
  /** hashRevision auto: the verdict of an earlier round, standing (no hash taken this round). */
  readonly hashReused?: boolean;
}

const HASH_RUNBOOK = 'see docs/runbooks.md (EtcdMemberHashMismatch)';
const HASH_FIX =
  'snapshot a member that agrees with the majority, then replace the divergent member (member remove, empty data dir, member add)';
const HASH_TIE_FIX = "compare the members' data with etcdctl, then replace the divergent one(s)";
export const KEY_COUNT_FIX =
  'a member holds other keys than the rest; compare the key lists at that revision, then replace the divergent member';

/** Where a finding is: "127.0.0.1:2379 (etcd-0)". */
function whereOf(w: MemberRound): string {
  return memberLabel(w.member.snapshot.endpoint, w.member.snapshot.name);
}

/** The median as Prometheus' quantile(0.5) takes it (the mean of the middle two of an even count), as the alert does. */
function median(values: readonly bigint[]): number {
  const sorted = values.map(Number).sort((a, b) => a - b);
  const mid = (sorted.length - 1) / 2;
  return (sorted[Math.floor(mid)]! + sorted[Math.ceil(mid)]!) / 2;
}

/**
 * Key counts taken at one revision (index, for v2): a finding for each
 * member away from the members' median, as EtcdMemberKeyCountDivergence
 * names them (every member, when two differ).
 */
export function keyCountFindings(
  counted: readonly (MemberRound & { readonly keys: bigint })[],
  at: string,
): Finding[] {
  if (counted.length < 2) return [];
  const m = median(counted.map((w) => w.keys));
  return counted
    .filter((w) => Number(w.keys) !== m)
    .map((w) => ({
      member: whereOf(w),
      cause: 'divergent keys',
      measure: `keys at ${at}: ${w.keys}, the members' median ${m}; difference`,
      value: Math.abs(Number(w.keys) - m),
      threshold: 0,
      unit: 'count',
      severity: 'critical',
      action: KEY_COUNT_FIX,
      runbook: 'EtcdMemberKeyCountDivergence',
    }));
}

/** The spreads of a round: key counts (divergence) and revision/index lag. */
export interface V3Spreads {
  readonly counted: readonly (MemberRound & { readonly keys: bigint })[];
  readonly allCounted: boolean;
  readonly keyDiff: bigint | undefined;
  /** Present when every member answered Status. */
  readonly lag:
    | { readonly revision: bigint; readonly raftIndex: bigint; readonly applied: bigint }
    | undefined;
}

export function v3Spreads(round: V3Round): V3Spreads {
  const { rounds, answered } = round;
  const counted = rounds.filter((w): w is MemberRound & { keys: bigint } => w.keys !== undefined);
  const lag =
    answered.length === rounds.length
      ? {
          revision: spread(answered.map((w) => w.status.header.revision)) ?? 0n,
          raftIndex: spread(answered.map((w) => w.status.raftIndex)) ?? 0n,
          applied: spread(answered.map((w) => w.status.raftAppliedIndex)) ?? 0n,
        }
      : undefined;
  return {
    counted,
    allCounted: counted.length === rounds.length,
    keyDiff: spread(counted.map((w) => w.keys)),
    lag,
  };
}

/** What is wrong: key counts that differ, hashes that differ; as sentences, and as findings for the why section. */
export function v3Problems(
  round: V3Round,
  spreads: V3Spreads,
): { readonly problems: string[]; readonly findings: Finding[] } {
  const { rounds, checkedRevision: r, hashRevision: target, comparison } = round;
  const problems: string[] = [];
  const findings: Finding[] = [];
  const countList = spreads.counted.map((w) => `${w.label}=${w.keys}`).join(', ');
  if (spreads.keyDiff !== undefined && spreads.keyDiff > 0n) {
    problems.push(
      `key counts differ at revision ${r}${spreads.allCounted ? '' : ' among the members that answered'}: ${countList}: ${KEY_COUNT_FIX}; see docs/runbooks.md (EtcdMemberKeyCountDivergence)`,
    );
    findings.push(...keyCountFindings(spreads.counted, `revision ${r}`));
  }
  if (comparison.mismatch) {
    const flagged = rounds.filter((w) => w.hashState === 'mismatch');
    const at = `hash at revision ${target}${found(round)}`;
    if (comparison.tie) {
      problems.push(
        `hashes at revision ${target}${found(round)} differ with no majority: ${flagged.map((w) => `${w.label}=${w.hash?.hash}`).join(', ')}: nobody can tell which copy is right; ${HASH_TIE_FIX}; ${HASH_RUNBOOK}`,
      );
      for (const w of flagged) {
        findings.push({
          member: whereOf(w),
          cause: 'divergent data',
          measure: `${at}: ${w.hash?.hash}, no majority (${flagged
            .filter((o) => o !== w)
            .map((o) => `${o.label}=${o.hash?.hash}`)
            .join(', ')})`,
          severity: 'critical',
          action: `nobody can tell which copy is right: ${HASH_TIE_FIX}`,
          runbook: 'EtcdMemberHashMismatch',
        });
      }
    } else {
      const agreeing = rounds.find((w) => w.hashState === 'match');
      for (const w of flagged) {
        problems.push(
          `member ${w.label}: ${at} differs from the majority (${w.hash?.hash} vs ${agreeing?.hash?.hash ?? '?'}): its copy of the data diverged; ${HASH_FIX}; ${HASH_RUNBOOK}`,
        );
        findings.push({
          member: whereOf(w),
          cause: 'divergent data',
          measure: `${at}: ${w.hash?.hash}, the majority ${agreeing?.hash?.hash ?? '?'}`,
          severity: 'critical',
          action: `its copy of the data diverged: ${HASH_FIX}`,
          runbook: 'EtcdMemberHashMismatch',
        });
      }
    }
  }
  return { problems, findings };
}

/** How long ago a standing verdict was reached ("3m"); undefined for a fresh one. */
function standingAge(round: V3Round): string | undefined {
  if (round.hashReused !== true || round.hashCheckedAtMs === undefined || round.nowMs === undefined)
    return undefined;
  return humanDuration((round.nowMs - round.hashCheckedAtMs) / 1000);
}

/** " (found 3m ago)" for a standing verdict. */
function found(round: V3Round): string {
  const age = standingAge(round);
  return age === undefined ? '' : ` (found ${age} ago)`;
}

/** " (scan after compaction 120, 3m ago)": how the compared hashes were taken. */
function how(round: V3Round): string {
  const age = standingAge(round);
  const parts = [round.hashHow, age === undefined ? undefined : `${age} ago`].filter((p) => p !== undefined);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

/** What could not be known, per member; the hash note when nothing else explains an unknown hash. */
export function v3Unknowns(round: V3Round): string[] {
  const unknowns = round.rounds
    .filter((w) => w.errors.length > 0)
    .map((w) => `${w.label}: ${w.errors.join('; ')}`);
  if (round.hash === 'unknown' && unknowns.length === 0) unknowns.push(`hash: ${round.hashNote}`);
  return unknowns;
}

/** The series of a round: only the groups that are fully known. */
export function v3Metrics(round: V3Round, spreads: V3Spreads): MetricSample[] {
  const { rounds, hash, hashRevision: target } = round;
  const { lag, keyDiff } = spreads;
  const metrics: MetricSample[] = [];
  const metric = CONSISTENCY_METRICS;
  if (lag !== undefined) {
    metrics.push({ name: metric.revisionDiff.name, labels: {}, value: lag.revision });
    metrics.push({ name: metric.raftIndexDiff.name, labels: {}, value: lag.raftIndex });
    metrics.push({ name: metric.appliedIndexDiff.name, labels: {}, value: lag.applied });
  }
  if (spreads.allCounted && keyDiff !== undefined) {
    metrics.push({ name: metric.keyDiff.name, labels: {}, value: keyDiff });
    metrics.push({ name: metric.checkedRevision.name, labels: {}, value: round.checkedRevision });
    for (const w of spreads.counted)
      if (w.member.snapshot.endpoint !== '')
        metrics.push({ name: metric.memberKeys.name, labels: { endpoint: w.label }, value: w.keys });
  }
  if ((hash === 'consistent' || hash === 'mismatch') && target !== undefined) {
    metrics.push({ name: metric.hashMismatch.name, labels: {}, value: hash === 'mismatch' ? 1 : 0 });
    metrics.push({ name: metric.hashRevision.name, labels: {}, value: target });
    if (round.hashCheckedAtMs !== undefined)
      metrics.push({ name: metric.hashTimestamp.name, labels: {}, value: round.hashCheckedAtMs / 1000 });
    for (const w of rounds) {
      if (w.hashState === 'match' || w.hashState === 'mismatch') {
        metrics.push({
          name: metric.endpointHashMismatch.name,
          labels: { endpoint: w.label },
          value: w.hashState === 'mismatch' ? 1 : 0,
        });
      }
    }
  }
  return metrics;
}

/** The hash series of a standing verdict alone (a round where no member answered). */
export function standingMetrics(standing: StandingVerdict): MetricSample[] {
  const metric = CONSISTENCY_METRICS;
  return [
    { name: metric.hashMismatch.name, labels: {}, value: standing.hash === 'mismatch' ? 1 : 0 },
    { name: metric.hashRevision.name, labels: {}, value: standing.revision },
    { name: metric.hashTimestamp.name, labels: {}, value: standing.atMs / 1000 },
    ...[...standing.members.values()].map((m) => ({
      name: metric.endpointHashMismatch.name,
      labels: { endpoint: m.label },
      value: m.state === 'mismatch' ? 1 : 0,
    })),
  ];
}

export function v3Details(round: V3Round, spreads: V3Spreads): ConsistencyDetails {
  const { lag, allCounted, keyDiff } = spreads;
  return roundDetails('v3', round.options, round.rounds, {
    checkedRevision: allCounted ? round.checkedRevision : null,
    hashRevision: round.hashRevision ?? null,
    hash: round.hash,
    hashKind: round.hashKind ?? null,
    hashCheckedAt:
      round.hashCheckedAtMs !== undefined && (round.hash === 'consistent' || round.hash === 'mismatch')
        ? new Date(round.hashCheckedAtMs).toISOString()
        : null,
    hashReused: round.hashReused === true,
    hashNote: round.hashNote,
    keyDiff: allCounted ? (keyDiff ?? null) : null,
    ...(lag !== undefined
      ? { revisionDiff: lag.revision, raftIndexDiff: lag.raftIndex, raftAppliedIndexDiff: lag.applied }
      : {}),
  });
}

/** The one-line summary of a round that reached a verdict (before the unknowns are appended). */
export function v3Summary(round: V3Round, spreads: V3Spreads): string {
  const { options, rounds, hash, hashNote, hashRevision: target, checkedRevision: r } = round;
  const { counted, allCounted, keyDiff, lag } = spreads;
  const parts: string[] = [];
  const scope = options.prefix === '' ? 'keys' : `keys under ${JSON.stringify(options.prefix)}`;
  if (allCounted) {
    parts.push(
      keyDiff === 0n
        ? `${rounds.length} member(s) hold ${counted[0]?.keys} ${scope} at revision ${r}`
        : `${scope} differ by ${keyDiff} at revision ${r}`,
    );
  } else {
    parts.push(`${scope} counted on ${counted.length}/${rounds.length} members`);
  }
  if (hash === 'consistent') parts.push(`hashes equal at revision ${target}${how(round)}`);
  else if (hash === 'mismatch')
    parts.push(
      `HASH MISMATCH at revision ${target}${how(round)}: ${rounds
        .filter((w) => w.hashState === 'mismatch')
        .map((w) => w.label)
        .join(', ')}`,
    );
  else if (hash === 'unknown') parts.push(`hash unknown (${hashNote})`);
  else parts.push(`hash not checked (${hashNote})`);
  if (lag !== undefined)
    parts.push(`lag: revision ${lag.revision}, raft index ${lag.raftIndex}, applied index ${lag.applied}`);
  return parts.join('; ');
}

/**
 * The outcome of a round: ok with its findings when it reached a verdict
 * (unknowns appended to the summary), else failed with the unknowns.
 */
export function v3Outcome(round: V3Round): InspectionOutcome {
  const spreads = v3Spreads(round);
  const { problems, findings } = v3Problems(round, spreads);
  const unknowns = v3Unknowns(round);
  const details = v3Details(round, spreads);
  const metrics = v3Metrics(round, spreads);
  if (reachedVerdict(problems, unknowns)) {
    const summary = v3Summary(round, spreads);
    return {
      ok: true,
      summary: unknowns.length > 0 ? `${summary}; unknown: ${unknowns.join('; ')}` : summary,
      problems,
      findings,
      details,
      metrics,
    };
  }
  return failedOutcome(unknowns.join('; '), {
    summary: `no verdict: ${unknowns.join('; ')}`,
    details,
    metrics,
  });
}
