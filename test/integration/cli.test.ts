/**
 * The binary as users run it: `inspect` (exit codes, JSON shape, table) and
 * `run` (config errors, SIGHUP reload, /metrics that promtool accepts, the
 * documented catalogue, graceful SIGTERM).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_INSPECT_FEATURES } from '../../src/cli/inspect.ts';
import { freePort, startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { parseExposition } from '../support/scrape.ts';
import { hostPort } from '../support/specs.ts';
import { BIN, cli, tlsFlags } from '../support/cli.ts';

describe('etcd-monitor inspect', () => {
  let cluster: TestCluster;
  let dir: string;
  before(async () => {
    cluster = await startEtcdCluster({
      version: '3.6',
      members: 3,
      tls: true,
      auth: true,
      name: 'cliinspect',
    });
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-cli-'));
    await writeFile(join(dir, 'pw'), `${cluster.auth!.password}\n`);
    await writeFile(join(dir, 'wrong'), 'wrong\n');
  });
  after(async () => {
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const credentials = (passwordFile = 'pw') => ['--user', 'root', '--password-file', join(dir, passwordFile)];
  const auth = () => [...tlsFlags(cluster.tls!), ...credentials()];

  test('a healthy cluster: exit 0 and the JSON contract', async () => {
    const r = await cli(['inspect', '--endpoints', cluster.endpoints[0]!, ...auth(), '-o', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      members: { endpoint: string; healthy: boolean; alarms: unknown[]; id: string }[];
      alarms: unknown[];
    };
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.members.map((m) => m.endpoint).sort(),
      cluster.endpoints.map(hostPort).sort(),
      'every member, discovered from one endpoint',
    );
    for (const m of report.members) {
      assert.equal(m.healthy, true);
      assert.deepEqual(m.alarms, []);
      assert.match(m.id, /^[0-9a-f]+$/);
    }
    assert.deepEqual(report.alarms, []);
  });

  test('the table has one row per member and the verdict', async () => {
    const r = await cli(['inspect', '--endpoints', cluster.endpoints.join(','), ...auth()]);
    assert.equal(r.code, 0, r.stderr);
    for (const url of cluster.endpoints)
      assert.match(r.stdout, new RegExp(`^${hostPort(url).replace(/\./g, '\\.')} .* yes `, 'm'));
    // One table shows every default inspection of a healthy TLS cluster, all passed.
    for (const feature of DEFAULT_INSPECT_FEATURES)
      assert.match(r.stdout, new RegExp(`^${feature} +ok `, 'm'));
    assert.match(r.stdout, /^certificates +ok +\d+ certificate\(s\) of 3 member\(s\)/m);
    assert.match(r.stdout, /RESULT: OK/);
  });

  test('a stopped member: exit 1, that member unhealthy with the reason', async () => {
    await cluster.stopMember(1);
    try {
      const r = await cli([
        'inspect',
        '--endpoints',
        cluster.endpoints[0]!,
        ...auth(),
        '-o',
        'json',
        '--command-timeout',
        '2',
      ]);
      assert.equal(r.code, 1, r.stderr);
      const report = JSON.parse(r.stdout) as {
        ok: boolean;
        members: { endpoint: string; healthy: boolean; unhealthyReason?: string }[];
      };
      assert.equal(report.ok, false);
      const down = report.members.find((m) => m.endpoint === hostPort(cluster.endpoints[1]!));
      assert.equal(down?.healthy, false);
      assert.match(down?.unhealthyReason ?? '', /127\.0\.0\.1/);
      assert.equal(report.members.filter((m) => m.healthy).length, 2);
    } finally {
      await cluster.startMember(1);
    }
  });

  test('wrong password and wrong CA: exit 1 with an error naming the problem, never the password', async () => {
    const wrongPw = await cli([
      'inspect',
      '--endpoints',
      cluster.endpoints[0]!,
      ...tlsFlags(cluster.tls!),
      ...credentials('wrong'),
      '-o',
      'json',
    ]);
    assert.equal(wrongPw.code, 1);
    assert.match(wrongPw.stdout, /authentication failed|auth/i);
    assert.equal((wrongPw.stdout + wrongPw.stderr).includes(cluster.auth!.password), false);
    const wrongCa = await cli([
      'inspect',
      '--endpoints',
      cluster.endpoints[0]!,
      ...tlsFlags(cluster.tls!, cluster.tls!.otherCaFile),
      ...credentials(),
      '-o',
      'json',
    ]);
    assert.equal(wrongCa.code, 1);
    assert.match(wrongCa.stdout, /certificate|tls/i);
  });

  test('usage errors exit 2 with a clear message', async () => {
    const cases: [string[], RegExp][] = [
      [['inspect', '--endpoints', 'ftp://127.0.0.1:2379'], /has scheme "ftp"/],
      [['inspect', '--endpoints', 'http://127.0.0.1'], /has no port/],
      [['inspect', '--endpoints', ''], /no endpoint given/],
      [
        ['inspect', '--endpoints', 'http://127.0.0.1:2379', '--features', 'healthy,bogus'],
        /unknown feature "bogus"/,
      ],
      [
        ['inspect', '--endpoints', 'http://127.0.0.1:2379', '--timeout', '0'],
        /--timeout must be a positive duration/,
      ],
      [['frobnicate'], /unknown command/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });

  test('--help on every command, --version', async () => {
    for (const args of [['--help'], ['run', '--help'], ['inspect', '--help'], ['demo', '--help']]) {
      const r = await cli(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /Usage: etcd-monitor/);
    }
    const v = await cli(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});

describe('etcd-monitor run', () => {
  let cluster: TestCluster;
  let dir: string;
  let daemon: ChildProcess | undefined;
  before(async () => {
    cluster = await startEtcdCluster({ version: '3.6', members: 1, name: 'clirun' });
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-run-'));
  });
  after(async () => {
    daemon?.kill('SIGKILL');
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const configWith = (...names: string[]): string =>
    `clusters:\n${names.map((n) => `  - name: ${n}\n    endpoints: [${cluster.endpoints[0]}]\n    features: {healthy: {intervalSeconds: 1}, alarm: {intervalSeconds: 1}}\n`).join('')}`;

  test('bad config files are rejected at start with the file and field named', async () => {
    const cases: [string, RegExp][] = [
      [
        'clusters:\n  - name: a\n    endpoints: [127.0.0.1:2379]\n',
        /clusters\[0\]\.endpoints\[0\]: endpoint "127\.0\.0\.1:2379" has no scheme/,
      ],
      ['clusters:\n  - name: a\n    endpoints: []\n', /clusters\[0\]\.endpoints: expected array length/],
      [
        'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:1]\n    features: {nope: {}}\n',
        /clusters\[0\]\.features\.nope: unknown feature "nope"/,
      ],
      [
        'clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:1]\n    features: {healthy: {intervalSeconds: 0}}\n',
        /clusters\[0\]\.features\.healthy\.intervalSeconds: expected integer to be greater or equal to 1/,
      ],
    ];
    for (const [yaml, message] of cases) {
      const file = join(dir, 'bad.yaml');
      await writeFile(file, yaml);
      const r = await cli(['run', '--config', file, '--listen', '127.0.0.1:0']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`config ${file.replace(/[.]/g, '\\.')}: `));
      assert.match(r.stderr, message);
    }
  });

  test('serves /metrics, reloads on SIGHUP (a bad file keeps the old config), stops on SIGTERM', async () => {
    const file = join(dir, 'monitor.yaml');
    await writeFile(file, configWith('alpha'));
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [BIN, 'run', '--config', file, '--listen', `127.0.0.1:${port}`, '--log-format', 'json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    daemon = child;
    let logs = '';
    child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
    const metrics = async (): Promise<Map<string, number>> =>
      parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const endpoint = hostPort(cluster.endpoints[0]!);
    const healthySeries = (name: string): string =>
      `inspection_etcd_endpoint_healthy{clusterName="${name}",endpoint="${endpoint}"}`;

    await eventually(
      async () => ((await metrics()).get(healthySeries('alpha')) === 1 ? true : undefined),
      'alpha healthy',
      20_000,
    );
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);

    await writeFile(file, 'clusters: [\n');
    child.kill('SIGHUP');
    await eventually(
      () => (/config reload failed; keeping the running config/.test(logs) ? true : undefined),
      'reload failure logged',
    );
    assert.match(logs, /invalid YAML/);
    assert.equal((await metrics()).get(healthySeries('alpha')), 1, 'old config still running');

    await writeFile(file, configWith('beta'));
    child.kill('SIGHUP');
    await eventually(
      async () => {
        const m = await metrics();
        return m.get(healthySeries('beta')) === 1 &&
          ![...m.keys()].some((k) => k.includes('clusterName="alpha"'))
          ? true
          : undefined;
      },
      'beta replaces alpha',
      20_000,
    );

    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    daemon = undefined;
    assert.match(logs, /"msg":"stopped"/);
  });
});
