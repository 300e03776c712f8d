/**
 * Gathering a v3 consistency round: every member's Status, compact revision,
 * key count at the pinned revision and hash, asked in parallel (one deadline
 * per call). The answers go into one MemberRound per member; judging them is
 * verdict.ts, reporting them render.ts.
 */
import { errorMessage } from '../../errors.ts';
import { EtcdError, prefixEnd } from '../../etcd/types.ts';
import type { EtcdV3ReadView, MemberHandle } from '../../engine/contract.ts';
import { keepsCompactionHashes, minimum } from './compare.ts';
import type { HashPlan as PolicyPlan } from './hash-policy.ts';
import {
  answeredStatus,
  labelOf,
  type AnsweredMember,
  type ConsistencyOptions,
  type HashKind,
  type MemberRound,
} from './model.ts';

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

/** The revision to hash and who hashes it; target undefined when the hash is not checked this round. */
export interface HashPlan {
  readonly target?: bigint;
  readonly eligible: ReadonlySet<MemberRound>;
  readonly note: string;
  /** The plan could not be made (a voter's compact revision is unknown). */
  readonly unknown?: boolean;
  /** How the hash is taken; undefined when none is this round. */
  readonly kind?: HashKind;
  /** hashRevision auto: the policy's plan (hash-policy.ts), for the session's bookkeeping. */
  readonly policy?: PolicyPlan;
}

export interface GatherContext {
  readonly options: ConsistencyOptions;
  readonly requestTimeoutMs: number;
  readonly signal: AbortSignal;
  /**
   * Why this member is not asked for its hash of the target again (its cached
   * compaction hash is known to be gone), or undefined to ask it.
   */
  readonly skipHash: (member: AnsweredMember, target: bigint) => string | undefined;
  /** hashRevision auto: the policy's plan for these voters (every one with its compact revision) and R. */
  readonly planAuto: (voters: readonly AnsweredMember[], checkedRevision: bigint) => PolicyPlan;
}

/** A gathered v3 round: every member, the ones that answered Status, R and the hash plan. */
export type GatheredV3 =
  | { readonly kind: 'no-status'; readonly rounds: readonly MemberRound[]; readonly error: string }
  | {
      readonly kind: 'gathered';
      readonly rounds: readonly MemberRound[];
      readonly answered: readonly AnsweredMember[];
      /** R: the smallest revision any member reported, where every member counted its keys. */
      readonly checkedRevision: bigint;
      readonly plan: HashPlan;
    };

export async function gatherV3(members: readonly MemberHandle[], ctx: GatherContext): Promise<GatheredV3> {
  const { options, signal } = ctx;
  const range = keyRange(options.prefix);
  const rounds: MemberRound[] = members.map((member) => ({
    member,
    label: labelOf(member),
    errors: [],
    hashState: 'not-checked',
  }));

  // 1. Status, and the compact revision where the hash needs it.
  await Promise.all(
    rounds.map(async (w) => {
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
      const needsCompactRevision =
        options.hashRevision === 'auto' ||
        (options.hashRevision === 'compacted' && keepsCompactionHashes(w.status.version));
      if (needsCompactRevision && !w.status.isLearner) {
        try {
          w.compactRevision = await compactRevisionOf(client, range.key, signal, ctx.requestTimeoutMs);
        } catch (err) {
          w.errors.push(`compact revision: ${errorMessage(err)}`);
        }
      }
    }),
  );
  const answered = rounds.filter(answeredStatus);
  const r = minimum(answered.map((w) => w.status.header.revision));
  if (r === undefined) {
    const error = `no member answered Status: ${rounds.map((w) => `${w.label}: ${w.errors.join('; ')}`).join(', ')}`;
    return { kind: 'no-status', rounds, error };
  }

  // 2. Which revision to hash, and on which members.
  const plan = hashPlan(ctx, answered, r);
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
          ? hashOf(w, client, plan.target, ctx)
          : Promise.resolve();
      await Promise.all([count, hash]);
    }),
  );
  return { kind: 'gathered', rounds, answered, checkedRevision: r, plan };
}

function hashPlan(ctx: GatherContext, answered: readonly AnsweredMember[], r: bigint): HashPlan {
  const mode = ctx.options.hashRevision;
  const voters = answered.filter((w) => !w.status.isLearner);
  const learnerNote =
    voters.length < answered.length ? 'learners are not hashed (etcd serves no HashKV on learners)' : '';
  if (mode === 'none') return { eligible: new Set(), note: 'hashRevision: none' };
  if (voters.length === 0) return { eligible: new Set(), note: learnerNote };
  if (mode === 'auto') {
    const policy = ctx.planAuto(voters, r);
    if (policy.kind === 'reuse') return { eligible: new Set(), note: policy.note, policy };
    if (policy.kind === 'unknown') return { eligible: new Set(), note: policy.note, unknown: true, policy };
    return { target: policy.target, eligible: new Set(voters), note: learnerNote, kind: policy.kind, policy };
  }
  if (mode === 'current') return { target: r, eligible: new Set(voters), note: learnerNote, kind: 'current' };
  const old = voters.find((w) => !keepsCompactionHashes(w.status.version));
  if (old !== undefined) {
    return {
      eligible: new Set(),
      note: `etcd ${old.status.version} keeps no compaction hashes: set hashRevision: current to hash at the checked revision (a full scan on every member)`,
    };
  }
  const positive = voters.filter(
    (w): w is AnsweredMember & { compactRevision: bigint } =>
      w.compactRevision !== undefined && w.compactRevision > 0n,
  );
  const c = minimum(positive.map((w) => w.compactRevision));
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
  return { target: c, eligible: new Set(positive), note: learnerNote, kind: 'compacted' };
}

async function hashOf(
  w: AnsweredMember,
  client: EtcdV3ReadView,
  target: bigint,
  ctx: GatherContext,
): Promise<void> {
  const skipped = ctx.skipHash(w, target);
  if (skipped !== undefined) {
    w.errors.push(skipped);
    return;
  }
  try {
    w.hash = await client.hashKV(target, {
      signal: ctx.signal,
      timeoutMs: ctx.options.hashTimeoutSeconds * 1000,
    });
  } catch (err) {
    w.errors.push(`HashKV at revision ${target}: ${errorMessage(err)}${hashHint(err)}`);
  }
}
