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
