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
 * v2 (storageBackend v2): see v2.ts.
 *
 * A round with an unknown part and no finding reaches no verdict: it returns
 * ok false (counted as a failure) and exports only the groups of series that
 * are fully known, never an older verdict.
 */
import { errorMessage } from '../../errors.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import { EtcdError, prefixEnd } from '../../etcd/types.ts';
import {
  failedOutcome,
  OptionsError,
  type ClusterHandle,
  type EtcdV3ReadView,
  type Feature,
  type FeatureSession,
  type InspectionOutcome,
  type MemberHandle,
} from '../../engine/contract.ts';
import { parseOptions } from '../options.ts';
import { compareHashes, keepsCompactionHashes, minimum, spread } from './compare.ts';
import {
  CONSISTENCY_METRICS,
  ConsistencyOptionsSchema,
  HASH_MODES,
  labelOf,
  roundDetails,
  type ConsistencyOptions,
  answeredHash,
  answeredStatus,
  type AnsweredMember,
  type MemberRound,
} from './model.ts';
import { inspectV2 } from './v2.ts';
import { hashVerdict, reachedVerdict } from './verdict.ts';

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
 * A member that could only answer the hash of a compaction with a scan (its
 * cached one was gone) and could not be compared: not asked again for that
 * compaction. Only the fact is kept, never the hash: a value from an earlier
 * round is never compared.
 */
interface NotCached {
  readonly memberId: bigint;
  readonly revision: bigint;
}

