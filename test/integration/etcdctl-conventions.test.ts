/**
 * `inspect` takes what etcdctl users type by habit (issue 8 point 4):
 * -w/--write-out, endpoints without a scheme, ETCDCTL_* variables (a flag
 * wins over its variable), NO_COLOR; and the listen-address flag is named
 * alike on every serving command. On real etcd clusters.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/cluster.ts';
import { BIN, cli } from '../support/cli.ts';
import { hostPort } from '../support/specs.ts';

const ESC = '\x1b[';

describe('inspect with etcdctl conventions', () => {
  let secure: TestCluster; // TLS with client certificates, auth on
  let plain: TestCluster;
  let dir: string;
  before(async () => {
    [secure, plain] = await Promise.all([
      startEtcdCluster({ version: '3.6', members: 1, tls: true, auth: true, name: 'ctlsecure' }),
      startEtcdCluster({ version: '3.6', members: 1, name: 'ctlplain' }),
    ]);
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-etcdctl-'));
    await writeFile(join(dir, 'pw'), `${secure.auth!.password}\n`);
  });
  after(async () => {
    await Promise.all([secure?.stop(), plain?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** Everything etcdctl would take from its environment for the secure cluster. */
  const secureEnv = (): Record<string, string> => ({
    ETCDCTL_ENDPOINTS: hostPort(secure.endpoints[0]!),
    ETCDCTL_CACERT: secure.tls!.caFile,
    ETCDCTL_CERT: secure.tls!.certFile,
    ETCDCTL_KEY: secure.tls!.keyFile,
    ETCDCTL_USER: 'root',
    ETCDCTL_PASSWORD: secure.auth!.password,
    ETCDCTL_DIAL_TIMEOUT: '3s',
    ETCDCTL_COMMAND_TIMEOUT: '4s',
  });
  const features = ['--features', 'healthy,alarm'];
  /** `etcd-monitor inspect` of the healthy and alarm features, written out as JSON with etcdctl's -w. */
  const inspectJson = (args: readonly string[], env: Record<string, string> = {}) =>
    cli(['inspect', ...features, '-w', 'json', ...args], 60_000, env);

  test('-w json and --write-out table are -o json and -o table; -w with -o is a usage error', async () => {
    const endpoint = ['--endpoints', plain.endpoints[0]!, ...features];
    const viaW = await cli(['inspect', ...endpoint, '-w', 'json']);
    assert.equal(viaW.code, 0, viaW.stderr);
    const report = JSON.parse(viaW.stdout) as { ok: boolean; members: { endpoint: string }[] };
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.members.map((m) => m.endpoint),
      [hostPort(plain.endpoints[0]!)],
    );
    const table = await cli(['inspect', ...endpoint, '--write-out', 'table']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ENDPOINT +ID/m);
    const both = await cli(['inspect', ...endpoint, '-w', 'json', '-o', 'table']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--write-out.*cannot be used with.*--output/);
    const bad = await cli(['inspect', ...endpoint, '-w', 'yaml']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Allowed choices are table, json/);
  });

  test('endpoints without a scheme: http without TLS flags, https with them', async () => {
    const http = await inspectJson(['--endpoints', hostPort(plain.endpoints[0]!)]);
    assert.equal(http.code, 0, http.stdout + http.stderr);
    const https = await inspectJson(['--endpoints', hostPort(secure.endpoints[0]!)], {
      ...secureEnv(),
      ETCDCTL_ENDPOINTS: '',
    });
    assert.equal(https.code, 0, https.stdout + https.stderr);
    // The same host:port without TLS material is tried over http, which a TLS member refuses.
    const noTls = await inspectJson(['--endpoints', hostPort(secure.endpoints[0]!), '--dial-timeout', '2s']);
    assert.equal(noTls.code, 1, noTls.stdout);
  });

  test('ETCDCTL_* variables alone inspect the secure cluster; the password never shows', async () => {
    const r = await inspectJson([], secureEnv());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((JSON.parse(r.stdout) as { ok: boolean }).ok, true);
    assert.equal((r.stdout + r.stderr).includes(secure.auth!.password), false);
    // etcdctl's user:password form, from the environment only.
    const { ETCDCTL_PASSWORD: _p, ...withoutPassword } = secureEnv();
    const inline = await inspectJson([], {
      ...withoutPassword,
      ETCDCTL_USER: `root:${secure.auth!.password}`,
    });
    assert.equal(inline.code, 0, inline.stdout + inline.stderr);
  });

  test('a flag wins over its variable', async () => {
    const env = {
      ...secureEnv(),
      ETCDCTL_ENDPOINTS: '127.0.0.1:1',
      ETCDCTL_PASSWORD: 'wrong-password',
      ETCDCTL_CACERT: secure.tls!.otherCaFile,
      ETCDCTL_DIAL_TIMEOUT: 'not-a-duration',
    };
    const r = await inspectJson(
      [
        '--endpoints',
        hostPort(secure.endpoints[0]!),
        '--password-file',
        join(dir, 'pw'),
        '--cacert',
        secure.tls!.caFile,
        '--dial-timeout',
        '3',
      ],
      env,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // Without the flags, the variables are what counts: a wrong password is reported.
    const wrong = await inspectJson([], {
      ...secureEnv(),
      ETCDCTL_PASSWORD: 'wrong-password',
    });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /auth/i);
    assert.equal(wrong.stdout.includes('wrong-password'), false);
  });

  test('bad variables are usage errors that name the variable', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ ETCDCTL_DIAL_TIMEOUT: 'soon' }, /--dial-timeout.*ETCDCTL_DIAL_TIMEOUT/],
      [{ ETCDCTL_COMMAND_TIMEOUT: '0s' }, /--command-timeout.*ETCDCTL_COMMAND_TIMEOUT/],
      [{ ETCDCTL_INSECURE_SKIP_TLS_VERIFY: 'maybe' }, /ETCDCTL_INSECURE_SKIP_TLS_VERIFY/],
      [{ ETCDCTL_USER: 'root' }, /--user root: no password/],
    ];
    for (const [env, message] of cases) {
      const r = await cli(['inspect', '--endpoints', plain.endpoints[0]!], 60_000, env);
      assert.equal(r.code, 2, `${JSON.stringify(env)}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  test('ETCDCTL_INSECURE_SKIP_TLS_VERIFY=true skips verification; =false keeps it', async () => {
    const { ETCDCTL_CACERT: _ca, ...env } = secureEnv();
    const skip = await inspectJson([], {
      ...env,
      ETCDCTL_INSECURE_SKIP_TLS_VERIFY: 'true',
    });
    assert.equal(skip.code, 0, skip.stdout + skip.stderr);
    const verify = await inspectJson([], {
      ...env,
      ETCDCTL_INSECURE_SKIP_TLS_VERIFY: 'false',
      ETCDCTL_CACERT: secure.tls!.otherCaFile,
    });
    assert.equal(verify.code, 1);
    assert.match(verify.stdout, /certificate/i);
  });

  test('a password on the command line is refused', async () => {
    const r = await cli(['inspect', '--endpoints', plain.endpoints[0]!, '--user', 'root:s3cret']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--password-file or \$ETCDCTL_PASSWORD/);
    assert.equal(r.stderr.includes('s3cret'), false);
  });

  test('NO_COLOR turns colour off in the table (FORCE_COLOR turns it on off a terminal)', async () => {
    const args = ['inspect', '--endpoints', plain.endpoints[0]!, ...features];
    const colour = await cli(args, 60_000, { FORCE_COLOR: '1' });
    assert.equal(colour.code, 0, colour.stderr);
    assert.ok(colour.stdout.includes(`${ESC}32mRESULT: OK${ESC}0m`), colour.stdout);
    const none = await cli(args, 60_000, { FORCE_COLOR: '1', NO_COLOR: '1' });
    assert.equal(none.stdout.includes(ESC), false, none.stdout);
    assert.match(none.stdout, /^RESULT: OK$/m);
    const piped = await cli(args);
    assert.equal(piped.stdout.includes(ESC), false, 'no colour into a pipe');
  });

  test('NO_COLOR turns colour off in pretty logs', async () => {
    const config = join(dir, 'monitor.yaml');
    await writeFile(
      config,
      `clusters:\n  - name: plain\n    endpoints: [${plain.endpoints[0]}]\n    features: {healthy: {intervalSeconds: 60}}\n`,
    );
    const firstLog = async (env: Record<string, string>): Promise<string> => {
      const child = spawn(
        process.execPath,
        [BIN, 'run', '--config', config, '--listen', '127.0.0.1:0', '--log-format', 'pretty'],
        { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env }, timeout: 60_000 },
      );
      let stderr = '';
      const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
      await new Promise<void>((resolve) => {
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes('etcd-monitor running')) resolve();
        });
        child.on('close', () => resolve());
      });
      child.kill('SIGTERM');
      await exited;
      assert.match(stderr, /etcd-monitor running/);
      return stderr;
    };
    assert.ok((await firstLog({ FORCE_COLOR: '1' })).includes(ESC), 'colour when forced');
    assert.equal((await firstLog({ FORCE_COLOR: '1', NO_COLOR: '1' })).includes(ESC), false);
  });
});

test('the listen addresses are --listen and --probe-listen <host:port> on every command that serves', async () => {
  for (const command of ['run', 'demo', 'operator', 'etcdcluster', 'inspection']) {
    const r = await cli([command, '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}--listen <host:port> /m, `${command} --help`);
    assert.match(r.stdout, /^ {2}--probe-listen <host:port> /m, `${command} --help`);
  }
  const bad = await cli(['operator', '--listen', 'localhost']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--listen "localhost" is not HOST:PORT/);
  // Checked before anything starts (no etcd, no API server, no config needed to get there).
  for (const command of ['operator', 'demo']) {
    const badProbe = await cli([command, '--listen', '127.0.0.1:19401', '--probe-listen', 'localhost']);
    assert.equal(badProbe.code, 2, `${command}: ${badProbe.stderr}`);
    assert.match(badProbe.stderr, /--probe-listen "localhost" is not HOST:PORT/);
    const same = await cli([command, '--listen', '0.0.0.0:19401', '--probe-listen', '127.0.0.1:19401']);
    assert.equal(same.code, 2, `${command}: ${same.stderr}`);
    assert.match(
      same.stderr,
      /--probe-listen "127\.0\.0\.1:19401" takes the port of --listen "0\.0\.0\.0:19401": give the probes a port of their own \(e\.g\. 127\.0\.0\.1:19402\)/,
    );
  }
});
