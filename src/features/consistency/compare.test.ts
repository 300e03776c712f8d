import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareHashes, keepsCompactionHashes, minimum, spread, type HashAnswer } from './compare.ts';

const a = (endpoint: string, hash: number, compactRevision = 10n): HashAnswer => ({
  endpoint,
  hash,
  compactRevision,
});
const flagged = (answers: HashAnswer[]): string[] =>
  compareHashes(answers)
    .compared.filter((c) => c.mismatch)
    .map((c) => c.endpoint)
    .sort();

test('equal hashes: every member compared, nobody flagged', () => {
  const r = compareHashes([a('m0', 7), a('m1', 7), a('m2', 7)]);
  assert.equal(r.mismatch, false);
  assert.equal(r.tie, false);
  assert.deepEqual(r.compared.map((c) => c.endpoint).sort(), ['m0', 'm1', 'm2']);
  assert.deepEqual(r.incomparable, []);
});

test('one member differs from the majority: only that member is flagged', () => {
  assert.deepEqual(flagged([a('m0', 7), a('m1', 8), a('m2', 7)]), ['m1']);
  // 2-1-1 in four members: the pair is the single largest group.
  assert.deepEqual(flagged([a('m0', 7), a('m1', 8), a('m2', 7), a('m3', 9)]), ['m1', 'm3']);
  assert.equal(compareHashes([a('m0', 7), a('m1', 8), a('m2', 7)]).tie, false);
});

test('no single largest group (2 members, 1-1-1, 2-2): every member is flagged', () => {
  for (const answers of [
    [a('m0', 1), a('m1', 2)],
    [a('m0', 1), a('m1', 2), a('m2', 3)],
    [a('m0', 1), a('m1', 1), a('m2', 2), a('m3', 2)],
  ]) {
    const r = compareHashes(answers);
    assert.equal(r.mismatch, true);
    assert.equal(r.tie, true);
    assert.deepEqual(flagged(answers), answers.map((x) => x.endpoint).sort());
  }
});

test('only members with the same compact revision are compared; a lone one is incomparable', () => {
  // m2 reports another compact revision: its different hash is not a mismatch.
  const r = compareHashes([a('m0', 7, 10n), a('m1', 7, 10n), a('m2', 9, 12n)]);
  assert.equal(r.mismatch, false);
  assert.deepEqual(r.incomparable, ['m2']);
  assert.deepEqual(r.compared.map((c) => c.endpoint).sort(), ['m0', 'm1']);
  // Each group is compared on its own.
  const two = compareHashes([a('m0', 7, 10n), a('m1', 8, 10n), a('m2', 9, 12n), a('m3', 9, 12n)]);
  assert.equal(two.mismatch, true);
  assert.deepEqual(flagged([a('m0', 7, 10n), a('m1', 8, 10n), a('m2', 9, 12n), a('m3', 9, 12n)]), [
    'm0',
    'm1',
  ]);
  // Different compact revisions everywhere: nothing can be compared.
  const none = compareHashes([a('m0', 1, 1n), a('m1', 1, 2n)]);
  assert.deepEqual(none.compared, []);
  assert.deepEqual([...none.incomparable].sort(), ['m0', 'm1']);
});

test('a one-member cluster is compared with itself (consistent)', () => {
  const r = compareHashes([a('m0', 5, -1n)]);
  assert.deepEqual(r.compared, [{ endpoint: 'm0', mismatch: false }]);
  assert.deepEqual(r.incomparable, []);
});

test('spread and minimum', () => {
  assert.equal(spread([]), undefined);
  assert.equal(spread([5n]), 0n);
  assert.equal(spread([5n, 9n, 7n]), 4n);
  assert.equal(minimum([]), undefined);
  assert.equal(minimum([9n, 3n, 7n]), 3n);
});

test('which etcd versions keep compaction hashes (3.5.5+)', () => {
  for (const v of ['3.5.5', '3.5.35', '3.6.0', '3.6.16', '3.7.0', '4.0.0', '', 'dev'])
    assert.equal(keepsCompactionHashes(v), true, v);
  for (const v of ['3.4.23', '3.4.37', '3.5.0', '3.5.4', '3.3.27', '2.3.8'])
    assert.equal(keepsCompactionHashes(v), false, v);
  assert.equal(keepsCompactionHashes(undefined), true);
});
