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
 * v2 (storageBackend v2): every member counts the keys under the prefix with
 * a recursive GET; the counts are compared only when every member answered at
 * the same v2 index (the read is repeated a few times under writes). The
 * spread of the members' indexes is lag.
 *
 * A round with an unknown part and no finding reaches no verdict: it returns
 * ok false (counted as a failure) and exports only the groups of series that
 * are fully known, never an older verdict.
 */
import { Type } from '@sinclair/typebox';
import { errorMessage } from '../../errors.ts';
import type { MetricDefinition } from '../../metrics/catalogue.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import { EtcdError, memberIdHex, prefixEnd, type HashKVResult, type StatusResult } from '../../etcd/types.ts';
import {
  failedOutcome,
  OptionsError,
  type ClusterHandle,
  type Feature,
  type FeatureSession,
  type InspectionOutcome,
  type MemberHandle,
  type EtcdV3ReadView,
} from '../../engine/contract.ts';
import { forEachMember } from '../members.ts';
import { parseOptions } from '../options.ts';
import { compareHashes, keepsCompactionHashes, minimum, spread } from './compare.ts';

export const CONSISTENCY_METRICS = {
  keyDiff: {
    name: 'inspection_etcd_node_diff_total',
    type: 'gauge',
    help: 'Largest minus smallest key count of the checked range over the members, all counted at the same revision (v2: at the same index). 0 when the members agree; any other value is divergence, not lag.',
    labels: [],
  },
  revisionDiff: {
    name: 'inspection_etcd_node_revision_diff_total',
    type: 'gauge',
    help: 'Largest minus smallest store revision the members reported in this round: replication lag, not divergence.',
    labels: [],
  },
  raftIndexDiff: {
    name: 'inspection_etcd_node_raft_index_diff_total',
    type: 'gauge',
    help: 'Largest minus smallest raft committed index over the members: lag, not divergence.',
    labels: [],
  },
  appliedIndexDiff: {
    name: 'inspection_etcd_node_raft_applied_index_diff_total',
    type: 'gauge',
    help: 'Largest minus smallest raft applied index over the members: lag, not divergence.',
    labels: [],
  },
  v2IndexDiff: {
    name: 'inspection_etcd_node_index_diff_total',
    type: 'gauge',
    help: 'v2 clusters: largest minus smallest v2 store index (X-Etcd-Index) in one parallel read of every member: lag, not divergence.',
    labels: [],
  },
  hashMismatch: {
    name: 'inspection_etcd_consistency_hash_mismatch',
    type: 'gauge',
    help: '1 when members that hashed the same revision range disagree, 0 when every member was compared and all agree. Absent when the hash was not compared this round.',
    labels: [],
  },
  endpointHashMismatch: {
    name: 'inspection_etcd_endpoint_hash_mismatch',
    type: 'gauge',
    help: '1 for a member whose hash differs from the largest group of equal hashes (every compared member when there is no single largest group), 0 for a member that agrees. Only compared members have a series.',
    labels: ['endpoint'],
  },
  checkedRevision: {
    name: 'inspection_etcd_consistency_checked_revision',
    type: 'gauge',
    help: 'The revision every member counted its keys at (v2: the common v2 index). Present when every member was counted.',
    labels: [],
  },
  hashRevision: {
    name: 'inspection_etcd_consistency_hash_revision',
    type: 'gauge',
    help: 'The revision the compared hashes cover (the latest compaction revision, or the checked revision with hashRevision: current). Present with inspection_etcd_consistency_hash_mismatch.',
    labels: [],
  },
  memberKeys: {
    name: 'inspection_etcd_consistency_member_keys',
    type: 'gauge',
    help: 'Keys of the checked range on this member at the checked revision. Present when every member was counted.',
    labels: ['endpoint'],
  },
} as const satisfies Record<string, MetricDefinition>;

