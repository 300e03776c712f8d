/**
 * Consistency: do the members hold the same data?
 *
 * v3, per round (every member in parallel, one deadline per call):
 *  1. Status of every member: revision, raft index, applied index. Their
 *     spreads are LAG (a member behind the others), never divergence.
 *  2. R = the smallest revision any member reported: every member has
 *     applied it. Each member counts the keys of the configured range at R
 *     (count-only, serializable: served by that member from its own index),
 *     so under any write load equal data gives a difference of exactly 0.
 *  3. HashKV at a revision all members can hash (see HashMode), compared only
 *     between members that report the same compact revision. A member that
 *     cannot hash it (compacted, future revision, timeout, no answer) is
 *     unknown, never "consistent".
 *
 * Steps 1-3 are gathered in gather.ts, judged here and in verdict.ts (pure),
 * and reported (findings, series, details, summary) by render.ts (pure).
 * v2 (storageBackend v2): see v2.ts.
 *
 * A round with an unknown part and no finding reaches no verdict: it returns
 * ok false (counted as a failure) and exports only the groups of series that
 * are fully known, never an older verdict.
 */
import {
  defineFeature,
  failedOutcome,
  OptionsError,
  type ClusterHandle,
  type FeatureSession,
  type InspectionOutcome,
  type MemberHandle,
} from '../../engine/contract.ts';
import { parseOptions } from '../options.ts';
import type { HashKVResult } from '../../etcd/types.ts';
import { compareHashes, keepsCompactionHashes } from './compare.ts';
import { gatherV3, type HashPlan } from './gather.ts';
import { forgetScans, planHash, recordFailedScan, recordScan, type HashMemory } from './hash-policy.ts';
import {
  CONSISTENCY_METRICS,
  ConsistencyOptionsSchema,
  HASH_MODES,
  memberKey,
  membershipOf,
  roundDetails,
  type ConsistencyOptions,
  answeredHash,
  type AnsweredMember,
  type HashedMember,
  type HashKind,
  type MemberRound,
  type StandingVerdict,
} from './model.ts';
import { standingMetrics, v3Outcome, type V3Round } from './render.ts';
import { inspectV2 } from './v2.ts';
import { hashVerdict, supersedes } from './verdict.ts';

export { compactRevisionOf, keyRange } from './gather.ts';
export {
  CONSISTENCY_METRICS,
  ConsistencyOptionsSchema,
  HASH_MODES,
  type ConsistencyDetails,
  type ConsistencyMember,
  type ConsistencyOptions,
  type HashMode,
  type HashVerdict,
} from './model.ts';

/**
 * A member that answered the hash of a compaction with a scan (its cached one
 * was gone, or not computed yet right after the compaction) and could not be
 * compared. compacted: asked once more (a member that was only late has its
 * cache by then), and after a second such answer not again for that
 * compaction. Only the fact is kept, never the hash: a value from an earlier
 * round is never compared.
 */
interface NotCached {
  readonly memberId: bigint;
  readonly revision: bigint;
  /** How many rounds it answered so. */
  readonly answers: number;
}

/** compacted: the scan answers after which a member is not asked again for that compaction. */
const NOT_CACHED_ANSWERS = 2;

class ConsistencySession implements FeatureSession {
  readonly #cluster: ClusterHandle;
  readonly #options: ConsistencyOptions;
  readonly #notCached = new Map<string, NotCached>();
  readonly #now: () => number;
  /** hashRevision auto: what the hash policy remembers, and the verdict that stands. */
  readonly #memory: HashMemory = {};
  #standing: StandingVerdict | undefined;

  constructor(cluster: ClusterHandle, options: ConsistencyOptions, now: () => number = Date.now) {
    this.#cluster = cluster;
    this.#options = options;
    this.#now = now;
  }

