/**
 * The verdicts of a consistency round, as pure functions of what the
 * members answered: no I/O, table-tested (verdict.test.ts).
 */
import type { ConsistencyMember, HashVerdict } from './model.ts';

export interface HashVerdictInput {
  /** The revision the hash plan chose (undefined: not checked this round) and why. */
  readonly target: bigint | undefined;
  /** The plan could not be made (e.g. a member's compact revision unknown). */
  readonly planUnknown: boolean;
  readonly note: string;
  /** Some compared members disagree. */
  readonly mismatch: boolean;
  /** Every member's hash state after the comparison. */
  readonly hashStates: readonly ConsistencyMember['hashState'][];
  /** Every member answered Status (a member that did not could hold anything). */
  readonly everyMemberAnswered: boolean;
}

/**
 * consistent only when every member answered and every member meant to be
 * hashed was compared and matched; a mismatch is a mismatch whoever else
 * could not answer; anything short of that is unknown, never consistent.
 */
export function hashVerdict(input: HashVerdictInput): { readonly hash: HashVerdict; readonly note: string } {
  if (input.planUnknown) return { hash: 'unknown', note: input.note };
  if (input.target === undefined) return { hash: 'not-checked', note: input.note };
  if (input.mismatch) return { hash: 'mismatch', note: input.note };
  const targets = input.hashStates.filter((s) => s !== 'not-checked');
  if (targets.length > 0 && targets.every((s) => s === 'match') && input.everyMemberAnswered)
    return { hash: 'consistent', note: input.note };
  return { hash: 'unknown', note: input.note === '' ? 'not every member could be compared' : input.note };
}

/**
 * A round reaches a verdict when it found something wrong (a problem stands
 * whatever else is unknown) or when nothing is unknown.
 */
export function reachedVerdict(problems: readonly string[], unknowns: readonly string[]): boolean {
  return problems.length > 0 || unknowns.length === 0;
}

/**
 * hashRevision auto: whether a fresh verdict replaces the standing one. A
 * hash covers the data up to its revision, so a consistent hash of an older
 * revision (a cached compaction hash) says nothing against a mismatch found
 * at a newer one; a mismatch always replaces, and so does any verdict after
 * the membership changed.
 */
export function supersedes(
  fresh: { readonly hash: 'consistent' | 'mismatch'; readonly revision: bigint; readonly membership: string },
  standing: { readonly revision: bigint; readonly membership: string } | undefined,
): boolean {
  return (
    standing === undefined ||
    standing.membership !== fresh.membership ||
    fresh.hash === 'mismatch' ||
    fresh.revision >= standing.revision
  );
}
