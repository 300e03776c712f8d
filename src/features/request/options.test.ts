import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError } from '../../engine/contract.ts';
import { parseRequestOptions } from './options.ts';

test('defaults: /registry, 200 resource names, pages of 1000 keys, a first round waiting 3 s', () => {
  assert.deepEqual(parseRequestOptions(undefined), {
    prefixes: ['/registry/'],
    maxResourceNames: 200,
    countPageSize: 1000,
    firstRoundWaitMs: 3000,
    sizes: undefined,
  });
  assert.equal(parseRequestOptions({ firstRoundWaitSeconds: 0.5 }).firstRoundWaitMs, 500);
  // The default array is not shared between sessions.
  const a = parseRequestOptions({});
  const b = parseRequestOptions({});
  assert.notEqual(a.prefixes, b.prefixes);
});

test('prefixes are normalised to end with "/"', () => {
  assert.deepEqual(parseRequestOptions({ prefixes: ['/registry/pods', '/app/'] }).prefixes, [
    '/registry/pods/',
    '/app/',
  ]);
});

const cases: [unknown, string][] = [
  [
    { prefixes: ['registry'] },
    'options of feature request: prefixes[0]: "registry" must start with "/" and name a first segment, e.g. "/registry"',
  ],
  [
    { prefixes: ['/'] },
    'options of feature request: prefixes[0]: "/" must start with "/" and name a first segment, e.g. "/registry"',
  ],
  [
    { prefixes: ['//registry'] },
    'options of feature request: prefixes[0]: "//registry" starts with an empty segment',
  ],
  [
    { prefixes: ['/registry', '/registry/pods'] },
    'options of feature request: prefixes[1]: "/registry/pods" overlaps prefixes[0] "/registry" (a key would be counted twice)',
  ],
  [
    { prefixes: ['/a/b/', '/a'] },
    'options of feature request: prefixes[1]: "/a" overlaps prefixes[0] "/a/b/" (a key would be counted twice)',
  ],
  [
    { prefixes: ['/a', '/a/'] },
    'options of feature request: prefixes[1]: "/a/" overlaps prefixes[0] "/a" (a key would be counted twice)',
  ],
  [
    { prefixes: [] },
    'options of feature request: prefixes: expected array length to be greater or equal to 1',
  ],
  [
    { maxResourceNames: 0 },
    'options of feature request: maxResourceNames: expected integer to be greater or equal to 1',
  ],
  [{ countPageSize: 1.5 }, 'options of feature request: countPageSize: expected integer'],
  [
    { firstRoundWaitSeconds: -1 },
    'options of feature request: firstRoundWaitSeconds: expected number to be greater or equal to 0',
  ],
  [{ prefix: '/registry' }, 'options of feature request: unknown field prefix'],
];

for (const [raw, message] of cases) {
  test(`rejects ${JSON.stringify(raw)}`, () => {
    assert.throws(
      () => parseRequestOptions(raw),
      (err: unknown) => {
        assert.ok(err instanceof OptionsError);
        assert.equal(err.message, message);
        return true;
      },
    );
  });
}

test('sizes: off by default; on, with top keys, pace and re-scan interval', () => {
  assert.deepEqual(parseRequestOptions({ sizes: true }).sizes, {
    topKeys: 20,
    scanBytesPerSecond: 8 * 1024 * 1024,
    rescanMinIntervalSeconds: 600,
  });
  assert.equal(parseRequestOptions({ topKeys: 5 }).sizes, undefined);
  assert.throws(
    () => parseRequestOptions({ sizes: true, topKeys: 5000 }),
    (err: unknown) => err instanceof OptionsError && /topKeys/.test(err.message),
  );
  assert.throws(
    () => parseRequestOptions({ sizes: true, scanBytesPerSecond: 1000 }),
    (err: unknown) => err instanceof OptionsError && /scanBytesPerSecond/.test(err.message),
  );
});