  async inspect(signal: AbortSignal): Promise<InspectionOutcome> {
    const members = this.#cluster.members();
    if (members.length === 0) {
      return failedOutcome('no members known', { summary: 'no members known' });
    }
    return this.#cluster.identity.storageBackend === 'v2'
      ? inspectV2(members, this.#options, signal)
      : this.#inspectV3(members, signal);
  }

  async close(): Promise<void> {
    this.#notCached.clear();
    this.#standing = undefined;
  }

  // ---- v3: gather (gather.ts), compare, judge (verdict.ts), report (render.ts) -----------

  async #inspectV3(
    members: readonly MemberHandle[],
    signal: AbortSignal,
    retryWithoutCache = true,
  ): Promise<InspectionOutcome> {
    const opts = this.#options;
    const auto = opts.hashRevision === 'auto';
    const nowMs = this.#now();
    const membership = membershipOf(members);
    if (auto && this.#standing !== undefined && this.#standing.membership !== membership) {
      // Another set of voters: the standing verdict is about members that are gone or new.
      this.#standing = undefined;
      forgetScans(this.#memory);
    }
    const gathered = await gatherV3(members, {
      options: opts,
      requestTimeoutMs: this.#cluster.requestTimeoutMs,
      signal,
      skipHash: (member, target) => this.#skipHash(member, target),
      planAuto: (voters, r) =>
        planHash(
          {
            voters: voters.map((w) => ({
              compactRevision: w.compactRevision,
              keepsCompactionHashes:
                keepsCompactionHashes(w.status.version) && !this.#lostCache(w, w.compactRevision),
            })),
            checkedRevision: r,
            nowMs,
            idleSeconds: opts.hashIdleSeconds,
          },
          this.#memory,
        ),
    });
    if (gathered.kind === 'no-status') {
      // No member answered: the standing verdict is still exported (alerts with `for:` keep it).
      return failedOutcome(gathered.error, {
        summary: `no verdict: ${gathered.error}`,
        details: roundDetails('v3', opts, gathered.rounds, {}),
        metrics: auto && this.#standing !== undefined ? standingMetrics(this.#standing) : [],
      });
    }
    const { rounds, plan } = gathered;

    const hashed = rounds.filter(answeredHash);
    const comparison = compareHashes(
      hashed.map((w) => ({ endpoint: w.label, hash: w.hash.hash, compactRevision: w.hash.compactRevision })),
    );
    const byLabel = new Map(hashed.map((w) => [w.label, w]));
    for (const c of comparison.compared) {
      const w = byLabel.get(c.endpoint);
      if (w !== undefined) w.hashState = c.mismatch ? 'mismatch' : 'match';
    }
    for (const label of comparison.incomparable) {
      const w = byLabel.get(label);
      if (w !== undefined)
        w.errors.push(`hash not comparable: ${this.#whyIncomparable(w.hash.compactRevision, plan)}`);
    }
    const lostCache = this.#rememberNotCached(hashed, comparison.incomparable, plan);
    // auto: a member answered the cached hash by a scan (restarted since the compaction): the
    // planner now scans every member at R; do it in this round (a one-shot inspect has no next).
    if (auto && plan.kind === 'cached' && lostCache && retryWithoutCache)
      return this.#inspectV3(members, signal, false);

    const verdict = hashVerdict({
      target: plan.target,
      planUnknown: plan.unknown === true,
      note: plan.note,
      mismatch: comparison.mismatch,
      hashStates: rounds.map((w) => w.hashState),
      everyMemberAnswered: gathered.answered.length === rounds.length,
    });
    const round = {
      options: opts,
      rounds,
      answered: gathered.answered,
      checkedRevision: gathered.checkedRevision,
      nowMs,
    };
    const fresh = {
      ...round,
      hashRevision: plan.target,
      comparison,
      hash: verdict.hash,
      hashNote: verdict.note,
      ...(plan.kind !== undefined && {
        hashKind: plan.kind,
        hashHow: HOW[plan.kind],
        hashCheckedAtMs: nowMs,
      }),
    };
    if (!auto) return v3Outcome(fresh);

    const policy = plan.policy;
    const how = policy !== undefined && 'why' in policy ? policy.why : '';
    if (policy !== undefined && 'target' in policy) {
      if (verdict.hash === 'consistent' || verdict.hash === 'mismatch') {
        if (policy.kind !== 'cached') recordScan(this.#memory, policy, nowMs);
        const reached = { hash: verdict.hash, revision: policy.target, membership };
        if (supersedes(reached, this.#standing)) {
          this.#standing = standingOf(rounds, {
            ...reached,
            kind: policy.kind,
            how,
            atMs: nowMs,
            tie: comparison.tie,
          });
          return v3Outcome({ ...fresh, hashHow: how });
        }
        const standing = this.#standing!;
        return this.#reuse(
          round,
          `the ${how} at revision ${policy.target} agrees; the ${standing.hash} verdict at revision ${standing.revision} covers more and stands until a hash at or above that revision`,
        );
      }
      if (policy.kind !== 'cached')
        recordFailedScan(this.#memory, nowMs, opts.hashIdleSeconds, opts.hashTimeoutSeconds);
      if (this.#standing !== undefined)
        return this.#reuse(
          round,
          `this round's ${how} reached no verdict (${verdict.note || 'see the members'})`,
        );
      return v3Outcome({ ...fresh, hashHow: how });
    }
    if (this.#standing !== undefined) return this.#reuse(round, plan.note);
    return v3Outcome(fresh);
  }

  /** A round that exports the standing verdict again: its members' hashes and states, its revision and time. */
  #reuse(
    round: Pick<V3Round, 'options' | 'rounds' | 'answered' | 'checkedRevision' | 'nowMs'>,
    note: string,
  ): InspectionOutcome {
    const standing = this.#standing!;
    for (const w of round.rounds) {
      const kept = standing.members.get(memberKey(w));
      if (kept === undefined) {
        delete w.hash;
        w.hashState = 'not-checked';
      } else {
        w.hash = kept.hash;
        w.hashState = kept.state;
      }
    }
    return v3Outcome({
      ...round,
      hashRevision: standing.revision,
      comparison: { mismatch: standing.hash === 'mismatch', tie: standing.tie },
      hash: standing.hash,
      hashNote: note,
      hashKind: standing.kind,
      hashHow: standing.how,
      hashCheckedAtMs: standing.atMs,
      hashReused: true,
    });
  }

  /** Whether this member is known to have lost etcd's cached hash of this compaction (restarted since). */
  #lostCache(w: AnsweredMember, compactRevision: bigint | undefined): boolean {
    if (w.member.endpoint === undefined || compactRevision === undefined) return false;
    const lost = this.#notCached.get(w.member.endpoint.url);
    return (
      lost !== undefined && lost.memberId === w.status.header.memberId && lost.revision === compactRevision
    );
  }

