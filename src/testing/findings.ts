/** A finding as the performance feature reports one, for tests of how findings are shown. */
import type { Finding } from '../findings.ts';

/** Member etcd-2's WAL fsync p99 at 180 ms against a 10 ms threshold: critical. */
export const slowDiskFinding: Finding = {
  member: '127.0.0.1:2379 (etcd-2)',
  cause: 'slow disk',
  measure: 'WAL fsync p99',
  value: 0.18,
  threshold: 0.01,
  unit: 'seconds',
  window: 'over the last 30 s',
  severity: 'critical',
  action: 'move the WAL to a faster disk',
  runbook: 'EtcdSlowDisk',
};

/** A fact rather than a figure, as the consistency feature reports a hash mismatch: no value, no threshold. */
export const hashMismatchFinding: Finding = {
  member: '127.0.0.1:2381 (etcd-3)',
  cause: 'divergent data',
  measure: 'hash at revision 120: 1a2b, the majority 3c4d',
  severity: 'critical',
  action: 'replace the member from a snapshot of one that agrees',
  runbook: 'EtcdMemberHashMismatch',
};
