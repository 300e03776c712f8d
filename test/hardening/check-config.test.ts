/**
 * --check-config tells the whole truth (issue 13, point 5): every config that
 * `run` would refuse or silently misread is refused by both, with the field
 * named (one loader shared by both).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli } from '../support/cli.ts';
import { suiteTempDir } from '../../src/testing/temp-dir.ts';

const EP = 'http://127.0.0.1:2379';

describe('configs that looked valid but were not', () => {
  const dir = suiteTempDir('etcd-monitor-check-');

  const cases: [string, string, RegExp][] = [
    ['listen garbage', `listen: garbage\nclusters: []\n`, /listen: "garbage" is not HOST:PORT/],
    [
      'listen port out of range',
      `listen: 127.0.0.1:70000\nclusters: []\n`,
      /listen: "127\.0\.0\.1:70000" is not HOST:PORT/,
    ],
    [
      'probeListen garbage',
      `probeListen: garbage\nclusters: []\n`,
      /probeListen: "garbage" is not HOST:PORT/,
    ],
    [
      'probeListen on the port of listen',
      `listen: 0.0.0.0:19400\nprobeListen: 127.0.0.1:19400\nclusters: []\n`,
      /probeListen: "127\.0\.0\.1:19400" takes the port of listen: "0\.0\.0\.0:19400": give the probes a port of their own/,
    ],
    [
      'v2 backend with the request feature',
      `clusters:\n  - {name: a, endpoints: [${EP}], storageBackend: v2, features: {request: {}}}\n`,
      /clusters\[0\]\.features\.request: .*v2/,
    ],
    [
      'endpoint port 0',
      `clusters:\n  - {name: a, endpoints: [http://127.0.0.1:0]}\n`,
      /clusters\[0\]\.endpoints\[0\]: .*port 0/,
    ],
    [
      'a feature named __proto__',
      `clusters:\n  - {name: a, endpoints: [${EP}], features: {__proto__: {intervalSeconds: 5}}}\n`,
      /clusters\[0\]\.features\.__proto__/,
    ],
    [
      'tls on http:// endpoints',
      `clusters:\n  - {name: a, endpoints: [${EP}], tls: {insecureSkipVerify: true}}\n`,
      /clusters\[0\]\.tls: given, but clusters\[0\]\.endpoints\[0\] \(http:\/\/127\.0\.0\.1:2379\) is http:\/\//,
    ],
  ];
  for (const [name, yaml, message] of cases) {
    test(`${name}: refused by --check-config and by run alike`, async () => {
      const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
      await writeFile(file, yaml);
      for (const mode of [['--check-config'], ['--listen', '127.0.0.1:0']]) {
        const r = await cli(['run', '--config', file, ...mode]);
        assert.equal(r.code, 2, `${mode[0]}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, message);
        assert.doesNotMatch(r.stdout, /is valid/);
      }
    });
  }
});

describe('flags that run would refuse with a valid file', () => {
  const dir = suiteTempDir('etcd-monitor-check-flags-');

  const cases: [string, string[], RegExp][] = [
    [
      '--probe-listen on the port of --listen',
      ['--listen', '0.0.0.0:19400', '--probe-listen', '127.0.0.1:19400'],
      /--probe-listen "127\.0\.0\.1:19400" takes the port of --listen "0\.0\.0\.0:19400"/,
    ],
    ['--probe-listen garbage', ['--probe-listen', 'garbage'], /--probe-listen "garbage" is not HOST:PORT/],
    ['--listen garbage', ['--listen', 'garbage'], /--listen "garbage" is not HOST:PORT/],
    ['a shard not of --total-shards', ['--shard', '3', '--total-shards', '2'], /--shard 3 is not a shard/],
  ];
  for (const [name, flags, message] of cases) {
    test(`${name}: refused by --check-config and by run alike`, async () => {
      const file = join(dir, 'ok.yaml');
      await writeFile(file, 'clusters: []\n');
      assert.equal((await cli(['run', '--config', file, '--check-config'])).code, 0);
      for (const mode of [['--check-config'], []]) {
        const r = await cli(['run', '--config', file, ...flags, ...mode]);
        assert.equal(r.code, 2, `${mode[0] ?? 'run'}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, message);
        assert.doesNotMatch(r.stdout, /is valid/);
      }
    });
  }
});