/** The v3 key range of a prefix: '' selects the whole keyspace. */
export function keyRange(prefix: string): { key: Buffer; rangeEnd: Buffer } {
  if (prefix === '') return { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
  return { key: Buffer.from(prefix), rangeEnd: prefixEnd(prefix) };
}

/**
 * The member's compact revision, in at most two cheap calls: a one-key range
 * at revision 1 succeeds when nothing was compacted (-1 then); otherwise a
 * watch from revision 1 is refused at once with the compact revision (etcd
 * checks the start revision before reading any history).
 */
export async function compactRevisionOf(
  client: EtcdV3ReadView,
  key: Buffer,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<bigint> {
  try {
    await client.range({ key, revision: 1n, countOnly: true, serializable: true }, { signal });
    return -1n;
  } catch (err) {
    if (!(err instanceof EtcdError && err.code === 'compacted')) throw err;
  }
  const local = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
  for await (const msg of client.watch({ key, startRevision: 1n }, local)) {
    if (msg.kind === 'compacted') return msg.compactRevision;
    if (msg.kind === 'canceled')
      throw new Error(`watch from revision 1 on ${client.endpoint.hostPort} was canceled: ${msg.reason}`);
    // Events from revision 1 would mean it is not compacted after all: the range just said otherwise.
    if (msg.kind === 'events') break;
  }
  signal.throwIfAborted();
  throw new Error(
    `watch from revision 1 on ${client.endpoint.hostPort} gave no compact revision within ${timeoutMs} ms`,
  );
}

function hashHint(err: unknown): string {
  if (err instanceof EtcdError && err.code === 'auth')
    return ' (with auth enabled HashKV needs the root role; or set hashRevision: none)';
  return '';
}

class ConsistencySession implements FeatureSession {
  readonly #cluster: ClusterHandle;
  readonly #options: ConsistencyOptions;
  readonly #notCached = new Map<string, NotCached>();

  constructor(cluster: ClusterHandle, options: ConsistencyOptions) {
    this.#cluster = cluster;
    this.#options = options;
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
  }

  // ---- v3 --------------------------------------------------------------------------

  async #inspectV3(members: readonly MemberHandle[], signal: AbortSignal): Promise<InspectionOutcome> {
    const opts = this.#options;
    const range = keyRange(opts.prefix);
    const requestTimeoutMs = this.#cluster.requestTimeoutMs;
    const works: MemberRound[] = members.map((member) => ({
      member,
      label: labelOf(member),
      errors: [],
      hashState: 'not-checked',
    }));

    // 1. Status, and the compact revision where the hash needs it.
    await Promise.all(
      works.map(async (w) => {
        if (w.member.endpoint === undefined) {
          w.errors.push('member has no client URL');
          return;
        }
        const client = w.member.v3();
        try {
          w.status = await client.status({ signal });
        } catch (err) {
          w.errors.push(`status: ${errorMessage(err)}`);
          return;
        }
        if (
          opts.hashRevision === 'compacted' &&
          !w.status.isLearner &&
          keepsCompactionHashes(w.status.version)
        ) {
          try {
            w.compactRevision = await compactRevisionOf(client, range.key, signal, requestTimeoutMs);
          } catch (err) {
            w.errors.push(`compact revision: ${errorMessage(err)}`);
          }
        }
      }),
    );
    const answered = works.filter(answeredStatus);
    const r = minimum(answered.map((w) => w.status.header.revision));
    if (r === undefined) {
      const error = `no member answered Status: ${works.map((w) => `${w.label}: ${w.errors.join('; ')}`).join(', ')}`;
      return failedOutcome(error, {
        summary: `no verdict: ${error}`,
        details: roundDetails('v3', this.#options, works, {}),
      });
    }

    // 2. Which revision to hash, and on which members.
    const plan = this.#hashPlan(answered, r);
    for (const w of answered) if (plan.target !== undefined && !w.status.isLearner) w.hashState = 'unknown';

    // 3. Counts at R and hashes, every member in parallel.
    await Promise.all(
      answered.map(async (w) => {
        const client = w.member.v3();
        const count = client
          .range(
            { key: range.key, rangeEnd: range.rangeEnd, countOnly: true, serializable: true, revision: r },
            { signal },
          )
          .then((res) => {
            w.keys = res.count;
          })
          .catch((err: unknown) => void w.errors.push(`count at revision ${r}: ${errorMessage(err)}`));
        const hash =
          plan.target !== undefined && plan.eligible.has(w)
            ? this.#hash(w, client, plan.target, signal)
            : Promise.resolve();
        await Promise.all([count, hash]);
      }),
    );

    // 4. Verdicts.
    const comparison = compareHashes(
      works
        .filter(answeredHash)
        .map((w) => ({ endpoint: w.label, hash: w.hash.hash, compactRevision: w.hash.compactRevision })),
    );
    for (const c of comparison.compared) {
      const w = works.find((x) => x.label === c.endpoint)!;
      w.hashState = c.mismatch ? 'mismatch' : 'match';
    }
    for (const label of comparison.incomparable) {
      const w = works.find((x) => x.label === label)!;
      const hash = w.hash!;
      const why =
        opts.hashRevision === 'compacted' && hash.compactRevision === plan.target
          ? `its hash of compaction ${plan.target} was computed by a scan (etcd's cached compaction hash is gone, e.g. after a restart) and covers other revisions than the others' cached hashes; comparable again after the next compaction`
          : `it reported compact revision ${hash.compactRevision}, no other member did`;
      w.errors.push(`hash not comparable: ${why}`);
    }
    this.#rememberNotCached(works, comparison.incomparable, plan.target);

    const { hash, note: hashNote } = hashVerdict({
      target: plan.target,
      planUnknown: plan.unknown === true,
      note: plan.note,
      mismatch: comparison.mismatch,
      hashStates: works.map((w) => w.hashState),
      everyMemberAnswered: works.every((w) => w.status !== undefined),
    });

    const counted = works.filter((w) => w.keys !== undefined);
    const allCounted = counted.length === works.length;
    const keyDiff = spread(counted.map((w) => w.keys!));
    const allStatus = answered.length === works.length;
    const lag = allStatus
      ? {
          revision: spread(answered.map((w) => w.status.header.revision)) ?? 0n,
          raftIndex: spread(answered.map((w) => w.status.raftIndex)) ?? 0n,
          applied: spread(answered.map((w) => w.status.raftAppliedIndex)) ?? 0n,
        }
      : undefined;

    const findings: string[] = [];
    const countList = counted.map((w) => `${w.label}=${w.keys}`).join(', ');
    if (keyDiff !== undefined && keyDiff > 0n) {
      findings.push(
        `key counts differ at revision ${r}${allCounted ? '' : ' among the members that answered'}: ${countList}`,
      );
    }
    if (comparison.mismatch) {
      const flagged = works.filter((w) => w.hashState === 'mismatch');
      if (comparison.tie) {
        findings.push(
          `hashes at revision ${plan.target} differ with no majority: ${flagged.map((w) => `${w.label}=${w.hash!.hash}`).join(', ')}`,
        );
      } else {
        const agreeing = works.find((w) => w.hashState === 'match');
        for (const w of flagged) {
          findings.push(
            `member ${w.label}: hash at revision ${plan.target} differs from the majority (${w.hash!.hash} vs ${agreeing?.hash?.hash ?? '?'})`,
          );
        }
      }
    }
    const unknowns = works
      .filter((w) => w.errors.length > 0)
      .map((w) => `${w.label}: ${w.errors.join('; ')}`);
    if (hash === 'unknown' && unknowns.length === 0) unknowns.push(`hash: ${hashNote}`);
    const ok = reachedVerdict(findings, unknowns);

    const metrics: MetricSample[] = [];
    const metric = CONSISTENCY_METRICS;
    if (lag !== undefined) {
      metrics.push({ name: metric.revisionDiff.name, labels: {}, value: lag.revision });
      metrics.push({ name: metric.raftIndexDiff.name, labels: {}, value: lag.raftIndex });
      metrics.push({ name: metric.appliedIndexDiff.name, labels: {}, value: lag.applied });
    }
    if (allCounted && keyDiff !== undefined) {
      metrics.push({ name: metric.keyDiff.name, labels: {}, value: keyDiff });
      metrics.push({ name: metric.checkedRevision.name, labels: {}, value: r });
      for (const w of works)
        if (w.member.snapshot.endpoint !== '')
          metrics.push({ name: metric.memberKeys.name, labels: { endpoint: w.label }, value: w.keys! });
    }
    if ((hash === 'consistent' || hash === 'mismatch') && plan.target !== undefined) {
      metrics.push({ name: metric.hashMismatch.name, labels: {}, value: hash === 'mismatch' ? 1 : 0 });
      metrics.push({ name: metric.hashRevision.name, labels: {}, value: plan.target });
      for (const w of works) {
        if (w.hashState === 'match' || w.hashState === 'mismatch') {
          metrics.push({
            name: metric.endpointHashMismatch.name,
            labels: { endpoint: w.label },
            value: w.hashState === 'mismatch' ? 1 : 0,
          });
        }
      }
    }

    const details = roundDetails('v3', this.#options, works, {
      checkedRevision: allCounted ? r : null,
      hashRevision: plan.target ?? null,
      hash,
      hashNote,
      keyDiff: allCounted ? (keyDiff ?? null) : null,
      ...(lag !== undefined
        ? { revisionDiff: lag.revision, raftIndexDiff: lag.raftIndex, raftAppliedIndexDiff: lag.applied }
        : {}),
    });

    const parts: string[] = [];
    const scope = opts.prefix === '' ? 'keys' : `keys under ${JSON.stringify(opts.prefix)}`;
    if (allCounted) {
      parts.push(
        keyDiff === 0n
          ? `${works.length} member(s) hold ${counted[0]!.keys} ${scope} at revision ${r}`
          : `${scope} differ by ${keyDiff} at revision ${r}`,
      );
    } else {
      parts.push(`${scope} counted on ${counted.length}/${works.length} members`);
    }
    if (hash === 'consistent')
      parts.push(
        `hashes equal at revision ${plan.target}${opts.hashRevision === 'compacted' ? ' (compaction)' : ''}`,
      );
    else if (hash === 'mismatch')
      parts.push(
        `HASH MISMATCH at revision ${plan.target}: ${works
          .filter((w) => w.hashState === 'mismatch')
          .map((w) => w.label)
          .join(', ')}`,
      );
    else if (hash === 'unknown') parts.push(`hash unknown (${hashNote})`);
    else parts.push(`hash not checked (${hashNote})`);
    if (lag !== undefined)
      parts.push(`lag: revision ${lag.revision}, raft index ${lag.raftIndex}, applied index ${lag.applied}`);
    const summary = ok ? parts.join('; ') : `no verdict: ${unknowns.join('; ')}`;
    if (ok) {
      return {
        ok,
        summary: unknowns.length > 0 ? `${summary}; unknown: ${unknowns.join('; ')}` : summary,
        problems: findings,
        details,
        metrics,
      };
    }
    return failedOutcome(unknowns.join('; '), { summary, details, metrics });
  }

  /** The revision to hash and who hashes it; target undefined when the hash is not checked this round. */
  #hashPlan(
    answered: readonly AnsweredMember[],
    r: bigint,
  ): { target?: bigint; eligible: Set<MemberRound>; note: string; unknown?: boolean } {
    const mode = this.#options.hashRevision;
    const voters = answered.filter((w) => !w.status.isLearner);
    const learnerNote =
      voters.length < answered.length ? 'learners are not hashed (etcd serves no HashKV on learners)' : '';
    if (mode === 'none') return { eligible: new Set(), note: 'hashRevision: none' };
    if (voters.length === 0) return { eligible: new Set(), note: learnerNote };
    if (mode === 'current') return { target: r, eligible: new Set(voters), note: learnerNote };
    const old = voters.find((w) => !keepsCompactionHashes(w.status!.version));
    if (old !== undefined) {
      return {
        eligible: new Set(),
        note: `etcd ${old.status.version} keeps no compaction hashes: set hashRevision: current to hash at the checked revision (a full scan on every member)`,
      };
    }
    const positive = voters.filter((w) => w.compactRevision !== undefined && w.compactRevision > 0n);
    const c = minimum(positive.map((w) => w.compactRevision!));
    if (c === undefined) {
      // Nobody compacted yet (or nobody could tell): nothing cheap to hash.
      if (voters.some((w) => w.compactRevision === undefined))
        return { eligible: new Set(), note: 'compact revision unknown', unknown: true };
      return {
        eligible: new Set(),
        note: 'never compacted: there is no compaction hash to compare; hashRevision: current hashes the checked revision with a full scan',
      };
    }
    for (const w of voters) {
      if (w.compactRevision !== undefined && w.compactRevision <= 0n)
        w.errors.push(`has not applied compaction ${c} yet`);
    }
    return { target: c, eligible: new Set(positive), note: learnerNote };
  }

  async #hash(w: AnsweredMember, client: EtcdV3ReadView, target: bigint, signal: AbortSignal): Promise<void> {
    const skipped = this.#notCached.get(w.member.endpoint!.url);
    if (
      this.#options.hashRevision === 'compacted' &&
      skipped !== undefined &&
      skipped.memberId === w.status.header.memberId &&
      skipped.revision === target
    ) {
      w.errors.push(
        `its hash of compaction ${target} can only be computed by a scan (etcd's cached compaction hash is gone, e.g. after a restart) and is not comparable with the others' cached hashes: not asked again until the next compaction`,
      );
      return;
    }
    try {
      w.hash = await client.hashKV(target, { signal, timeoutMs: this.#options.hashTimeoutSeconds * 1000 });
    } catch (err) {
      w.errors.push(`HashKV at revision ${target}: ${errorMessage(err)}${hashHint(err)}`);
    }
  }

  /**
   * A cached compaction hash reports the compaction before it; a hash that
   * reports the target itself was computed by a scan. A member that scanned
   * and could not be compared is not asked again for this compaction, so a
   * member that lost its cache (restart) costs one scan per compaction, not
   * one per round.
   */
  #rememberNotCached(
    works: readonly MemberRound[],
    incomparable: readonly string[],
    target: bigint | undefined,
  ): void {
    if (this.#options.hashRevision !== 'compacted' || target === undefined) return;
    for (const [url, entry] of this.#notCached) if (entry.revision !== target) this.#notCached.delete(url);
    for (const w of works) {
      if (w.hash === undefined || w.hash.compactRevision !== target || !incomparable.includes(w.label))
        continue;
      this.#notCached.set(w.member.endpoint!.url, { memberId: w.status!.header.memberId, revision: target });
    }
  }
}

export class ConsistencyFeature implements Feature<ConsistencyOptions> {
  readonly name = 'consistency';
  readonly description =
    'Whether the members hold the same data: key counts at one pinned revision, HashKV compared between members, and revision/raft index lag (v2: counts at one index, index lag).';
  readonly backends = ['v3', 'v2'] as const;
  readonly defaultIntervalSeconds = 60;
  readonly metrics = Object.values(CONSISTENCY_METRICS);

  parseOptions(raw: Readonly<Record<string, unknown>> | undefined): ConsistencyOptions {
    const mode = raw?.['hashRevision'];
    if (mode !== undefined && !(HASH_MODES as readonly unknown[]).includes(mode)) {
      throw new OptionsError(
        `options of feature ${this.name}: hashRevision: expected one of ${HASH_MODES.join(', ')}, got ${JSON.stringify(mode)}`,
      );
    }
    return parseOptions(this.name, ConsistencyOptionsSchema, raw);
  }

  open(cluster: ClusterHandle, options: ConsistencyOptions): FeatureSession {
    return new ConsistencySession(cluster, options);
  }
}
