import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashVerdict, reachedVerdict, supersedes, type HashVerdictInput } from './verdict.ts';

const base: HashVerdictInput = {
  target: 100n,
  planUnknown: false,
  note: '',
  mismatch: false,
  hashStates: ['match', 'match', 'match'],
  everyMemberAnswered: true,
};

test('hashVerdict: consistent only when every member answered and every hashed member matched', () => {
  const cases: [string, Partial<HashVerdictInput>, string, string][] = [
    ['all match', {}, 'consistent', ''],
    ['a learner is not hashed', { hashStates: ['match', 'match', 'not-checked'] }, 'consistent', ''],
    ['a mismatch', { mismatch: true, hashStates: ['match', 'match', 'mismatch'] }, 'mismatch', ''],
    [
      'a mismatch stands even when a member did not answer',
      { mismatch: true, hashStates: ['match', 'mismatch', 'unknown'], everyMemberAnswered: false },
      'mismatch',
      '',
    ],
    [
      'a member that could not be hashed',
      { hashStates: ['match', 'match', 'unknown'] },
      'unknown',
      'not every member could be compared',
    ],
    [
      'a member that did not answer Status',
      { hashStates: ['match', 'match'], everyMemberAnswered: false },
      'unknown',
      'not every member could be compared',
    ],
    [
      'nobody hashed',
      { hashStates: ['not-checked', 'not-checked'] },
      'unknown',
      'not every member could be compared',
    ],
    [
      "no target: not checked, with the plan's reason",
      { target: undefined, note: 'hashRevision: none', hashStates: ['not-checked'] },
      'not-checked',
      'hashRevision: none',
    ],
    [
      'the plan could not be made',
      { target: undefined, planUnknown: true, note: 'compact revision unknown' },
      'unknown',
      'compact revision unknown',
    ],
    [
      "unknown keeps the plan's note when it has one",
      { note: 'learners are not hashed', hashStates: ['match', 'unknown'] },
      'unknown',
      'learners are not hashed',
    ],
  ];
  for (const [what, change, hash, note] of cases)
    assert.deepEqual(hashVerdict({ ...base, ...change }), { hash, note }, what);
});

test('reachedVerdict: a finding stands whatever is unknown; otherwise nothing may be unknown', () => {
  assert.equal(reachedVerdict([], []), true);
  assert.equal(reachedVerdict(['hash mismatch'], ['m3: timeout']), true);
  assert.equal(reachedVerdict([], ['m3: timeout']), false);
});

test('supersedes: a newer or mismatching verdict replaces the standing one; an older consistent one does not', () => {
  const standing = { revision: 500n, membership: 'a,b,c' };
  const fresh = (hash: 'consistent' | 'mismatch', revision: bigint, membership = 'a,b,c') => ({
    hash,
    revision,
    membership,
  });
  assert.equal(supersedes(fresh('consistent', 100n), undefined), true, 'nothing stands yet');
  assert.equal(supersedes(fresh('consistent', 500n), standing), true, 'same revision');
  assert.equal(supersedes(fresh('consistent', 900n), standing), true, 'newer');
  assert.equal(supersedes(fresh('consistent', 400n), standing), false, 'an older cached hash');
  assert.equal(supersedes(fresh('mismatch', 400n), standing), true, 'a mismatch anywhere');
  assert.equal(supersedes(fresh('consistent', 400n, 'a,b,d'), standing), true, 'other members');
});
