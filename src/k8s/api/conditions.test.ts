import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findCondition, sameConditions, setCondition } from './conditions.ts';
import type { Condition } from './meta.ts';

const t0 = new Date('2030-01-01T00:00:00.123Z');
const t1 = new Date('2030-01-01T00:05:00.000Z');

describe('setCondition', () => {
  it('adds a condition with the transition time in whole seconds', () => {
    const list = setCondition(
      undefined,
      {
        type: 'Ready',
        status: 'False',
        reason: 'Pending',
        message: 'not inspected yet',
        observedGeneration: 1,
      },
      t0,
    );
    assert.deepEqual(list, [
      {
        type: 'Ready',
        status: 'False',
        reason: 'Pending',
        message: 'not inspected yet',
        lastTransitionTime: '2030-01-01T00:00:00Z',
        observedGeneration: 1,
      },
    ]);
  });

  it('keeps lastTransitionTime while the status stays, moves it when the status changes', () => {
    const first = setCondition(
      undefined,
      { type: 'Healthy', status: 'True', reason: 'AllMembersHealthy', message: '3/3' },
      t0,
    );
    const same = setCondition(
      first,
      { type: 'Healthy', status: 'True', reason: 'AllMembersHealthy', message: '3/3 (again)' },
      t1,
    );
    assert.equal(same[0]?.lastTransitionTime, '2030-01-01T00:00:00Z');
    assert.equal(same[0]?.message, '3/3 (again)');
    const changed = setCondition(
      same,
      { type: 'Healthy', status: 'False', reason: 'MemberUnhealthy', message: '2/3' },
      t1,
    );
    assert.equal(changed[0]?.lastTransitionTime, '2030-01-01T00:05:00Z');
  });

  it('replaces in place, keeps the order and never touches the input (which may be frozen)', () => {
    const input: readonly Condition[] = Object.freeze([
      Object.freeze({
        type: 'Ready',
        status: 'True',
        reason: 'Ok',
        message: '',
        lastTransitionTime: '2030-01-01T00:00:00Z',
      } as const),
      Object.freeze({
        type: 'Healthy',
        status: 'True',
        reason: 'Ok',
        message: '',
        lastTransitionTime: '2030-01-01T00:00:00Z',
      } as const),
    ]);
    const out = setCondition(input, { type: 'Ready', status: 'False', reason: 'Down', message: 'x' }, t1);
    assert.deepEqual(
      out.map((c) => `${c.type}=${c.status}`),
      ['Ready=False', 'Healthy=True'],
    );
    assert.equal(input[0]?.status, 'True');
    assert.equal(findCondition(out, 'Healthy')?.status, 'True');
    assert.equal(findCondition(out, 'Consistent'), undefined);
  });
});

describe('sameConditions', () => {
  it('compares everything, so an unchanged status is not written again', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Ok', message: 'm' }, t0);
    assert.ok(
      sameConditions(a, setCondition(a, { type: 'Ready', status: 'True', reason: 'Ok', message: 'm' }, t1)),
    );
    assert.ok(
      !sameConditions(
        a,
        setCondition(a, { type: 'Ready', status: 'True', reason: 'Ok', message: 'other' }, t1),
      ),
    );
    assert.ok(!sameConditions(a, undefined));
    assert.ok(sameConditions(undefined, []));
  });
});
