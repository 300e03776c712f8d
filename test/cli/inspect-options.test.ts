/**
 * `inspect` with feature options (--set), with a cluster of the daemon's
 * config file (--config --cluster), and keyspace sizes that take longer
 * than one request round: on real etcd clusters of the test bed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { cli, tlsFlags } from '../support/cli.ts';
import { clusterForTest, SMALL_QUOTA_BYTES, v3ClientFor } from '../support/clusters.ts';

interface Report {
  ok: boolean;
  problems: string[];
  errors: string[];
  cluster: { name: string; inspections: Record<string, unknown> };
  why: { feature?: string; threshold?: number }[];
  members: { endpoint: string; healthy: boolean | null }[];
  keyspace?: { complete: boolean; stoppedAtDeadline?: boolean; keysScanned?: number; bytesScanned?: number };
}

const parsed = (stdout: string): Report | undefined =>
  stdout === '' ? undefined : (JSON.parse(stdout) as Report);

describe('inspect --set and --config on a TLS + auth cluster', () => {
  let secure: TestCluster;
  let dir: string;
  before(async () => {
    // A 2 MiB quota: a fresh member's few KiB are a measurable share of it.
    secure = await startEtcdCluster({
      version: '3.6',
      members: 1,
      tls: true,
      auth: true,
      name: 'optsecure',
      quotaBackendBytes: SMALL_QUOTA_BYTES,
    });
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-inspectopts-'));
    await writeFile(join(dir, 'pw'), `${secure.auth!.password}\n`);
  });
  after(async () => {
    await secure?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const connection = () => [
    '--endpoints',
    secure.endpoints[0]!,
    ...tlsFlags(secure.tls!),
    '--user',
    'root',
    '--password-file',
    join(dir, 'pw'),
  ];
  const inspectJson = async (args: readonly string[]) => {
    const r = await cli([
      'inspect',
      ...connection(),
      '--features',
      'healthy,quota,certificates',
      '-o',
      'json',
      ...args,
    ]);
    return { ...r, report: parsed(r.stdout) };
  };

  test('--set makes quota and certificates warn where the defaults pass (exit 1 instead of 0)', async () => {
    const plain = await inspectJson([]);
    assert.equal(plain.code, 0, plain.stderr + plain.stdout);
    assert.deepEqual(plain.report?.problems, []);

    // The test bed's certificates live 365 days: a warning 400 days ahead makes every one a problem.
    const certs = await inspectJson(['--set', 'certificates.warningDays=400']);
    assert.equal(certs.code, 1, certs.stderr + certs.stdout);
    assert.ok(certs.report!.problems.length > 0);
    assert.ok(
      certs.report!.problems.every((p) => /expires .* \(warning at 400\.0d\)/.test(p)),
      certs.report!.problems.join('\n'),
    );

    // The member's db is a few KiB of its 2 MiB quota: above a 0.1 % warning ratio.
    const quota = await inspectJson(['--set', 'quota.warningRatio=0.001']);
    assert.equal(quota.code, 1, quota.stderr + quota.stdout);
    assert.ok(
      quota.report!.problems.some((p) => /quota/.test(p) && /warning at 0\.1 %/.test(p)),
      quota.report!.problems.join('\n'),
    );
    // The threshold the verdict was judged against is the one given.
    assert.ok(
      quota.report!.why.some((w) => w.feature === 'quota' && w.threshold === 0.001),
      JSON.stringify(quota.report!.why),
    );
  });

  test('usage errors exit 2 naming the flag, the feature and the option, never the value', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--set', 'quota.warningRatio=2'],
        /--set quota\.warningRatio: .*warningRatio: expected number to be less or equal to 1/,
      ],
      [['--set', 'quota.warningRatio=high'], /--set quota\.warningRatio: expected a number/],
      [
        ['--set', 'quota.bogus=1'],
        /--set quota\.bogus: feature quota has no option bogus \(its options: quotaBytes, /,
      ],
      [['--set', 'bogus.x=1'], /--set bogus\.x: unknown feature bogus/],
      [
        ['--set', 'latency.quantile=0.9'],
        /--set latency\.quantile: feature latency is not in --features healthy,quota,certificates/,
      ],
      [
        ['--set', 'performance.metricsURLs.etcd-0=s3cr3t@not a url'],
        // The userinfo is redacted by the feature itself; what is left of the value is not shown either.
        /--set performance\.metricsURLs\.etcd-0: .*(\(value not shown\)|"\[REDACTED\]@not a url") is not a URL/,
      ],
      [['--set', 'quota.warningRatio'], /--set: expected FEATURE\.OPTION=VALUE/],
    ];
    for (const [args, message] of cases) {
      const features = args[1]!.startsWith('performance') ? ['--features', 'healthy,performance'] : [];
      const r = await cli([
        'inspect',
        ...connection(),
        '--features',
        'healthy,quota,certificates',
        ...features,
        ...args,
      ]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '');
      assert.doesNotMatch(r.stderr, /s3cr3t|high/, 'the value is not echoed');
    }
  });

  /** A config file of two clusters: `other` (never reached) and `secure` (TLS, auth, a strict quota warning). */
  async function configFile(): Promise<string> {
    const file = join(dir, 'monitor.yaml');
    const tls = secure.tls!;
    await writeFile(
      file,
      [
        'defaults:',
        '  features: {healthy: {}, alarm: {}, quota: {}, certificates: {}}',
        'clusters:',
        '  - name: other',
        '    endpoints: [http://127.0.0.1:9]',
        '  - name: secure',
        `    endpoints: [${secure.endpoints[0]}]`,
        `    tls: {caFile: ${tls.caFile}, certFile: ${tls.certFile}, keyFile: ${tls.keyFile}}`,
        `    auth: {username: root, passwordFile: ${join(dir, 'pw')}}`,
        '    features:',
        '      quota: {options: {warningRatio: 0.001}}',
        '',
      ].join('\n'),
    );
    return file;
  }

  test('--config --cluster inspects a cluster of the daemon config as the daemon would; flags refine it', async () => {
    const file = await configFile();
    // ETCDCTL_* variables of a shell set up for etcdctl are ignored with --config.
    const env = { ETCDCTL_ENDPOINTS: 'http://127.0.0.1:9', ETCDCTL_PASSWORD: 'not-it' };
    const strict = await cli(['inspect', '--config', file, '--cluster', 'secure', '-o', 'json'], 60_000, env);
    assert.equal(strict.code, 1, strict.stderr + strict.stdout);
    const report = parsed(strict.stdout)!;
    assert.equal(report.cluster.name, 'secure');
    assert.deepEqual(Object.keys(report.cluster.inspections).sort(), [
      'alarm',
      'certificates',
      'healthy',
      'quota',
    ]);
    // TLS and auth from the file: the member answered, healthy.
    assert.deepEqual(
      report.members.map((m) => m.healthy),
      [true],
    );
    assert.ok(
      report.problems.some((p) => /quota/.test(p) && /warning at 0\.1 %/.test(p)),
      report.problems.join('\n'),
    );
    assert.doesNotMatch(strict.stdout + strict.stderr, new RegExp(secure.auth!.password));

    // --set on top of the file's options; --features narrows the file's set.
    const relaxed = await cli([
      'inspect',
      '--config',
      file,
      '--cluster',
      'secure',
      '--features',
      'healthy,quota',
      '--set',
      'quota.warningRatio=0.5',
      '-o',
      'json',
    ]);
    assert.equal(relaxed.code, 0, relaxed.stderr + relaxed.stdout);
    assert.deepEqual(Object.keys(parsed(relaxed.stdout)!.cluster.inspections).sort(), ['healthy', 'quota']);
  });

  test('--config usage errors: unknown cluster, connection flags, a malformed file', async () => {
    const file = await configFile();
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      'clusters:\n  - name: x\n    endpoints: [http://127.0.0.1:9]\n    features: {quota: {options: {warningRatio: 3}}}\n',
    );
    const cases: [string[], RegExp][] = [
      [
        ['--config', file, '--cluster', 'nope'],
        /--cluster nope: no such cluster in .*monitor\.yaml \(its clusters: other, secure\)/,
      ],
      [['--config', file], /--cluster: which cluster of .*monitor\.yaml\? \(its clusters: other, secure\)/],
      [
        ['--config', file, '--cluster', 'secure', '--endpoints', secure.endpoints[0]!, '--user', 'root'],
        /--endpoints, --user: not with --config/,
      ],
      [['--cluster', 'secure'], /--cluster names a cluster of --config/],
      [
        ['--config', bad, '--cluster', 'x'],
        /config .*bad\.yaml: clusters\[0\]\.features\.quota\.options: .*warningRatio/,
      ],
      [['--config', join(dir, 'missing.yaml')], /config .*missing\.yaml: cannot read/],
      [
        ['--config', file, '--cluster', 'secure', '--set', 'quota.criticalRatio=0.0001'],
        /--set quota\.criticalRatio: options of feature quota: warningRatio \(0\.001\) must be below criticalRatio/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['inspect', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});

describe('inspect --keyspace-sizes on a keyspace larger than one round reads', () => {
  test('waits for the whole scan within --timeout, or says how far it got at the deadline', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.6', members: 1, name: 'optkeyspace' });
    const client = v3ClientFor(t, cluster);
    // 60 keys of 10 KB, read 5 keys a page at 64 KiB/s: about 9 s of scan, three times one round's 3 s.
    const KEYS = 60;
    for (let i = 0; i < KEYS; i++)
      await client.put(`/registry/pods/ns/p${String(i).padStart(2, '0')}`, 'x'.repeat(10_000));
    const args = (timeout: string) => [
      'inspect',
      '--endpoints',
      cluster.endpoints[0]!,
      '--features',
      'healthy',
      '--keyspace-sizes',
      '--set',
      'request.countPageSize=5',
      '--set',
      'request.scanBytesPerSecond=65536',
      '--timeout',
      timeout,
    ];
    const whole = await cli([...args('90s'), '-o', 'json'], 120_000);
    assert.equal(whole.code, 0, whole.stderr + whole.stdout);
    assert.deepEqual(parsed(whole.stdout)!.keyspace, { complete: true });
    const table = await cli(args('90s'), 120_000);
    assert.match(table.stdout, /KEYSPACE 587\.2 KiB/); // 60 x (21-byte key + 10,000-byte value)
    assert.match(table.stdout, new RegExp(`pods\\s+${KEYS}\\s`));
    assert.doesNotMatch(table.stdout, /incomplete/);

    // A deadline shorter than the scan: it says so, with what it covered.
    const short = await cli([...args('4s'), '-o', 'json'], 60_000);
    assert.equal(short.code, 0, short.stderr + short.stdout);
    const keyspace = parsed(short.stdout)!.keyspace!;
    assert.equal(keyspace.complete, false);
    assert.equal(keyspace.stoppedAtDeadline, true);
    assert.ok(keyspace.keysScanned! > 0 && keyspace.keysScanned! < KEYS, JSON.stringify(keyspace));
    assert.ok(keyspace.bytesScanned! > 0, JSON.stringify(keyspace));
    const shortTable = await cli(args('4s'), 60_000);
    assert.match(
      shortTable.stdout,
      /KEYSPACE incomplete: the scan stopped at the --timeout deadline after \d+ keys, [\d.]+ KiB \(\/registry\/ not done\)/,
    );
  });
});
