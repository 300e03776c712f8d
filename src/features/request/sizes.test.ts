import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabelSlot } from './labels.ts';
import { SizeState, TopSizes } from './sizes.ts';

describe('TopSizes', () => {
  test('keeps the largest, with a bound on the rest', () => {
    const top = new TopSizes(3);
    for (const [k, n] of [
      ['a', 5],
      ['b', 1],
      ['c', 9],
      ['d', 7],
      ['e', 3],
    ] as const)
      top.set(k, n);
    assert.deepEqual(top.largest(5), [
      { key: 'c', bytes: 9 },
      { key: 'd', bytes: 7 },
      { key: 'a', bytes: 5 },
    ]);
    assert.equal(top.bound, 3);
    assert.ok(top.exactFor(3, 5));
  });

  test('a kept key shrinking below the bound leaves; a key outside growing past it comes in', () => {
    const top = new TopSizes(2);
    top.set('a', 10);
    top.set('b', 8);
    top.set('c', 6); // evicted: bound 6
    top.set('a', 2); // shrinks below 6: 'c' (6) may now be larger, so 'a' leaves
    assert.deepEqual(top.largest(2), [{ key: 'b', bytes: 8 }]);
    assert.ok(!top.exactFor(2, 3), 'the second largest is unknown');
    assert.ok(top.exactFor(1, 3));
    top.set('c', 20); // grows past the bound: kept again
    assert.deepEqual(top.largest(2), [
      { key: 'c', bytes: 20 },
      { key: 'b', bytes: 8 },
    ]);
  });

  test('deletes of kept keys exhaust the ranking; a set that never overflowed stays exact', () => {
    const top = new TopSizes(2);
    top.set('a', 1);
    top.delete('a');
    assert.ok(top.exactFor(2, 0));
    top.set('a', 5);
    top.set('b', 4);
    top.set('c', 3);
    top.delete('a');
    top.delete('b');
    assert.ok(!top.exactFor(1, 1), 'c is outside the kept set');
  });
});

describe('SizeState', () => {
  const pods: LabelSlot = { etcdPrefix: 'registry', resourceName: 'pods' };
  const cms: LabelSlot = { etcdPrefix: 'registry', resourceName: 'configmaps' };
  const b = (s: string) => Buffer.from(s);

  test('totals exact from scan and events; largest per resource and top N', () => {
    const s = new SizeState(2);
    s.add(pods, b('/registry/pods/ns/a'), Buffer.alloc(100));
    s.add(pods, b('/registry/pods/ns/b'), Buffer.alloc(50));
    s.add(cms, b('/registry/configmaps/ns/c'), Buffer.alloc(300));
    assert.equal(s.bytesOf(pods), 19 + 100 + 19 + 50);
    // update: b grows to 500 (previous 50); created key d; delete a.
    s.put(pods, b('/registry/pods/ns/b'), Buffer.alloc(500), Buffer.alloc(50));
    s.put(pods, b('/registry/pods/ns/d'), Buffer.alloc(10), undefined);
    s.delete(pods, b('/registry/pods/ns/a'), Buffer.alloc(100));
    assert.equal(s.bytesOf(pods), 19 + 500 + 19 + 10);
    assert.deepEqual(s.resource(pods, 2).largest, { key: '/registry/pods/ns/b', bytes: 519 });
    assert.deepEqual(
      s.largest(2, 3).keys.map((k) => k.key),
      ['/registry/pods/ns/b', '/registry/configmaps/ns/c'],
    );
    const counts = new Map([
      [pods, 2],
      [cms, 1],
    ]);
    assert.ok(s.complete(counts));
  });

  test('a missing previous value makes the totals inexact', () => {
    const s = new SizeState(1);
    s.add(pods, b('/registry/pods/ns/a'), Buffer.alloc(10));
    s.put(pods, b('/registry/pods/ns/a'), Buffer.alloc(20), null);
    assert.ok(s.inexact);
    assert.ok(!s.complete(new Map([[pods, 1]])));
  });

  test('the largest of a resource becomes unknown once its kept objects are gone', () => {
    const s = new SizeState(1);
    for (let i = 0; i < 6; i++) s.add(pods, b(`/registry/pods/ns/p${i}`), Buffer.alloc(100 + i));
    for (let i = 5; i >= 2; i--) s.delete(pods, b(`/registry/pods/ns/p${i}`), Buffer.alloc(100 + i));
    assert.equal(s.resource(pods, 2).largest, undefined);
    assert.ok(!s.complete(new Map([[pods, 2]])));
  });
});
