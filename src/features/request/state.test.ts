import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PrefixStream, watchState, type LoopState, type StreamState, type WatchState } from './state.ts';

test('the session state is derived from the loop and every prefix', () => {
  const cases: [LoopState, StreamState[], WatchState][] = [
    ['starting', [], 'starting'],
    ['starting', ['idle', 'idle'], 'starting'],
    ['backoff', ['idle', 'idle'], 'backoff'],
    ['closed', ['idle'], 'closed'],
    ['attempting', ['counting', 'idle'], 'counting'],
    ['attempting', ['connecting', 'counting'], 'counting'],
    ['attempting', ['connecting', 'watching'], 'connecting'],
    ['attempting', ['watching', 'watching'], 'watching'],
    // The bug this replaces: the last prefix to move decided, so these flipped between states.
    ['attempting', ['watching', 'counting'], 'counting'],
    ['attempting', ['counting', 'watching'], 'counting'],
    ['attempting', ['watching', 'connecting'], 'connecting'],
    ['attempting', ['connecting', 'watching'], 'connecting'],
  ];
  for (const [loop, streams, expected] of cases)
    assert.equal(watchState(loop, streams), expected, `${loop} ${streams.join(',')}`);
});

test('two prefixes: one re-counting while the other watches reads counting, in either order of events', () => {
  const a = new PrefixStream();
  const b = new PrefixStream();
  const state = (): WatchState => watchState('attempting', [a.state, b.state]);
  for (const s of [a, b]) {
    s.to('counting');
    s.to('connecting');
  }
  a.to('watching');
  assert.equal(state(), 'connecting');
  b.to('watching');
  assert.equal(state(), 'watching');
  // b's watch is compacted: it re-counts; a's events keep arriving (no transition), the state stays.
  b.to('counting');
  assert.equal(state(), 'counting');
  assert.equal(a.watching, true);
  b.to('connecting');
  assert.equal(state(), 'connecting');
  b.to('watching');
  assert.equal(state(), 'watching');
});

test('a prefix stream refuses a transition the loop never makes', () => {
  const s = new PrefixStream();
  assert.throws(() => s.to('watching'), /no transition from idle to watching/);
  s.to('counting');
  assert.throws(() => s.to('watching'), /no transition from counting to watching/);
});
