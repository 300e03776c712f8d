/**
 * Which hash to compare this round, so that a verdict comes within a bounded
 * time on every supported etcd version, at a bounded cost:
 *
 * - cached: every voter keeps compaction hashes (3.5.5+) and the cluster was
 *   compacted: HashKV at the compaction revision is nearly free, every round;
 * - compaction scan: a member keeps no cached hashes (3.4, 3.5 < 3.5.5):
 *   HashKV at the compaction revision scans the store once per compaction
 *   (its verdict stands until the next compaction), never again for it;
 * - recent: nothing compacted for `idleSeconds` (or never): HashKV at the
 *   checked revision, a scan, at most once per `idleSeconds`;
 * - reuse: between two of those, the last verdict stands (no call).
 *
 * Hashes are comparable only between members with the same compact
 * revision; members that disagree on it are mid-compaction: no hash this round.
 */

export interface VoterState {
  /** -1 (or 0) when never compacted; undefined when it could not be read. */
  readonly compactRevision: bigint | undefined;
  readonly keepsCompactionHashes: boolean;
}

export interface HashMemory {
  /** The compact revision seen last, and since when. */
  compaction?: { readonly revision: bigint; readonly sinceMs: number };
  /** The compaction whose scan verdict stands (no cache). */
  scannedCompaction?: bigint;
  /** When a recent-revision hash was last taken. */
  recentAtMs?: number;
}

export type HashPlan =
  | { readonly kind: 'cached' | 'compaction-scan' | 'recent'; readonly target: bigint }
  | { readonly kind: 'reuse'; readonly note: string }
  | { readonly kind: 'unknown'; readonly note: string };

export function planHash(
  voters: readonly VoterState[],
  checkedRevision: bigint,
  memory: HashMemory,
  nowMs: number,
  idleSeconds: number,
): HashPlan {
  if (voters.length === 0) return { kind: 'unknown', note: 'no voting member answered' };
  if (voters.some((v) => v.compactRevision === undefined))
    return { kind: 'unknown', note: 'compact revision unknown' };
  const revisions = new Set(voters.map((v) => (v.compactRevision! > 0n ? v.compactRevision! : 0n)));
  if (revisions.size > 1) {
    return {
      kind: 'unknown',
      note: 'members are at different compact revisions (a compaction is being applied)',
    };
  }
  const c = [...revisions][0]!;
  if (memory.compaction?.revision !== c) memory.compaction = { revision: c, sinceMs: nowMs };
  const idleMs = idleSeconds * 1000;
  const idle = c === 0n || nowMs - memory.compaction.sinceMs >= idleMs;
  if (idle && (memory.recentAtMs === undefined || nowMs - memory.recentAtMs >= idleMs)) {
    memory.recentAtMs = nowMs;
    return { kind: 'recent', target: checkedRevision };
  }
  if (c > 0n && voters.every((v) => v.keepsCompactionHashes)) return { kind: 'cached', target: c };
  if (c > 0n && memory.scannedCompaction !== c) {
    memory.scannedCompaction = c;
    return { kind: 'compaction-scan', target: c };
  }
  return {
    kind: 'reuse',
    note:
      c > 0n
        ? `compaction ${c} was hashed by a scan already; next hash at the next compaction or after ${idleSeconds} s without one`
        : `never compacted: next hash at a recent revision ${idleSeconds} s after the last`,
  };
}