  #whyIncomparable(hashCompactRevision: bigint, plan: HashPlan): string {
    if (hashCompactRevision === plan.target && plan.kind === 'cached')
      return `its hash of compaction ${plan.target} was computed by a scan (etcd's cached compaction hash is gone, e.g. after a restart) and covers other revisions than the others' cached hashes; every member is scanned at a recent revision instead`;
    return this.#options.hashRevision === 'compacted' && hashCompactRevision === plan.target
      ? `its hash of compaction ${plan.target} was computed by a scan (etcd's cached compaction hash is gone after a restart, or not computed yet right after the compaction) and covers other revisions than the others' cached hashes; asked once more, then not until the next compaction`
      : `it reported compact revision ${hashCompactRevision}, no other member did`;
  }

  #skipHash(w: AnsweredMember, target: bigint): string | undefined {
    if (this.#options.hashRevision !== 'compacted' || w.member.endpoint === undefined) return undefined;
    const skipped = this.#notCached.get(w.member.endpoint.url);
    if (
      skipped === undefined ||
      skipped.memberId !== w.status.header.memberId ||
      skipped.revision !== target ||
      skipped.answers < NOT_CACHED_ANSWERS
    )
      return undefined;
    return `its hash of compaction ${target} can only be computed by a scan (etcd's cached compaction hash is gone, e.g. after a restart) and is not comparable with the others' cached hashes: not asked again until the next compaction`;
  }

  /**
   * A cached compaction hash reports the compaction before it; a hash that
   * reports the target itself was computed by a scan. A member that scanned
   * and could not be compared is not asked again for this compaction (mode
   * compacted), or makes the round start over with a scan of every member at
   * R (mode auto, once per round), so a
   * member that lost its cache (restart) costs one scan per compaction, not
   * one per round.
   */
  #rememberNotCached(
    hashed: readonly HashedMember[],
    incomparable: readonly string[],
    plan: HashPlan,
  ): boolean {
    // Only an answer to a request for the compaction hash tells whether the cache is gone;
    // an auto scan at R leaves what is known of compaction C as it is.
    const { target } = plan;
    if ((plan.kind !== 'compacted' && plan.kind !== 'cached') || target === undefined) return false;
    for (const [url, entry] of this.#notCached) if (entry.revision !== target) this.#notCached.delete(url);
    let added = false;
    for (const w of hashed) {
      if (w.hash.compactRevision !== target || !incomparable.includes(w.label)) continue;
      if (w.member.endpoint === undefined || w.status === undefined) continue;
      const memberId = w.status.header.memberId;
      const before = this.#notCached.get(w.member.endpoint.url);
      const answers =
        before !== undefined && before.memberId === memberId && before.revision === target
          ? before.answers + 1
          : 1;
      this.#notCached.set(w.member.endpoint.url, { memberId, revision: target, answers });
      added = true;
    }
    return added;
  }
}

