import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ownerOf, StaticShard } from './shard.ts';

const keys = Array.from({ length: 10_000 }, () => randomUUID());

function countBy(members: readonly string[]): Map<string, number> {
  const counts = new Map(members.map((m) => [m, 0]));
  for (const k of keys) {
    const o = ownerOf(k, members)!;
    counts.set(o, counts.get(o)! + 1);
  }
  return counts;
}

test('rendezvous hashing spreads 10,000 UIDs evenly over 5 members', () => {
  const members = ['etcd-monitor-7d9f-abcde', 'etcd-monitor-7d9f-fghij', 'a', 'b', 'c'];
  const counts = countBy(members);
  for (const [m, n] of counts) assert.ok(n > 1700 && n < 2300, `${m} owns ${n} of 10,000 (expected ~2,000)`);
});

test('a joining member takes about 1/N of the keys, only from the others, and nothing else moves', () => {
  const before = ['r1', 'r2', 'r3', 'r4'];
  const after = [...before, 'r5'];
  let moved = 0;
  for (const k of keys) {
    const a = ownerOf(k, before);
    const b = ownerOf(k, after);
    if (a !== b) {
      moved++;
      assert.equal(b, 'r5', `key ${k} moved from ${a} to ${b}, not to the new member`);
    }
  }
  assert.ok(moved > 1700 && moved < 2300, `${moved} of 10,000 moved (expected ~2,000 = 1/5)`);
});

test('a leaving member gives away exactly its own keys', () => {
  const before = ['r1', 'r2', 'r3', 'r4', 'r5'];
  const after = before.filter((m) => m !== 'r3');
  for (const k of keys) {
    const a = ownerOf(k, before);
    const b = ownerOf(k, after);
    if (a === 'r3') assert.notEqual(b, 'r3');
    else assert.equal(b, a, `key ${k} of ${a} moved though ${a} stayed`);
  }
});

test('the owner does not depend on the order of the member list', () => {
  for (const k of keys.slice(0, 500)) assert.equal(ownerOf(k, ['x', 'y', 'z']), ownerOf(k, ['z', 'x', 'y']));
  assert.equal(ownerOf('k', []), undefined);
});

test('static shards partition the keys: each key has exactly one shard', () => {
  const shards = [0, 1, 2].map((i) => new StaticShard(i, 3));
  const counts = [0, 0, 0];
  for (const k of keys) {
    const owners = shards.filter((s) => s.owns(k));
    assert.equal(owners.length, 1);
    counts[shards.indexOf(owners[0]!)]!++;
  }
  for (const n of counts) assert.ok(n > 3000 && n < 3700, `a shard owns ${n} of 10,000`);
});

test('static shard numbers are checked', () => {
  assert.throws(
    () => new StaticShard(3, 3),
    /shard must be an integer from 0 to 2 \(total shards 3\), got 3/,
  );
  assert.throws(() => new StaticShard(-1, 2), /got -1/);
  assert.throws(() => new StaticShard(0, 0), /total shards must be a positive integer, got 0/);
});
