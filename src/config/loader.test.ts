import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, parseConfig } from './loader.ts';
import type { FeatureSpec } from '../engine/contract.ts';
import { FeatureRegistry } from '../features/registry.ts';
import { registerBuiltinFeatures } from '../features/index.ts';

const registry = registerBuiltinFeatures(new FeatureRegistry());
const parse = (yaml: string) => parseConfig(yaml, 'monitor.yaml', registry);

/** A cluster's enabled features by name, with their intervals. */
function intervals(features: Readonly<Record<string, FeatureSpec>> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(features ?? {}).map(([n, f]) => [n, f.intervalSeconds]));
}

test('a minimal config gets defaults: v3, member discovery, healthy and alarm every 30 s, quota every 60 s, topology every 30 s, certificates hourly, performance every 30 s', async () => {
  const config = await parse('clusters:\n  - name: prod-a\n    endpoints: [http://127.0.0.1:2379]\n');
  const [c] = config.clusters;
  assert.equal(c?.id, 'prod-a');
  assert.equal(c?.storageBackend, 'v3');
  assert.equal(c?.discoverMembers, true);
  assert.deepEqual(c?.client, { dialTimeoutMs: 5000, requestTimeoutMs: 5000 });
  assert.deepEqual(intervals(c?.features), {
    healthy: 30,
    alarm: 30,
    quota: 60,
    topology: 30,
    certificates: 3600,
    performance: 30,
  });
  assert.equal(c?.features.alarm?.feature, registry.get('alarm'));
});

test('cluster features override the defaults field by field', async () => {
  const config = await parse(`
defaults:
  requestTimeoutSeconds: 3
  features:
    healthy: {intervalSeconds: 10}
    alarm: {intervalSeconds: 60}
clusters:
  - name: a
    endpoints: [http://127.0.0.1:2379]
    features:
      alarm: {enabled: false}
`);
  // alarm disabled: not in the spec at all.
  assert.deepEqual(intervals(config.clusters[0]?.features), { healthy: 10 });
  assert.equal(config.clusters[0]?.client.requestTimeoutMs, 3000);
});

test('cluster labels: the defaults, overridden per cluster; none when not set', async () => {
  const config = await parse(`
defaults:
  labels: {env: prod, region: eu-1}
clusters:
  - name: a
    endpoints: [http://127.0.0.1:2379]
    labels: {region: us-2, team: storage}
  - name: b
    endpoints: [http://127.0.0.1:2379]
`);
  assert.deepEqual(config.clusters[0]?.labels, { env: 'prod', region: 'us-2', team: 'storage' });
  assert.deepEqual(config.clusters[1]?.labels, { env: 'prod', region: 'eu-1' });
  const bare = await parse('clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n');
  assert.deepEqual(bare.clusters[0]?.labels, {});
});

test("a feature's options are parsed once, at load time: the spec holds the parsed options", async () => {
  const config = await parse(`
clusters:
  - name: a
    endpoints: [http://127.0.0.1:2379]
    features:
      request: {options: {prefixes: [/registry]}}
`);
  const request = config.clusters[0]?.features.request;
  assert.ok(request !== undefined);
  assert.equal(request.feature, registry.get('request'));
  // Defaults applied and the prefix normalised by the feature's parseOptions.
  assert.deepEqual(request.options, registry.get('request').parseOptions({ prefixes: ['/registry'] }));
  assert.deepEqual((request.options as { prefixes: string[] }).prefixes, ['/registry/']);
});

