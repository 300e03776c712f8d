import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ownerOf } from '../engine/shard.ts';
import { parseView, ShardView, viewText } from './shard-view.ts';

const keys = Array.from({ length: 2_000 }, () => randomUUID());

/** What every member runs, given what each acts on and has published (everyone sees every publication). */
function running(
  state: Record<string, { acting: string[]; published: string[] | undefined }>,
): Map<string, string[]> {
  const live = Object.keys(state);
  const views = live.map(
    (me) =>
      [
        me,
        new ShardView(
          me,
          state[me]!.acting,
          state[me]!.published,
          live.filter((m) => m !== me).map((m) => ({ member: m, published: state[m]!.published })),
        ),
      ] as const,
  );
  const byKey = new Map<string, string[]>();
  for (const k of keys)
    byKey.set(
      k,
      views.filter(([, v]) => v.owns(k)).map(([m]) => m),
    );
  return byKey;
}

function assertNoneTwice(run: Map<string, string[]>, step: string): number {
  let covered = 0;
  for (const [k, owners] of run) {
    assert.ok(owners.length <= 1, `${step}: ${k} runs on ${owners.join(' and ')}`);
    covered += owners.length;
  }
  return covered;
}

test('converged: every key runs on exactly the member rendezvous hashing names', () => {
  const all = ['a', 'b', 'c'];
  const run = running({
    a: { acting: all, published: all },
    b: { acting: all, published: all },
    c: { acting: all, published: all },
  });
  for (const [k, owners] of run) assert.deepEqual(owners, [ownerOf(k, all)]);
});

test('a joining member takes keys only once their owner has published the view that gives them away', () => {
  const ab = ['a', 'b'];
  const abj = ['a', 'b', 'j'];
  // j joined and published; a and b have not seen it yet.
  let run = running({
    a: { acting: ab, published: ab },
    b: { acting: ab, published: ab },
    j: { acting: abj, published: abj },
  });
  assert.equal(assertNoneTwice(run, 'j joined'), keys.length, 'nothing stopped yet');
  assert.ok(
    [...run.values()].every((o) => o[0] !== 'j'),
    'j waits',
  );
  // a sees j: it stops what goes to j before publishing (acting narrows first).
  run = running({
    a: { acting: abj, published: ab },
    b: { acting: ab, published: ab },
    j: { acting: abj, published: abj },
  });
  const gap = keys.length - assertNoneTwice(run, 'a narrowed');
  assert.ok(gap > 0, "a's keys for j are released");
  // a published: j takes a's keys (not b's: b still claims its own).
  run = running({
    a: { acting: abj, published: abj },
    b: { acting: ab, published: ab },
    j: { acting: abj, published: abj },
  });
  assertNoneTwice(run, 'a published');
  for (const [k, owners] of run)
    if (ownerOf(k, ab) === 'a' && ownerOf(k, abj) === 'j') assert.deepEqual(owners, ['j'], k);
    else if (ownerOf(k, ab) === 'b') assert.deepEqual(owners, ['b'], k);
  // b too: converged, every key runs once.
  run = running({
    a: { acting: abj, published: abj },
    b: { acting: abj, published: abj },
    j: { acting: abj, published: abj },
  });
  assert.equal(assertNoneTwice(run, 'converged'), keys.length);
});

test('a dead member: the survivors take its keys once they published the view without it', () => {
  const abc = ['a', 'b', 'c'];
  const ab = ['a', 'b'];
  // c is gone (its Lease expired); a and b act without it but still publish the old view.
  let run = running({ a: { acting: ab, published: abc }, b: { acting: ab, published: abc } });
  for (const [k, owners] of run) if (ownerOf(k, abc) === 'c') assert.deepEqual(owners, [], k);
  run = running({ a: { acting: ab, published: ab }, b: { acting: ab, published: abc } });
  assertNoneTwice(run, 'a published');
  run = running({ a: { acting: ab, published: ab }, b: { acting: ab, published: ab } });
  assert.equal(assertNoneTwice(run, 'both published'), keys.length);
});

test('two members whose views disagree on each other never both run a key', () => {
  // a does not see b yet; b sees a (b just joined): whatever they publish, no key runs twice.
  const aStates = [
    { acting: ['a'], published: ['a'] },
    { acting: ['a', 'b'], published: ['a'] },
    { acting: ['a', 'b'], published: ['a', 'b'] },
  ];
  for (const a of aStates)
    for (const bPub of [undefined, ['a', 'b']]) {
      const run = running({ a, b: { acting: ['a', 'b'], published: bPub } });
      assertNoneTwice(run, `a ${JSON.stringify(a)}, b published ${bPub}`);
    }
});

test('a member that may not act (renewal overdue) runs nothing; nor one whose view is not seen back yet', () => {
  const v = new ShardView('a', [], ['a'], []);
  assert.ok(keys.every((k) => !v.owns(k)));
  const w = new ShardView('a', ['a'], undefined, []);
  assert.ok(keys.every((k) => !w.owns(k)));
});

test('views are written sorted and read back; anything else claims nothing', () => {
  assert.equal(viewText(['b', 'a', 'b']), '["a","b"]');
  assert.deepEqual(parseView('["a","b"]'), ['a', 'b']);
  assert.equal(parseView('{"a":1}'), undefined);
  assert.equal(parseView('not json'), undefined);
  assert.equal(parseView(undefined), undefined);
});
