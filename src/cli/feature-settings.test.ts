import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FeatureRequest, FeatureSpec } from '../engine/contract.ts';
import { registerBuiltinFeatures } from '../features/index.ts';
import { FeatureRegistry } from '../features/registry.ts';
import {
  checkInspectFeatures,
  inspectFeatureRequests,
  parseSetting,
  typedSettings,
  type FeatureFlags,
} from './feature-settings.ts';
import { UsageError } from './usage.ts';

const registry = registerBuiltinFeatures(new FeatureRegistry());
const DEFAULTS = new Map<string, FeatureRequest>(
  ['healthy', 'alarm', 'quota', 'certificates'].map((n) => [n, {}]),
);

const typed = (...args: string[]) =>
  Object.fromEntries(
    typedSettings(args.map(parseSetting), (n) => registry.find(n), registry.names()).entries(),
  );

/** The usage error of `fn`, asserting that it is one. */
function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UsageError, `a UsageError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('no usage error');
}

/** The parsed options of a feature of `specs`, as the engine gets them. */
function optionsOf(specs: Readonly<Record<string, FeatureSpec>>, name: string): Record<string, unknown> {
  const spec = specs[name];
  assert.ok(spec !== undefined, `${name} is enabled`);
  return spec.options as Record<string, unknown>;
}

/** Requests and specs of one inspect, checked as `inspect` checks them. */
function inspectOf(flags: Partial<FeatureFlags>, base: ReadonlyMap<string, FeatureRequest> = DEFAULTS) {
  const { requests, settings } = inspectFeatureRequests(base, { set: [], timeout: 30, ...flags }, registry);
  const specs = checkInspectFeatures(requests, settings, registry, 'v3', () => ({
    intervalSeconds: 30,
    timeoutSeconds: 30,
  }));
  return { requests, specs };
}

test('parseSetting splits at the first "=" and the first two dots', () => {
  assert.deepEqual(parseSetting('quota.warningRatio=0.7'), {
    feature: 'quota',
    option: 'warningRatio',
    key: undefined,
    text: '0.7',
  });
  assert.deepEqual(parseSetting('performance.metricsURLs.10.0.0.1:2379=http://h:2381/metrics?a=b'), {
    feature: 'performance',
    option: 'metricsURLs',
    key: '10.0.0.1:2379',
    text: 'http://h:2381/metrics?a=b',
  });
  assert.equal(parseSetting('consistency.prefix=').text, '');
  for (const bad of ['quota.warningRatio', 'quota=0.7', '.x=1', 'quota.=1', 'quota.x.=1'])
    assert.match(
      usageError(() => parseSetting(bad)),
      /expected FEATURE\.OPTION=VALUE/,
      bad,
    );
  // No "=": the whole argument may be a value; nothing of it is echoed.
  assert.equal(usageError(() => parseSetting('s3cr3t-value')).includes('s3cr3t'), false);
});

test('values are typed by the feature schema', () => {
  assert.deepEqual(
    typed(
      'quota.warningRatio=0.7',
      'quota.quotaBytes=1e9',
      'certificates.warningDays=30',
      'latency.writeProbe=true',
      'latency.windowSeconds=5m',
      'latency.probeTimeoutSeconds=500ms',
      'consistency.hashRevision=current',
      'consistency.prefix=/registry/',
      'request.prefixes=/registry/, /events/',
      'performance.metricsURLs.etcd-0=http://10.0.0.1:2381/metrics',
      'performance.metricsURLs.etcd-1=http://10.0.0.2:2381/metrics',
    ),
    {
      quota: { warningRatio: 0.7, quotaBytes: 1e9 },
      certificates: { warningDays: 30 },
      latency: { writeProbe: true, windowSeconds: 300, probeTimeoutSeconds: 0.5 },
      consistency: { hashRevision: 'current', prefix: '/registry/' },
      request: { prefixes: ['/registry/', '/events/'] },
      performance: {
        metricsURLs: { 'etcd-0': 'http://10.0.0.1:2381/metrics', 'etcd-1': 'http://10.0.0.2:2381/metrics' },
      },
    },
  );
  // The last --set of an option wins.
  assert.deepEqual(typed('quota.warningRatio=0.5', 'quota.warningRatio=0.6'), {
    quota: { warningRatio: 0.6 },
  });
});

test('unknown features and options, and values of the wrong type, are named without the value', () => {
  const cases: [string, RegExp][] = [
    ['nosuch.x=1', /^--set nosuch\.x: unknown feature nosuch \(known: alarm, certificates, /],
    ['healthy.x=1', /^--set healthy\.x: feature healthy takes no options$/],
    [
      'quota.warnRatio=1',
      /^--set quota\.warnRatio: feature quota has no option warnRatio \(its options: quotaBytes, warningRatio, /,
    ],
    [
      'quota.warningRatio=high',
      /^--set quota\.warningRatio: expected a number \(the value given is not shown\)$/,
    ],
    ['certificates.warningDays=30d', /^--set certificates\.warningDays: expected a number /],
    ['latency.writeProbe=maybe', /^--set latency\.writeProbe: expected true or false /],
    [
      'latency.windowSeconds=soon',
      /^--set latency\.windowSeconds: expected a whole number of seconds or a duration \(30, 30s, 5m, 500ms\)/,
    ],
    [
      'consistency.hashRevision=latest',
      /^--set consistency\.hashRevision: expected one of auto, compacted, current, none /,
    ],
    [
      'performance.metricsURLs=http://x',
      /^--set performance\.metricsURLs: metricsURLs is a map; give one entry at a time: --set performance\.metricsURLs\.NAME=VALUE$/,
    ],
    ['quota.warningRatio.x=1', /^--set quota\.warningRatio\.x: warningRatio has no entries/],
    ['quota.__proto__=1', /has no option __proto__/],
    [
      'quota.enabled=false',
      /^--set quota\.enabled: enabled is not an option of the feature: --features picks the features that run$/,
    ],
    [
      'quota.timeoutSeconds=5',
      /^--set quota\.timeoutSeconds: timeoutSeconds is not an option of the feature: --timeout is the deadline of the round$/,
    ],
  ];
  for (const [arg, message] of cases) {
    const text = usageError(() => typed(arg));
    assert.match(text, message, arg);
    const value = arg.slice(arg.indexOf('=') + 1);
    if (value.length > 2) assert.equal(text.includes(value), false, `${arg}: the value is not echoed`);
  }
});

test('out-of-range values are refused by the feature validator, naming the flag', () => {
  assert.equal(
    usageError(() => inspectOf({ set: ['quota.warningRatio=1.5'] })),
    '--set quota.warningRatio: options of feature quota: warningRatio: expected number to be less or equal to 1',
  );
  // A rule across options (the feature's own parseOptions), naming the flags of that feature.
  assert.equal(
    usageError(() => inspectOf({ set: ['certificates.criticalDays=40'] })),
    '--set certificates.criticalDays: options of feature certificates: criticalDays (40) must not exceed warningDays (30)',
  );
  assert.match(
    usageError(() => inspectOf({ set: ['latency.windowSeconds=1.5s'] })),
    /^--set latency\.windowSeconds: options of feature latency: windowSeconds: expected integer$/,
  );
});

test('a string value a feature would quote back is not echoed (it may be a URL with credentials)', () => {
  const url = 'not a url with s3cr3t';
  const text = usageError(() => inspectOf({ set: [`performance.metricsURLs.etcd-0=${url}`] }));
  assert.match(
    text,
    /^--set performance\.metricsURLs\.etcd-0: .*metricsURLs\.etcd-0: \(value not shown\) is not a URL$/,
  );
  assert.equal(text.includes('s3cr3t'), false);
  const prefix = usageError(() => inspectOf({ set: ['request.prefixes=registry-t0ken'] }));
  assert.equal(prefix.includes('t0ken'), false, prefix);
  assert.match(prefix, /must start with "\/"/);
});

test('--set turns its feature on; with --features it must be listed there', () => {
  const on = inspectOf({ set: ['latency.quantile=0.9'] });
  assert.deepEqual([...on.requests.keys()], ['healthy', 'alarm', 'quota', 'certificates', 'latency']);
  assert.equal(optionsOf(on.specs, 'latency').quantile, 0.9);
  assert.equal(
    usageError(() => inspectOf({ features: 'healthy', set: ['quota.warningRatio=0.5'] })),
    '--set quota.warningRatio: feature quota is not in --features healthy; add it there (--features healthy,quota) or leave the --set out',
  );
  const listed = inspectOf({ features: 'healthy,quota', set: ['quota.warningRatio=0.5'] });
  assert.deepEqual(Object.keys(listed.specs), ['healthy', 'quota']);
  assert.equal(optionsOf(listed.specs, 'quota').warningRatio, 0.5);
});

test('the base options (a cluster of the config file) are refined, not replaced; disabled ones stay off', () => {
  const base = new Map<string, FeatureRequest>([
    ['quota', { intervalSeconds: 60, options: { warningRatio: 0.5, criticalRatio: 0.6 } }],
    ['latency', { enabled: false, options: { quantile: 0.9 } }],
  ]);
  const { requests, specs } = inspectOf({ set: ['quota.criticalRatio=0.8'] }, base);
  assert.deepEqual([...requests.keys()], ['quota']);
  assert.deepEqual(requests.get('quota'), {
    enabled: true,
    intervalSeconds: 60,
    options: { warningRatio: 0.5, criticalRatio: 0.8 },
  });
  assert.equal(optionsOf(specs, 'quota').warningRatio, 0.5);
  // A --set of a feature the file turns off turns it on, with the file's options under it.
  const latency = inspectOf({ set: ['latency.minSamples=1'] }, base);
  assert.deepEqual(latency.requests.get('latency')?.options, { quantile: 0.9, minSamples: 1 });
});

test('--keyspace-sizes adds the request feature with sizes; a --set saying otherwise is refused', () => {
  const { specs } = inspectOf({ features: 'healthy', keyspaceSizes: true, set: ['request.topKeys=5'] });
  assert.deepEqual(Object.keys(specs), ['healthy', 'request']);
  // The first round waits for the scan until the deadline, less what reporting needs.
  assert.equal(optionsOf(specs, 'request').firstRoundWaitMs, (30 - 2) * 1000);
  assert.deepEqual(optionsOf(specs, 'request').sizes, {
    topKeys: 5,
    scanBytesPerSecond: 8 * 1024 * 1024,
    rescanMinIntervalSeconds: 600,
  });
  // The request feature without sizes waits for its key count the same way; a --set of the wait wins.
  const counts = inspectOf({ features: 'request', timeout: 10 }).specs;
  assert.equal(optionsOf(counts, 'request').firstRoundWaitMs, 8000);
  const own = inspectOf({ keyspaceSizes: true, set: ['request.firstRoundWaitSeconds=1'] }).specs;
  assert.equal(optionsOf(own, 'request').firstRoundWaitMs, 1000);
  assert.match(
    usageError(() => inspectOf({ keyspaceSizes: true, set: ['request.sizes=false'] })),
    /contradict/,
  );
  assert.equal(
    usageError(() => inspectOf({ features: ' , ' })),
    '--features: no feature given',
  );
});