export const HASH_MODES = ['compacted', 'current', 'none'] as const;
export type HashMode = (typeof HASH_MODES)[number];

export const ConsistencyOptionsSchema = Type.Object(
  {
    /** Key prefix whose keys are counted; '' = the whole keyspace (v2: '/'). */
    prefix: Type.String({ default: '' }),
    hashRevision: Type.Union(
      HASH_MODES.map((m) => Type.Literal(m)),
      { default: 'compacted' },
    ),
    /** Deadline of one HashKV call (a scan of a large backend takes seconds). */
    hashTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 600, default: 30 }),
    /** v2: how many parallel reads until every member answers at the same index. */
    v2CountAttempts: Type.Integer({ minimum: 1, maximum: 20, default: 5 }),
  },
  { additionalProperties: false },
);

export interface ConsistencyOptions {
  readonly prefix: string;
  readonly hashRevision: HashMode;
  readonly hashTimeoutSeconds: number;
  readonly v2CountAttempts: number;
}

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
  /** The member's compact revision (hashRevision compacted only); -1 when never compacted. */
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
  /** Why the hash was not checked or is unknown ('' otherwise). */
  readonly hashNote: string;
  readonly keyDiff: bigint | null;
  readonly revisionDiff: bigint | null;
  readonly raftIndexDiff: bigint | null;
  readonly raftAppliedIndexDiff: bigint | null;
  readonly v2IndexDiff: bigint | null;
  readonly members: readonly ConsistencyMember[];
}