/** Bad input -> the exact message a user sees (blackbox_exporter style). */
const BAD: [string, string][] = [
  [
    'clusters: [',
    'config monitor.yaml: invalid YAML (line 1, column 12): Flow sequence in block collection must be sufficiently indented and end with a ]',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    endpoint: x\n',
    'config monitor.yaml: unknown field clusters[0].endpoint',
  ],
  ['clusterz: []\n', 'config monitor.yaml: clusters: missing required field; unknown field clusterz'],
  [
    'clusters:\n  - name: a\n    endpoints: []\n',
    'config monitor.yaml: clusters[0].endpoints: expected array length to be greater or equal to 1',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [127.0.0.1:2379]\n',
    'config monitor.yaml: clusters[0].endpoints[0]: endpoint "127.0.0.1:2379" has no scheme: write http://127.0.0.1:2379 or https://127.0.0.1:2379',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1]\n',
    'config monitor.yaml: clusters[0].endpoints[0]: endpoint "http://127.0.0.1" has no port: write http://127.0.0.1:2379',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    features: {healthy: {intervalSeconds: 0}}\n',
    'config monitor.yaml: clusters[0].features.healthy.intervalSeconds: expected integer to be greater or equal to 1',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    features: {healthy: {intervalSeconds: -5}}\n',
    'config monitor.yaml: clusters[0].features.healthy.intervalSeconds: expected integer to be greater or equal to 1',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    features: {bogus: {}}\n',
    `config monitor.yaml: clusters[0].features.bogus: unknown feature "bogus" (known: ${registry.names().join(', ')})`,
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    features: {healthy: {options: {x: 1}}}\n',
    'config monitor.yaml: clusters[0].features.healthy.options: options of feature healthy: unknown field x',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    labels: {endpoint: x, 9lives: y}\n',
    'config monitor.yaml: clusters[0].labels.endpoint: "endpoint" is a label of inspection_etcd_member_info: choose another name; clusters[0].labels.9lives: "9lives" is not a Prometheus label name (letters, digits and "_", not starting with a digit)',
  ],
  [
    'defaults:\n  labels: {clusterName: x, __name: y}\nclusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n',
    'config monitor.yaml: clusters[0].labels.clusterName: "clusterName" is set from the cluster\'s name; clusters[0].labels.__name: "__name" starts with "__", which Prometheus reserves',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    storageBackend: v2\n    features: {request: {}}\n',
    'config monitor.yaml: clusters[0].features.request: feature request does not support the v2 storage backend (supported: v3)',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    features: {healthy: {enabled: false, options: {x: 1}}}\n',
    'config monitor.yaml: clusters[0].features.healthy.options: options of feature healthy: unknown field x',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n',
    'config monitor.yaml: clusters[1].name: duplicate cluster name "a"',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    storageBackend: v4\n',
    'config monitor.yaml: clusters[0].storageBackend: expected union value',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    auth: {username: root, password: x}\n',
    'config monitor.yaml: clusters[0].auth.passwordFile: missing required field; unknown field clusters[0].auth.password',
  ],
  [
    'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    auth: {username: root, passwordFile: /nonexistent/pw}\n',
    'config monitor.yaml: clusters[0].auth.passwordFile: cannot read password file /nonexistent/pw: ENOENT',
  ],
];

test('bad config files are rejected with a message naming the file and the field', async () => {
  for (const [yaml, message] of BAD) {
    await assert.rejects(parse(yaml), (err: Error) => {
      assert.equal(err.message, message, yaml);
      return true;
    });
  }
});

test('TLS and password files are read at load time; a bad certificate names its file and the password never shows', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'pw'), 'hunter2\n');
  await writeFile(join(dir, 'ca.pem'), 'not a certificate');
  const file = join(dir, 'monitor.yaml');
  await writeFile(
    file,
    `clusters:\n  - name: a\n    endpoints: [https://127.0.0.1:2379]\n    auth: {username: root, passwordFile: ${join(dir, 'pw')}}\n`,
  );
  const ok = await loadConfigFile(file, registry);
  assert.equal(ok.clusters[0]?.client.auth?.password.reveal(), 'hunter2');
  assert.equal(JSON.stringify(ok).includes('hunter2'), false, 'password never serialised');

  await writeFile(
    file,
    `clusters:\n  - name: a\n    endpoints: [https://127.0.0.1:2379]\n    tls: {caFile: ${join(dir, 'ca.pem')}}\n`,
  );
  await assert.rejects(loadConfigFile(file, registry), (err: Error) => {
    assert.match(
      err.message,
      new RegExp(`^config ${file}: clusters\\[0\\]\\.tls: .*${join(dir, 'ca.pem').replace(/[.]/g, '\\.')}`),
    );
    return true;
  });
  await assert.rejects(
    loadConfigFile(join(dir, 'missing.yaml'), registry),
    /config .*missing\.yaml: cannot read: ENOENT/,
  );
});
