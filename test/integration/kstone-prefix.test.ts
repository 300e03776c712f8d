/**
 * kstone compatibility of the metric names: `etcd-monitor run` with
 * `metricPrefix: kstone_` (and `--metric-prefix kstone_`) on a real etcd
 * cluster exports every family of kstone's catalogue under kstone's own
 * name, with kstone's label set exactly, and nothing under the bare names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import { freePort, startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { BIN, cli } from '../support/cli.ts';
import { eventually } from '../../src/testing/wait.ts';
import { clientOptionsFor } from '../support/specs.ts';

/**
 * kstone's catalogue as kstone defines it (pkg/inspection/metrics: namespace
 * "kstone", subsystem "inspection"): full name → label names. Written from
 * kstone's definitions, not from this project's code. kstone's two backup
 * families (etcd_backup_files, etcd_failed_backup_files) belong to its
 * backup feature, which etcd-monitor does not have.
 */
const KSTONE_FAMILIES: Record<string, readonly string[]> = {
  kstone_inspection_etcd_endpoint_healthy: ['clusterName', 'endpoint'],
  kstone_inspection_etcd_endpoint_alarm: ['clusterName', 'endpoint', 'alarmType'],
  kstone_inspection_etcd_node_diff_total: ['clusterName'],
  kstone_inspection_etcd_node_revision_diff_total: ['clusterName'],
  kstone_inspection_etcd_node_index_diff_total: ['clusterName'],
  kstone_inspection_etcd_node_raft_applied_index_diff_total: ['clusterName'],
  kstone_inspection_etcd_node_raft_index_diff_total: ['clusterName'],
  kstone_inspection_etcd_request_total: ['clusterName', 'grpcMethod', 'etcdPrefix', 'resourceName'],
  kstone_inspection_etcd_key_total: ['clusterName', 'etcdPrefix', 'resourceName'],
  kstone_inspection_failed_num: ['clusterName', 'inspectionType'],
};

interface Series {
  readonly family: string;
  readonly labels: readonly string[];
}

/** Every sample line of an exposition as family name and sorted label names. */
function seriesOf(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? \S+$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = [...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)].map((l) => l[1]!);
    out.push({ family: m[1]!, labels: labels.sort() });
  }
  return out;
}

describe('metric prefix kstone_', () => {
  let cluster: TestCluster;
  /** etcd 3.5 with the v2 API: kstone's node_index_diff_total is a v2 store figure. */
  let v2: TestCluster;
  let dir: string;
  const children = new Set<ChildProcess>();
  before(async () => {
    [cluster, v2] = await Promise.all([
      startEtcdCluster({ version: '3.6', members: 3, name: 'kstoneprefix' }),
      startEtcdCluster({ version: '3.5', members: 1, enableV2: true, name: 'kstoneprefixv2' }),
    ]);
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-kstone-'));
    // Keys under a Kubernetes-style prefix, so key_total and request_total have series.
    for (let i = 0; i < 3; i++) await cluster.etcdctl(['put', `/registry/pods/default/p${i}`, 'v']);
  });
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all([cluster?.stop(), v2?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const config = (extra: string): string =>
    `${extra}clusters:\n  - name: legacy\n    endpoints: [${cluster.endpoints.join(', ')}]\n` +
    '    features:\n' +
    ['healthy', 'alarm', 'consistency', 'request'].map((f) => `      ${f}: {intervalSeconds: 1}\n`).join('') +
    `  - name: legacy-v2\n    storageBackend: v2\n    endpoints: [${v2.endpoints.join(', ')}]\n` +
    '    features: {healthy: {intervalSeconds: 1}, consistency: {intervalSeconds: 1}}\n';

  async function serve(file: string, args: readonly string[]): Promise<{ metrics: () => Promise<string> }> {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [BIN, 'run', '--config', file, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...args],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.add(child);
    let logs = '';
    child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
    child.on('exit', (code) => {
      if (code !== null && code !== 0) process.stderr.write(`etcd-monitor run exited ${code}: ${logs}\n`);
    });
    child.on('exit', () => children.delete(child));
    return {
      metrics: async () =>
        (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text(),
    };
  }

  async function expectKstoneCatalogue(metrics: () => Promise<string>): Promise<void> {
    const series = await eventually(
      async () => {
        const all = seriesOf(await metrics());
        const families = new Set(all.map((s) => s.family));
        const missing = Object.keys(KSTONE_FAMILIES).filter((f) => !families.has(f));
        if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}`);
        return all;
      },
      'every kstone family',
      60_000,
      200,
    );
    for (const [family, labels] of Object.entries(KSTONE_FAMILIES)) {
      const sets = new Set(series.filter((s) => s.family === family).map((s) => s.labels.join(',')));
      assert.deepEqual([...sets], [[...labels].sort().join(',')], `label set of ${family}`);
    }
    const bare = series.filter((s) => s.family.startsWith('inspection_'));
    assert.deepEqual(bare, [], 'no family left under its unprefixed name');
  }

  test('metricPrefix in the config file exports the kstone catalogue by kstone names and labels', async (t) => {
    // An alarm, so that the alarm family has a series: NOSPACE on the first member.
    const client = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), clientOptionsFor(cluster));
    const status = await client.status();
    await client.alarmActivate({ memberId: status.header.memberId, alarm: 'NOSPACE' });
    t.after(async () => {
      await client.alarmDisarm({ memberId: status.header.memberId, alarm: 'NOSPACE' });
      client.close();
    });

    const file = join(dir, 'file.yaml');
    await writeFile(file, config('metricPrefix: kstone_\n'));
    const { metrics } = await serve(file, []);
    await expectKstoneCatalogue(metrics);
  });

  test('--metric-prefix kstone_ does the same and overrides the file', async () => {
    const file = join(dir, 'flag.yaml');
    await writeFile(file, config('metricPrefix: other_\n'));
    const { metrics } = await serve(file, ['--metric-prefix', 'kstone_']);
    // Without an alarm the alarm family has no series; every other family must be there.
    const series = await eventually(
      async () => {
        const all = seriesOf(await metrics());
        const families = new Set(all.map((s) => s.family));
        return families.has('kstone_inspection_etcd_key_total') &&
          families.has('kstone_inspection_etcd_endpoint_healthy')
          ? all
          : undefined;
      },
      'kstone families',
      60_000,
      200,
    );
    assert.deepEqual(
      series.filter((s) => s.family.startsWith('other_') || s.family.startsWith('inspection_')),
      [],
    );
  });

  test('a bad prefix is a usage error naming the flag or the field', async () => {
    const flag = await cli(['run', '--config', join(dir, 'flag.yaml'), '--metric-prefix', 'kstone']);
    assert.equal(flag.code, 2, flag.stderr);
    assert.match(flag.stderr, /--metric-prefix.*"kstone" is not a metric prefix.*end it with _/s);

    const file = join(dir, 'bad.yaml');
    await writeFile(file, config('metricPrefix: 9lives_\n'));
    const bad = await cli(['run', '--config', file, '--check-config']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /metricPrefix: "9lives_" is not a metric prefix/);
  });
});
