/**
 * Secrets written where they do not belong (credentials in an endpoint URL,
 * with a wrong or missing scheme) are never echoed, whatever the input path:
 * flags, ETCDCTL_* environment, the config file at --check-config, at start
 * and at a SIGHUP reload (issue 13, point 4).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli } from '../support/cli.ts';
import { DaemonProcess } from '../support/daemon-process.ts';
import { suiteTempDir } from '../../src/testing/temp-dir.ts';

const SECRET = 's3cr3t-Pw/with@signs';
const ENDPOINTS = [
  `root:${SECRET}@127.0.0.1:2379`,
  `etcd://root:${SECRET}@127.0.0.1:2379`,
  `https://root:${SECRET}@127.0.0.1`,
  `http://root:${SECRET}@127.0.0.1:2379/v3`,
];
const leaked = (text: string): boolean => text.includes('s3cr3t') || text.includes('with@signs');

describe('credentials in endpoints are never echoed', () => {
  const dir = suiteTempDir('etcd-monitor-secrets-');

  for (const endpoint of ENDPOINTS) {
    const shown = endpoint.replace(SECRET, '***');
    test(`${shown}: inspect flag and ETCDCTL_ENDPOINTS`, async () => {
      const byFlag = await cli(['inspect', '--endpoints', endpoint]);
      assert.equal(byFlag.code, 2, byFlag.stderr);
      assert.match(byFlag.stderr, /carries credentials/);
      assert.ok(!leaked(byFlag.stdout + byFlag.stderr), byFlag.stderr);
      const byEnv = await cli(['inspect'], 60_000, { ...process.env, ETCDCTL_ENDPOINTS: endpoint });
      assert.equal(byEnv.code, 2, byEnv.stderr);
      assert.ok(!leaked(byEnv.stdout + byEnv.stderr), byEnv.stderr);
    });

    test(`${shown}: config file at --check-config, at start and at reload`, async () => {
      const file = join(dir, 'monitor.yaml');
      const bad = `clusters:\n  - name: a\n    endpoints: ['${endpoint}']\n`;
      await writeFile(file, bad);
      for (const mode of [['--check-config'], ['--listen', '127.0.0.1:0']]) {
        const r = await cli(['run', '--config', file, ...mode]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /clusters\[0\]\.endpoints\[0\]: .*carries credentials/);
        assert.ok(!leaked(r.stdout + r.stderr), r.stderr);
      }
      await writeFile(file, 'clusters: []\n');
      const daemon = new DaemonProcess(['--config', file, '--listen', '127.0.0.1:0']);
      try {
        await daemon.waitLog(/"msg":"etcd-monitor running"/, 'daemon running');
        await writeFile(file, bad);
        daemon.signal('SIGHUP');
        await daemon.waitLog(/config reload failed/, 'reload refused');
        assert.match(daemon.logs, /carries credentials/);
        assert.ok(!leaked(daemon.logs + daemon.stdout), daemon.logs);
      } finally {
        daemon.signal('SIGTERM');
        await daemon.exited;
        await daemon.stop();
      }
    });
  }
});
