/**
 * A password file that is not UTF-8 (issue 13, point 5): its bytes are the
 * password, as etcdctl sends what it is given and etcd compares bytes, so a
 * Latin-1 file authenticates against a user whose password was set with the
 * same bytes, and the UTF-8 spelling of the same word does not. Real etcd,
 * the real CLI and the daemon's config file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { BIN, cli, runToEnd } from '../support/cli.ts';
import { DaemonProcess } from '../support/daemon-process.ts';
import { eventually } from '../../src/testing/wait.ts';
import { family, scrape } from '../support/scrape.ts';
import { hostPort } from '../support/specs.ts';

// "pässwörd" in Latin-1: 0xE4 and 0xF6 alone are not UTF-8.
const LATIN1 = Buffer.from('pässwörd', 'latin1');

for (const version of ['3.4', '3.6'] as const) {
  describe(`a Latin-1 password file on etcd ${version}`, () => {
    let etcd: TestCluster;
    let dir: string;

    before(async () => {
      etcd = await startEtcdCluster({
        version,
        members: 1,
        auth: true,
        name: `pwbytes${version.replace('.', '')}`,
      });
      dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-pwbytes-'));
      // The user's password set byte for byte: on etcdctl's command line through
      // bash (its stdin reader turns bytes that are not UTF-8 into U+FFFD).
      const added = spawnSync(
        'bash',
        [
          '-c',
          `exec "$0" --endpoints="$1" user add "latin:$(printf 'p\\xe4ssw\\xf6rd')"`,
          etcd.binaries.etcdctl,
          etcd.endpoints[0]!,
        ],
        {
          env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_USER: `root:${etcd.auth!.password}` },
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      assert.equal(added.status, 0, added.stderr);
      await writeFile(join(dir, 'latin1'), Buffer.concat([LATIN1, Buffer.from('\n')]));
      await writeFile(join(dir, 'utf8'), 'pässwörd\n');
    });
    after(async () => {
      await etcd?.stop();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    const inspect = (file: string) =>
      cli([
        'inspect',
        '--endpoints',
        etcd.endpoints[0]!,
        '--user',
        'latin',
        '--password-file',
        join(dir, file),
        '--features',
        'healthy',
        '-o',
        'json',
      ]);

    test('inspect authenticates with the file as it is', async () => {
      const r = await inspect('latin1');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout) as { members: { healthy: boolean | null }[] };
      assert.equal(report.members[0]!.healthy, true);
    });

    /** `inspect` with `assignments` (NAME=$(printf ...)) put in its environment by bash, as raw bytes. */
    const inspectWithEnv = (assignments: string, args: readonly string[]) =>
      runToEnd('bash', [
        '-c',
        `${assignments} exec "$0" "$@"`,
        process.execPath,
        BIN,
        'inspect',
        '--endpoints',
        etcd.endpoints[0]!,
        '--features',
        'healthy',
        '-o',
        'json',
        ...args,
      ]);

    test('inspect authenticates with $ETCDCTL_PASSWORD and $ETCDCTL_USER=user:password holding the bytes', async () => {
      const bytes = `"$(printf 'p\\xe4ssw\\xf6rd')"`;
      for (const [assignments, args] of [
        [`ETCDCTL_PASSWORD=${bytes}`, ['--user', 'latin']],
        [`ETCDCTL_USER=latin:${bytes}`, []],
      ] as const) {
        const r = await inspectWithEnv(assignments, args);
        assert.equal(r.code, 0, `${assignments}: ${r.stdout}${r.stderr}`);
        const report = JSON.parse(r.stdout) as { members: { healthy: boolean | null }[] };
        assert.equal(report.members[0]!.healthy, true, assignments);
      }
    });

    test('the UTF-8 spelling of the same word is another password: refused, said as the monitor’s', async () => {
      const r = await inspect('utf8');
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout) as { members: { healthy: boolean | null }[]; problems: string[] };
      assert.equal(report.members[0]!.healthy, null);
      assert.match(
        report.problems.join('\n'),
        /cannot authenticate as user latin: wrong user name or password/,
      );
    });

    test('run: the config file’s passwordFile authenticates byte for byte', async () => {
      const config = join(dir, 'monitor.yaml');
      await writeFile(
        config,
        [
          'clusters:',
          `  - name: latin`,
          `    endpoints: [${etcd.endpoints[0]}]`,
          `    auth: {username: latin, passwordFile: ${join(dir, 'latin1')}}`,
          '    features: {healthy: {intervalSeconds: 2}}',
          '',
        ].join('\n'),
      );
      const daemon = new DaemonProcess(['--config', config, '--listen', '127.0.0.1:0']);
      try {
        await daemon.waitLog(/"msg":"etcd-monitor running"/, 'daemon running');
        const address = /"address":"(127\.0\.0\.1:\d+)"/.exec(daemon.logs)![1]!;
        const endpoint = hostPort(etcd.endpoints[0]!);
        // A round can time out on a loaded machine (healthy 0 then): wait for one that answered.
        const metrics = await eventually(
          async () => {
            const m = await scrape(address);
            return m.get(`inspection_etcd_endpoint_healthy{clusterName="latin",endpoint="${endpoint}"}`) === 1
              ? m
              : undefined;
          },
          'the member inspected healthy with the Latin-1 password',
          60_000,
        );
        assert.deepEqual(
          [...family(metrics, 'inspection_monitor_access_error')],
          [[`{clusterName="latin",endpoint="${endpoint}",reason="auth"}`, 0]],
        );
      } finally {
        daemon.signal('SIGTERM');
        await daemon.exited;
      }
    });
  });
}
