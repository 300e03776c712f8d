import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findingFigure, findingThreshold, formatFigure, formatFinding, sortFindings } from './findings.ts';
import { hashMismatchFinding, slowDiskFinding } from './testing/findings.ts';

test('figures print in the unit people read', () => {
  assert.equal(formatFigure(0.18, 'seconds'), '180 ms');
  assert.equal(formatFigure(0.0042, 'seconds'), '4.2 ms');
  assert.equal(formatFigure(12.4, 'seconds'), '12 s');
  // A horizon (time until a quota is full) in minutes, hours, days.
  assert.equal(formatFigure(3 * 3600, 'seconds'), '3.0h');
  assert.equal(formatFigure(3 * 1024 ** 2, 'bytes'), '3 MiB');
  assert.equal(formatFigure(0.125, 'ratio'), '12.5 %');
  assert.equal(formatFigure(0.3333333, 'per_second'), '0.333/s');
  assert.equal(formatFigure(7, 'count'), '7');
});

test('a finding reads as member, cause, figure, threshold, what to do', () => {
  assert.equal(
    formatFinding(slowDiskFinding),
    'member 127.0.0.1:2379 (etcd-2): slow disk — WAL fsync p99 180 ms over the last 30 s (threshold 10 ms); move the WAL to a faster disk (runbook: docs/runbooks.md#etcdslowdisk)',
  );
});

test('a fact has no figure and no threshold: it reads as member, cause, what was seen, what to do', () => {
  assert.equal(
    formatFinding(hashMismatchFinding),
    'member 127.0.0.1:2381 (etcd-3): divergent data — hash at revision 120: 1a2b, the majority 3c4d; replace the member from a snapshot of one that agrees (runbook: docs/runbooks.md#etcdmemberhashmismatch)',
  );
  assert.equal(findingFigure(hashMismatchFinding), 'hash at revision 120: 1a2b, the majority 3c4d');
  assert.equal(findingThreshold(hashMismatchFinding), undefined);
  assert.equal(findingFigure(slowDiskFinding), 'WAL fsync p99 180 ms over the last 30 s');
  assert.equal(findingThreshold(slowDiskFinding), '10 ms');
});

test('findings sort critical first, then by member, then by how far past the threshold', () => {
  const warning = { ...slowDiskFinding, severity: 'warning' as const, member: 'a' };
  const small = { ...slowDiskFinding, member: 'b', value: 0.02 };
  const large = { ...slowDiskFinding, member: 'b', value: 0.5 };
  const other = { ...slowDiskFinding, member: 'c' };
  assert.deepEqual(sortFindings([other, warning, small, large]), [large, small, other, warning]);
});

test('a fact sorts before the figures of its member and severity', () => {
  const fact = { ...hashMismatchFinding, member: 'b' };
  const figure = { ...slowDiskFinding, member: 'b', value: 50 };
  const otherFact = { ...hashMismatchFinding, member: 'b', cause: 'other' };
  assert.deepEqual(sortFindings([figure, fact, otherFact]), [fact, otherFact, figure]);
});
