/**
 * hashRevision auto: which hash to take this round, so that a verdict comes
 * within a bounded time on every supported etcd version, at a bounded cost.
 *
 * - cached: every voter keeps compaction hashes (3.5.5+) and the cluster was
 *   compacted: HashKV at the compaction revision is answered from etcd's
 *   cache, nearly free, every round;
 * - compaction-scan: a voter keeps no cached hash of the compaction (3.4,
 *   3.5 < 3.5.5, or a member restarted since): one HashKV scan per
 *   compaction, at the checked revision (etcd < 3.5.5 refuses HashKV at the
 *   compact revision itself: measured on 3.4.23), its verdict standing until
 *   the next compaction;
 * - recent: nothing compacted for `idleSeconds` (or never): HashKV at the
 *   checked revision, a scan, at most once per `idleSeconds`;
 * - reuse: between two of those the standing verdict is exported again (no
 *   call).
 *
 * Hashes are comparable only between members with the same compact revision;
 * members that disagree on it are mid-compaction: no hash this round. A scan
 * counts as done only once it reached a verdict (recordScan); a failed one
 * is retried after a backoff (recordFailedScan), so a store too large for
 * hashTimeoutSeconds is not scanned on every round (a new compaction still
 * gets its scan: at most one failed scan per compaction plus the retries).
 *
 * Pure: no I/O, the clock is passed in (hash-policy.test.ts).
 */

export interface VoterState {
  /** -1 (or 0) when never compacted; undefined when it could not be read. */
  readonly compactRevision: bigint | undefined;
  /** The member answers HashKV at the compaction revision from its cache (3.5.5+, not restarted since). */
  readonly keepsCompactionHashes: boolean;
}

export interface HashMemory {
  /** The compact revision seen last, and since when. */
  compaction?: { readonly revision: bigint; readonly sinceMs: number };
  /** The compaction a scan has covered (its verdict stands until the next one). */
  scannedCompaction?: bigint;
  /** When the last scan that reached a verdict was taken. */
  scannedAtMs?: number;
  /** Scans in a row that reached no verdict, and when the next may start. */
  failedScans?: number;
  retryAtMs?: number;
}

export type ScanKind = 'compaction-scan' | 'recent';
export type HashKind = 'cached' | ScanKind;

export type HashPlan =
  | {
      readonly kind: HashKind;
      /** The revision to hash. */
      readonly target: bigint;
      /** The compact revision every voter reported (0 when never compacted). */
      readonly compaction: bigint;
      /** Why this hash, in words (shown in the summary). */
      readonly why: string;
    }
  | { readonly kind: 'reuse'; readonly note: string }
  | { readonly kind: 'unknown'; readonly note: string };

export interface PlanInput {
  readonly voters: readonly VoterState[];
  /** R: the revision every member has applied (where the keys are counted). */
  readonly checkedRevision: bigint;
  readonly nowMs: number;
  readonly idleSeconds: number;
}

export function planHash(input: PlanInput, memory: HashMemory): HashPlan {
  const { voters, checkedRevision: r, nowMs, idleSeconds } = input;
  if (voters.length === 0) return { kind: 'unknown', note: 'no voting member answered' };
  if (voters.some((v) => v.compactRevision === undefined))
    return { kind: 'unknown', note: 'compact revision unknown' };
  const revisions = new Set(voters.map((v) => (v.compactRevision! > 0n ? v.compactRevision! : 0n)));
  if (revisions.size > 1) {
    return {
      kind: 'unknown',
      note: `members are at different compact revisions (${[...revisions].join(', ')}): a compaction is being applied`,
    };
  }
  const c = [...revisions][0]!;
  if (memory.compaction?.revision !== c) {
    memory.compaction = { revision: c, sinceMs: nowMs };
    // A new compaction is due its scan whatever happened to the last one's.
    delete memory.failedScans;
    delete memory.retryAtMs;
  }
  const idleMs = idleSeconds * 1000;
  const cached = c > 0n && voters.every((v) => v.keepsCompactionHashes);
  const cachedPlan: HashPlan = { kind: 'cached', target: c, compaction: c, why: 'cached compaction hash' };

  const idle = c === 0n || nowMs - memory.compaction.sinceMs >= idleMs;
  const recentDue = idle && (memory.scannedAtMs === undefined || nowMs - memory.scannedAtMs >= idleMs);
  const compactionDue = c > 0n && !cached && memory.scannedCompaction !== c;
  if (!recentDue && !compactionDue) {
    if (cached) return cachedPlan;
    return {
      kind: 'reuse',
      note:
        c > 0n
          ? `compaction ${c} is covered by a scan already: next hash at the next compaction or ${idleSeconds} s after that scan`
          : `never compacted: next hash at a recent revision ${idleSeconds} s after the last`,
    };
  }
  // A scan is due. etcd < 3.5.5 refuses HashKV at the compact revision itself: with nothing
  // written since the compaction there is nothing to scan yet (the cached hash covers it all).
  if (r <= c) {
    if (cached) return cachedPlan;
    return {
      kind: 'unknown',
      note: `nothing written since compaction ${c}: a member without a cached compaction hash (etcd < 3.5.5, or restarted) cannot hash the compact revision itself; hashed after the next write`,
    };
  }
  if (memory.retryAtMs !== undefined && nowMs < memory.retryAtMs) {
    if (cached) return cachedPlan;
    return {
      kind: 'reuse',
      note: `the last ${memory.failedScans ?? 1} hash scan(s) reached no verdict; next attempt in ${Math.ceil((memory.retryAtMs - nowMs) / 1000)} s`,
    };
  }
  if (compactionDue && !recentDue)
    return { kind: 'compaction-scan', target: r, compaction: c, why: `scan after compaction ${c}` };
  return {
    kind: 'recent',
    target: r,
    compaction: c,
    why: c === 0n ? 'scan, never compacted' : `scan, no compaction for ${idleSeconds} s`,
  };
}

/** A scan reached a verdict: it covers the compaction it was taken after, and the idle clock restarts. */
export function recordScan(memory: HashMemory, plan: { readonly compaction: bigint }, nowMs: number): void {
  if (plan.compaction > 0n) memory.scannedCompaction = plan.compaction;
  memory.scannedAtMs = nowMs;
  delete memory.failedScans;
  delete memory.retryAtMs;
}

/**
 * A scan reached no verdict (a member down, a timeout): retried after
 * min(idleSeconds, hashTimeoutSeconds × 2^(failures − 1)), so a store that
 * cannot be hashed within the deadline costs a scan now and then, not on
 * every round.
 */
export function recordFailedScan(
  memory: HashMemory,
  nowMs: number,
  idleSeconds: number,
  hashTimeoutSeconds: number,
): void {
  const failures = (memory.failedScans ?? 0) + 1;
  memory.failedScans = failures;
  const backoffMs = Math.min(idleSeconds, hashTimeoutSeconds * 2 ** Math.min(failures - 1, 20)) * 1000;
  memory.retryAtMs = nowMs + backoffMs;
}

/** A new membership: nothing scanned for it yet. */
export function forgetScans(memory: HashMemory): void {
  delete memory.scannedCompaction;
  delete memory.scannedAtMs;
  delete memory.failedScans;
  delete memory.retryAtMs;
}
