/**
 * The store's retention policy: objects it does not keep whole are packed
 * (their JSON text) and still read whole through every lister method; what
 * a lister answers is the same with or without the policy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Store, type Retention } from './store.ts';

interface Thing {
  readonly apiVersion: string;
  readonly kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: { shard: string; secret: string; nested: { list: number[] } };
}

const thing = (name: string, rv: number, shard: string, secret = 's1', tier = 'db'): Thing => ({
  apiVersion: 'test/v1',
  kind: 'Thing',
  metadata: { name, namespace: 'ns', resourceVersion: String(rv), labels: { tier } },
  spec: { shard, secret, nested: { list: [rv, 2, 3] } },
});

const names = (objects: readonly { metadata: { name: string } }[]): string[] =>
  objects.map((o) => o.metadata.name).sort();

/** Keeps whole the things whose spec.shard is in `kept` (changed by the test). */
function shardRetention(kept: Set<string>): Retention<Thing> {
  return { tag: (t) => t.spec.shard, whole: (tag) => kept.has(tag) };
}

const indexers = { secret: (t: { spec: { secret: string } }) => [t.spec.secret] };

describe('Store retention', () => {
  it('keeps whole only what the policy admits; the rest is packed, deflated against the first packed one', () => {
    const kept = new Set(['mine']);
    const store = new Store<Thing>(indexers, shardRetention(kept));
    store.put(thing('a', 1, 'mine'));
    store.put(thing('b', 2, 'theirs'));
    assert.deepEqual(store.retentionStats().whole, 1);
    assert.deepEqual(store.retentionStats().packed, 1);
    const first = store.retentionStats().packedBytes;
    const json = JSON.stringify(thing('c', 3, 'theirs'));
    store.put(thing('c', 3, 'theirs'));
    const second = store.retentionStats().packedBytes - first;
    assert.ok(second > 0 && second < json.length / 3, `${second} bytes for ${json.length} of JSON`);
    assert.deepEqual(store.get('ns', 'c'), thing('c', 3, 'theirs'));
  });

  it('an object that packs poorly against the current dictionary becomes the next one', () => {
    const store = new Store<Thing>(indexers, shardRetention(new Set()));
    store.put(thing('a', 1, 'x'));
    // Grown: a long text the first object's JSON knows nothing of, and that does not compress by
    // itself: only a dictionary that holds it packs it small.
    const note = Array.from({ length: 80 }, (_, i) => ((i * 7919) % 10007).toString(36)).join('-');
    const grown = (name: string, rv: number): Thing => ({
      ...thing(name, rv, 'x'),
      metadata: {
        name,
        namespace: 'ns',
        labels: { note },
      },
    });
    store.put(grown('b', 2));
    const before = store.retentionStats().packedBytes;
    store.put(grown('c', 3));
    const json = JSON.stringify(grown('c', 3));
    const third = store.retentionStats().packedBytes - before;
    assert.ok(third < json.length / 4, `${third} bytes for ${json.length} of JSON: packed against b`);
    for (const name of ['a', 'b', 'c']) assert.equal(store.get('ns', name)?.metadata.name, name);
    assert.deepEqual(store.get('ns', 'c'), grown('c', 3));
  });

  it('answers every read of a packed object as for a whole one (frozen, equal)', () => {
    const kept = new Set(['mine']);
    const packed = new Store<Thing>(indexers, shardRetention(kept));
    const plain = new Store<Thing>(indexers);
    for (const s of [packed, plain]) {
      s.put(thing('a', 1, 'mine', 's1', 'db'));
      s.put(thing('b', 2, 'theirs', 's1', 'web'));
      s.put(thing('c', 3, 'theirs', 's2', 'db'));
    }
    assert.equal(packed.retentionStats().packed, 2);
    assert.deepEqual(packed.get('ns', 'b'), thing('b', 2, 'theirs', 's1', 'web'));
    assert.ok(Object.isFrozen(packed.get('ns', 'b')?.spec.nested.list));
    assert.deepEqual(names(packed.list()), names(plain.list()));
    assert.deepEqual(names(packed.list('ns', 'tier=db')), ['a', 'c']);
    assert.deepEqual(names(packed.byIndex('secret', 's1')), ['a', 'b']);
    assert.deepEqual(packed.indexValues('secret').sort(), ['s1', 's2']);
    assert.deepEqual(packed.keys().sort(), ['ns/a', 'ns/b', 'ns/c']);
    assert.equal(packed.resourceVersionOf('ns/b'), '2');
    assert.equal(packed.tagOf('ns/b'), 'theirs');
    assert.equal(packed.tagOf('ns/a'), 'mine');
    assert.equal(plain.tagOf('ns/a'), undefined, 'no tags without a policy');
    assert.deepEqual(names(packed.listWhole()), ['a']);
    assert.deepEqual(names(plain.listWhole()), ['a', 'b', 'c']);
  });

  it('hands back the previous version of a packed object on update and delete, and re-indexes it', () => {
    const store = new Store<Thing>(indexers, shardRetention(new Set()));
    store.put(thing('a', 1, 'theirs', 's1'));
    const { previous, current } = store.put(thing('a', 2, 'theirs', 's2'));
    assert.deepEqual(previous, thing('a', 1, 'theirs', 's1'));
    assert.deepEqual(current, thing('a', 2, 'theirs', 's2'));
    assert.deepEqual(store.byIndex('secret', 's1'), []);
    assert.deepEqual(names(store.byIndex('secret', 's2')), ['a']);
    assert.deepEqual(store.delete('ns/a'), thing('a', 2, 'theirs', 's2'));
    assert.deepEqual(store.indexValues('secret'), []);
    assert.deepEqual(store.retentionStats(), { whole: 0, packed: 0, packedBytes: 0 });
  });

  it('retain() applies the policy anew: what it now admits is parsed back, what it left is packed', () => {
    const kept = new Set(['x']);
    const store = new Store<Thing>(indexers, shardRetention(kept));
    store.put(thing('a', 1, 'x'));
    store.put(thing('b', 2, 'y'));
    store.put(thing('c', 3, 'y'));
    assert.deepEqual(store.retain(), { packed: 0, unpacked: 0 }, 'nothing changed');
    kept.delete('x');
    kept.add('y');
    assert.deepEqual(store.retain(), { packed: 1, unpacked: 2 });
    assert.deepEqual(names(store.listWhole()), ['b', 'c']);
    assert.equal(store.retentionStats().packed, 1);
    assert.deepEqual(store.get('ns', 'a'), thing('a', 1, 'x'));
    assert.deepEqual(store.get('ns', 'c'), thing('c', 3, 'y'));
    // A whole object is the same object on every read (controllers memoize per object).
    assert.equal(store.get('ns', 'c'), store.get('ns', 'c'));
  });
});
