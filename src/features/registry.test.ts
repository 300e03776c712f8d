import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FeatureCheck, FeatureRequest, StorageBackend } from '../engine/contract.ts';
import { registerBuiltinFeatures } from './index.ts';
import { FeatureRegistry } from './registry.ts';

const registry = registerBuiltinFeatures(new FeatureRegistry());

/** The problems of a check as "field: message" ('' for the feature itself), or the accepted spec's settings. */
function outcome(
  checked: FeatureCheck,
): string[] | { intervalSeconds: number; timeoutSeconds?: number } | 'disabled' {
  if (!checked.ok) return checked.problems.map((p) => `${p.field}: ${p.message}`);
  if (checked.spec === undefined) return 'disabled';
  const { intervalSeconds, timeoutSeconds } = checked.spec;
  return { intervalSeconds, ...(timeoutSeconds !== undefined && { timeoutSeconds }) };
}

const CASES: [string, string, FeatureRequest, StorageBackend, ReturnType<typeof outcome>][] = [
  ['defaults', 'healthy', {}, 'v3', { intervalSeconds: 30 }],
  [
    'own interval and timeout',
    'alarm',
    { intervalSeconds: 5, timeoutSeconds: 2 },
    'v2',
    { intervalSeconds: 5, timeoutSeconds: 2 },
  ],
  ['disabled', 'healthy', { enabled: false }, 'v3', 'disabled'],
  ['unknown', 'bogus', {}, 'v3', [`: unknown feature "bogus" (known: ${registry.names().join(', ')})`]],
  [
    'unsupported backend',
    'request',
    {},
    'v2',
    [': feature request does not support the v2 storage backend (supported: v3)'],
  ],
  [
    'unsupported backend, disabled: nothing runs, nothing to say',
    'request',
    { enabled: false },
    'v2',
    'disabled',
  ],
  [
    'bad interval and timeout',
    'healthy',
    { intervalSeconds: 0, timeoutSeconds: Number.NaN },
    'v3',
    [
      'intervalSeconds: must be a number of seconds > 0, got 0',
      'timeoutSeconds: must be a number of seconds > 0, got NaN',
    ],
  ],
  [
    'bad options',
    'healthy',
    { options: { x: 1 } },
    'v3',
    ['options: options of feature healthy: unknown field x'],
  ],
  [
    'bad options of a disabled feature are still a mistake worth naming',
    'healthy',
    { enabled: false, options: { x: 1 } },
    'v3',
    ['options: options of feature healthy: unknown field x'],
  ],
  [
    'a feature check of its own',
    'request',
    { options: { prefixes: ['/a', '/a/b'] } },
    'v3',
    [
      'options: options of feature request: prefixes[1]: "/a/b" overlaps prefixes[0] "/a" (a key would be counted twice)',
    ],
  ],
];

test('check: one validator for every adapter, problems naming the field', () => {
  for (const [what, name, request, backend, expected] of CASES)
    assert.deepEqual(outcome(registry.check(name, request, backend)), expected, what);
});

test('check parses the options once: the spec holds what the feature parsed', () => {
  const checked = registry.check('request', { options: { prefixes: ['/registry'] } }, 'v3');
  assert.ok(checked.ok && checked.spec !== undefined);
  assert.equal(checked.spec.feature, registry.get('request'));
  assert.deepEqual((checked.spec.options as { prefixes: string[] }).prefixes, ['/registry/']);
});

test('enable throws the formatted problems for requests that are not user input', () => {
  assert.throws(
    () => registry.enable('healthy', { intervalSeconds: -1 }, 'v3'),
    /^Error: feature healthy\.intervalSeconds: must be a number of seconds > 0, got -1$/,
  );
  assert.equal(
    registry.enable('alarm', {}, 'v3').intervalSeconds,
    registry.get('alarm').defaultIntervalSeconds,
  );
});

test('every feature declares the schema of its options (inspect --set types values by it)', () => {
  for (const feature of registry.list()) {
    const properties = (feature.optionsSchema as { properties?: Record<string, unknown> } | undefined)
      ?.properties;
    if (properties === undefined) {
      assert.throws(
        () => feature.parseOptions({ any: 1 }),
        /unknown field any/,
        `${feature.name} takes no options`,
      );
      continue;
    }
    // parseOptions refuses what is not in the schema and takes the schema defaults alone.
    assert.ok(Object.keys(properties).length > 0, feature.name);
    assert.throws(() => feature.parseOptions({ notAnOption: 1 }), /notAnOption/, feature.name);
    assert.doesNotThrow(() => feature.parseOptions({}), feature.name);
  }
});