/** How each kind of hash is named in the summary (auto names its own, with the compaction). */
const HOW: Record<HashKind, string | undefined> = {
  cached: 'cached compaction hash',
  'compaction-scan': 'scan after a compaction',
  recent: 'scan at a recent revision',
  compacted: 'compaction',
  current: undefined,
};

/** The standing verdict of a round that reached one: each compared member's hash and state. */
function standingOf(
  rounds: readonly MemberRound[],
  verdict: Omit<StandingVerdict, 'members'>,
): StandingVerdict {
  const members = new Map<string, { label: string; hash: HashKVResult; state: 'match' | 'mismatch' }>();
  for (const w of rounds)
    if (w.hash !== undefined && (w.hashState === 'match' || w.hashState === 'mismatch'))
      members.set(memberKey(w), { label: w.label, hash: w.hash, state: w.hashState });
  return { ...verdict, members };
}

export function parseConsistencyOptions(
  raw: Readonly<Record<string, unknown>> | undefined,
): ConsistencyOptions {
  const mode = raw?.['hashRevision'];
  if (mode !== undefined && !(HASH_MODES as readonly unknown[]).includes(mode)) {
    throw new OptionsError(
      `options of feature consistency: hashRevision: expected one of ${HASH_MODES.join(', ')}, got ${JSON.stringify(mode)}`,
    );
  }
  return parseOptions('consistency', ConsistencyOptionsSchema, raw);
}

export const consistencyFeature = defineFeature({
  name: 'consistency',
  description:
    'Whether the members hold the same data: key counts at one pinned revision, HashKV compared between members, and revision/raft index lag (v2: counts at one index, index lag).',
  defaultIntervalSeconds: 60,
  metrics: CONSISTENCY_METRICS,
  optionsSchema: ConsistencyOptionsSchema,
  parseOptions: parseConsistencyOptions,
  open: (cluster, options) => new ConsistencySession(cluster, options),
});
