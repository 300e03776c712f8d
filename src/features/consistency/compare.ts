/**
 * The pure decisions of the consistency inspection: which members' hashes
 * can be compared, who disagrees with whom, and the spread of a set of
 * per-member numbers. No I/O here; consistency.ts gathers the answers.
 */

export interface HashAnswer {
  readonly endpoint: string;
  /** uint32 as etcd returns it. */
  readonly hash: number;
  /**
   * The compact revision the member reported with the hash. Two hashes cover
   * the same revisions only when this is equal (a cached compaction hash
   * reports the compaction before it; a computed one the member's current
   * compact revision).
   */
  readonly compactRevision: bigint;
}

export interface HashComparison {
  /** Members whose hash was compared with at least one other (or the only member of the cluster), with their verdict. */
  readonly compared: readonly { readonly endpoint: string; readonly mismatch: boolean }[];
  /** Members alone with their compact revision: nothing to compare them with. */
  readonly incomparable: readonly string[];
  /** Some compared members disagree. */
  readonly mismatch: boolean;
  /** A disagreement without a single largest group: every member of that group is flagged. */
  readonly tie: boolean;
}

/**
 * Groups the answers by compact revision and compares hashes inside each
 * group. In a group that disagrees, the members outside the largest set of
 * equal hashes are flagged; when no set is strictly larger than all others
 * (two members that differ, 1-1-1, 2-2), nobody can tell which copy is right
 * and every member of the group is flagged.
 *
 * A member whose compact revision no other member shares is incomparable,
 * unless it is the only answer there is (a one-member cluster).
 */
export function compareHashes(answers: readonly HashAnswer[]): HashComparison {
  const groups = new Map<bigint, HashAnswer[]>();
  for (const a of answers) {
    const group = groups.get(a.compactRevision);
    if (group === undefined) groups.set(a.compactRevision, [a]);
    else group.push(a);
  }
  const compared: { endpoint: string; mismatch: boolean }[] = [];
  const incomparable: string[] = [];
  let tie = false;
  for (const group of groups.values()) {
    if (group.length === 1 && groups.size > 1) {
      incomparable.push(group[0]!.endpoint);
      continue;
    }
    const byHash = new Map<number, string[]>();
    for (const a of group) byHash.set(a.hash, [...(byHash.get(a.hash) ?? []), a.endpoint]);
    if (byHash.size === 1) {
      for (const a of group) compared.push({ endpoint: a.endpoint, mismatch: false });
      continue;
    }
    const sizes = [...byHash.values()].map((e) => e.length);
    const largest = Math.max(...sizes);
    const majority =
      sizes.filter((s) => s === largest).length === 1
        ? [...byHash.values()].find((e) => e.length === largest)!
        : undefined;
    if (majority === undefined) tie = true;
    for (const a of group)
      compared.push({
        endpoint: a.endpoint,
        mismatch: majority === undefined || !majority.includes(a.endpoint),
      });
  }
  return { compared, incomparable, mismatch: compared.some((c) => c.mismatch), tie };
}

/** max - min, or undefined for an empty list. */
export function spread(values: readonly bigint[]): bigint | undefined {
  if (values.length === 0) return undefined;
  let min = values[0]!;
  let max = values[0]!;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return max - min;
}

/** The smallest value, or undefined for an empty list. */
export function minimum(values: readonly bigint[]): bigint | undefined {
  // biome-ignore lint/complexity/useMathMinMax: bigint values; Math.min takes numbers only
  return values.length === 0 ? undefined : values.reduce((a, b) => (b < a ? b : a));
}

/**
 * Whether an etcd version keeps the hashes of its recent compactions and
 * answers HashKV at the compaction revision from them (3.5.5 and later).
 * Older members refuse HashKV at the compact revision itself and compute
 * every other revision with a scan. An unparsable version counts as recent.
 */
export function keepsCompactionHashes(version: string | undefined): boolean {
  if (version === undefined || version === '') return true;
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (m === null) return true;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (major !== 3) return major > 3;
  if (minor !== 5) return minor > 5;
  return patch >= 5;
}