/** Per-member state while a round runs. */
interface Work {
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

function num(v: bigint | null | undefined): bigint | null {
  return v ?? null;
}

function labelOf(member: MemberHandle): string {
  return member.snapshot.endpoint !== ''
    ? member.snapshot.endpoint
    : member.snapshot.name || '(member without client URL)';
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
      ? this.#inspectV2(members, signal)
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
    const works: Work[] = members.map((member) => ({
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
    const answered = works.filter((w) => w.status !== undefined);
    const r = minimum(answered.map((w) => w.status!.header.revision));
    if (r === undefined) {
      const error = `no member answered Status: ${works.map((w) => `${w.label}: ${w.errors.join('; ')}`).join(', ')}`;
      return failedOutcome(error, {
        summary: `no verdict: ${error}`,
        details: this.#details('v3', works, {}),
      });
    }

    // 2. Which revision to hash, and on which members.
    const plan = this.#hashPlan(answered, r);
    for (const w of answered) if (plan.target !== undefined && !w.status!.isLearner) w.hashState = 'unknown';

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
        .filter((w) => w.hash !== undefined)
        .map((w) => ({ endpoint: w.label, hash: w.hash!.hash, compactRevision: w.hash!.compactRevision })),
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

    let hash: HashVerdict;
    let hashNote = plan.note;
    const hashTargets = works.filter((w) => w.hashState !== 'not-checked');
    if (plan.unknown === true) hash = 'unknown';
    else if (plan.target === undefined) hash = 'not-checked';
    else if (comparison.mismatch) hash = 'mismatch';
    else if (
      hashTargets.length > 0 &&
      hashTargets.every((w) => w.hashState === 'match') &&
      works.every((w) => w.status !== undefined)
    )
      hash = 'consistent';
    else {
      hash = 'unknown';
      if (hashNote === '') hashNote = 'not every member could be compared';
    }

    const counted = works.filter((w) => w.keys !== undefined);
    const allCounted = counted.length === works.length;
    const keyDiff = spread(counted.map((w) => w.keys!));
    const allStatus = answered.length === works.length;
    const lag = allStatus
      ? {
          revision: spread(works.map((w) => w.status!.header.revision))!,
          raftIndex: spread(works.map((w) => w.status!.raftIndex))!,
          applied: spread(works.map((w) => w.status!.raftAppliedIndex))!,
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
    const ok = findings.length > 0 || unknowns.length === 0;

    const metrics: MetricSample[] = [];
    const M = CONSISTENCY_METRICS;
    if (lag !== undefined) {
      metrics.push({ name: M.revisionDiff.name, labels: {}, value: lag.revision });
      metrics.push({ name: M.raftIndexDiff.name, labels: {}, value: lag.raftIndex });
      metrics.push({ name: M.appliedIndexDiff.name, labels: {}, value: lag.applied });
    }
    if (allCounted && keyDiff !== undefined) {
      metrics.push({ name: M.keyDiff.name, labels: {}, value: keyDiff });
      metrics.push({ name: M.checkedRevision.name, labels: {}, value: r });
      for (const w of works)
        if (w.member.snapshot.endpoint !== '')
          metrics.push({ name: M.memberKeys.name, labels: { endpoint: w.label }, value: w.keys! });
    }
    if ((hash === 'consistent' || hash === 'mismatch') && plan.target !== undefined) {
      metrics.push({ name: M.hashMismatch.name, labels: {}, value: hash === 'mismatch' ? 1 : 0 });
      metrics.push({ name: M.hashRevision.name, labels: {}, value: plan.target });
      for (const w of works) {
        if (w.hashState === 'match' || w.hashState === 'mismatch') {
          metrics.push({
            name: M.endpointHashMismatch.name,
            labels: { endpoint: w.label },
            value: w.hashState === 'mismatch' ? 1 : 0,
          });
        }
      }
    }

    const details = this.#details('v3', works, {
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
    answered: readonly Work[],
    r: bigint,
  ): { target?: bigint; eligible: Set<Work>; note: string; unknown?: boolean } {
    const mode = this.#options.hashRevision;
    const voters = answered.filter((w) => !w.status!.isLearner);
    const learnerNote =
      voters.length < answered.length ? 'learners are not hashed (etcd serves no HashKV on learners)' : '';
    if (mode === 'none') return { eligible: new Set(), note: 'hashRevision: none' };
    if (voters.length === 0) return { eligible: new Set(), note: learnerNote };
    if (mode === 'current') return { target: r, eligible: new Set(voters), note: learnerNote };
    const old = voters.find((w) => !keepsCompactionHashes(w.status!.version));
    if (old !== undefined) {
      return {
        eligible: new Set(),
        note: `etcd ${old.status!.version} keeps no compaction hashes: set hashRevision: current to hash at the checked revision (a full scan on every member)`,
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

  async #hash(w: Work, client: EtcdV3ReadView, target: bigint, signal: AbortSignal): Promise<void> {
    const skipped = this.#notCached.get(w.member.endpoint!.url);
    if (
      this.#options.hashRevision === 'compacted' &&
      skipped !== undefined &&
      skipped.memberId === w.status!.header.memberId &&
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
    works: readonly Work[],
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

  // ---- v2 --------------------------------------------------------------------------

  async #inspectV2(members: readonly MemberHandle[], signal: AbortSignal): Promise<InspectionOutcome> {
    const opts = this.#options;
    const prefix = opts.prefix === '' ? '/' : opts.prefix;
    const works: Work[] = members.map((member) => ({
      member,
      label: labelOf(member),
      errors: [],
      hashState: 'not-checked',
    }));

    let first: Map<Work, bigint> | undefined;
    let aligned: bigint | undefined;
    let attempts = 0;
    while (attempts < opts.v2CountAttempts) {
      attempts++;
      const reads = await forEachMember(members, (m) => m.v2().countKeys(prefix, { signal }));
      const indexes = new Map<Work, bigint>();
      let failed = false;
      reads.forEach((read, i) => {
        const w = works[i]!;
        if (read.result === undefined) {
          w.errors.push(`count under ${prefix}: ${read.error ?? 'no answer'}`);
          failed = true;
          return;
        }
        indexes.set(w, read.result.index);
        w.keys = read.result.keys;
      });
      first ??= indexes;
      if (failed) break;
      const distinct = new Set([...indexes.values()].map(String));
      if (distinct.size === 1) {
        aligned = [...indexes.values()][0]!;
        break;
      }
    }
    for (const [w, index] of first ?? []) w.v2Index = index;
    if (aligned === undefined) {
      for (const w of works) delete w.keys;
      if (works.every((w) => w.errors.length === 0)) {
        works[0]!.errors.push(
          `the members answered at different v2 indexes in all ${attempts} attempt(s) (writes in flight): counts not compared`,
        );
      }
    }

    const indexDiff =
      first !== undefined && first.size === works.length ? spread([...first.values()]) : undefined;
    const counted = works.filter((w) => w.keys !== undefined);
    const keyDiff = aligned !== undefined ? spread(counted.map((w) => w.keys!)) : undefined;

    const findings: string[] = [];
    if (keyDiff !== undefined && keyDiff > 0n) {
      findings.push(
        `v2 key counts under ${prefix} differ at index ${aligned}: ${counted.map((w) => `${w.label}=${w.keys}`).join(', ')}`,
      );
    }
    const unknowns = works
      .filter((w) => w.errors.length > 0)
      .map((w) => `${w.label}: ${w.errors.join('; ')}`);
    const ok = findings.length > 0 || unknowns.length === 0;

    const M = CONSISTENCY_METRICS;
    const metrics: MetricSample[] = [];
    if (indexDiff !== undefined) metrics.push({ name: M.v2IndexDiff.name, labels: {}, value: indexDiff });
    if (keyDiff !== undefined && aligned !== undefined) {
      metrics.push({ name: M.keyDiff.name, labels: {}, value: keyDiff });
      metrics.push({ name: M.checkedRevision.name, labels: {}, value: aligned });
      for (const w of works)
        if (w.member.snapshot.endpoint !== '')
          metrics.push({ name: M.memberKeys.name, labels: { endpoint: w.label }, value: w.keys! });
    }
    const details = this.#details('v2', works, {
      checkedRevision: aligned ?? null,
      hash: 'not-checked',
      hashNote: 'v2 store: no hash',
      keyDiff: keyDiff ?? null,
      v2IndexDiff: indexDiff ?? null,
    });
    const parts: string[] = [];
    if (keyDiff !== undefined) {
      parts.push(
        keyDiff === 0n
          ? `${works.length} member(s) hold ${counted[0]!.keys} v2 keys under ${prefix} at index ${aligned}`
          : `v2 keys under ${prefix} differ by ${keyDiff} at index ${aligned}`,
      );
    }
    if (indexDiff !== undefined) parts.push(`lag: v2 index ${indexDiff}`);
    if (ok) return { ok, summary: parts.join('; '), problems: findings, details, metrics };
    const error = unknowns.join('; ');
    return failedOutcome(error, { summary: `no verdict: ${error}`, details, metrics });
  }

  #details(
    backend: 'v3' | 'v2',
    works: readonly Work[],
    verdict: Partial<ConsistencyDetails>,
  ): ConsistencyDetails {
    return {
      backend,
      prefix: this.#options.prefix,
      hashMode: this.#options.hashRevision,
      checkedRevision: null,
      hashRevision: null,
      hash: 'unknown',
      hashNote: '',
      keyDiff: null,
      revisionDiff: null,
      raftIndexDiff: null,
      raftAppliedIndexDiff: null,
      v2IndexDiff: null,
      ...verdict,
      members: works.map((w) => ({
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
        revision: num(w.status?.header.revision),
        raftIndex: num(w.status?.raftIndex),
        raftAppliedIndex: num(w.status?.raftAppliedIndex),
        compactRevision: num(w.compactRevision),
        keys: num(w.keys),
        v2Index: num(w.v2Index),
        hash: w.hash?.hash ?? null,
        hashCompactRevision: num(w.hash?.compactRevision),
        hashState: w.hashState,
        errors: w.errors,
      })),
    };
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
