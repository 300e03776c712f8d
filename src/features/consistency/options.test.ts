import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError } from '../../engine/contract.ts';
import { consistencyFeature, keyRange } from './consistency.ts';

test('options: defaults', () => {
  assert.deepEqual(consistencyFeature.parseOptions(undefined), {
    prefix: '',
    hashRevision: 'auto',
    hashTimeoutSeconds: 30,
    hashIdleSeconds: 600,
    v2CountAttempts: 5,
  });
  assert.deepEqual(consistencyFeature.parseOptions({ prefix: '/registry/', hashRevision: 'current' }), {
    prefix: '/registry/',
    hashRevision: 'current',
    hashTimeoutSeconds: 30,
    hashIdleSeconds: 600,
    v2CountAttempts: 5,
  });
});

test('options: bad values are rejected with the field named', () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      { hashRevision: 'latest' },
      'options of feature consistency: hashRevision: expected one of auto, compacted, current, none, got "latest"',
    ],
    [
      { hashRevision: 1 },
      'options of feature consistency: hashRevision: expected one of auto, compacted, current, none, got 1',
    ],
    [
      { hashTimeoutSeconds: 0 },
      'options of feature consistency: hashTimeoutSeconds: expected integer to be greater or equal to 1',
    ],
    [
      { hashIdleSeconds: 0 },
      'options of feature consistency: hashIdleSeconds: expected integer to be greater or equal to 1',
    ],
    [{ hashIdleSeconds: 1.5 }, 'options of feature consistency: hashIdleSeconds: expected integer'],
    [
      { v2CountAttempts: 21 },
      'options of feature consistency: v2CountAttempts: expected integer to be less or equal to 20',
    ],
    [{ prefix: 3 }, 'options of feature consistency: prefix: expected string'],
    [{ hashrevision: 'current' }, 'options of feature consistency: unknown field hashrevision'],
  ];
  for (const [raw, message] of cases) {
    assert.throws(
      () => consistencyFeature.parseOptions(raw),
      (err: unknown) => err instanceof OptionsError && err.message === message,
      JSON.stringify(raw),
    );
  }
});

test('the key range of a prefix; "" is the whole keyspace', () => {
  assert.deepEqual(keyRange(''), { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) });
  assert.deepEqual(keyRange('/registry/'), {
    key: Buffer.from('/registry/'),
    rangeEnd: Buffer.from('/registry0'),
  });
});
