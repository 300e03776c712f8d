/**
 * `etcd-monitor run --shard I --total-shards N`: daemons that read the same
 * config file split its clusters, on a real etcd member. Each daemon's
 * /metrics carries only its own clusters; together they carry every cluster
 * exactly once; the file's `sharding:` does the same without flags; bad
 * shard numbers exit 2 naming the flag or field.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { cli } from '../support/cli.ts';
import { DaemonProcess } from '../support/daemon-process.ts';
import { scrape } from '../support/scrape.ts';

const CLUSTERS = 24;

describe('the daemon with --shard/--total-shards', () => {
  let etcd: TestCluster;
  let dir: string;
  let config: string;
  const daemons: DaemonProcess[] = [];

  before(async () => {
    etcd = await startEtcdCluster({ version: '3.6', members: 1, name: 'shardd' });
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-shardd-'));
    config = join(dir, 'config.yaml');
    const clusters = Array.from(
      { length: CLUSTERS },
      (_, i) =>
        `  - name: tenant-${i}\n    endpoints: [${etcd.endpoints[0]}]\n    features: {healthy: {intervalSeconds: 2}}\n`,
    ).join('');
    await writeFile(config, `clusters:\n${clusters}`);
  });

  after(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await etcd?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function start(args: readonly string[]): Promise<string> {
    const address = `127.0.0.1:${await freePort()}`;
    const d = new DaemonProcess(['--listen', address, ...args]);
    daemons.push(d);
    await d.waitLog(/"msg":"etcd-monitor running"/, 'the daemon running', 60_000);
    return address;
  }

  /** The clusters whose healthy inspection ran, per daemon, once every daemon ran all of its own. */
  async function shares(addresses: readonly string[], expected: number): Promise<Set<string>[]> {
    return eventually(
      async () => {
        const all = await Promise.all(
          addresses.map(async (a) => {
            const series = await scrape(a);
            const names = new Set<string>();
            for (const [s, v] of series)
              if (s.startsWith('inspection_feature_runs_total{') && v > 0)
                names.add(/clusterName="([^"]+)"/.exec(s)![1]!);
            return { names, configured: series.get('etcd_monitor_clusters') };
          }),
        );
        const total = all.reduce((n, s) => n + s.names.size, 0);
        if (total !== expected || all.some((s) => s.names.size !== s.configured)) return undefined;
        return all.map((s) => s.names);
      },
      'every daemon ran its clusters',
      60_000,
      250,
    );
  }

  it('three daemons: each exports only its share, together every cluster exactly once', async () => {
    const addresses = await Promise.all(
      [0, 1, 2].map((i) => start(['-c', config, '--shard', String(i), '--total-shards', '3'])),
    );
    const split = await shares(addresses, CLUSTERS);
    const seen = new Map<string, number>();
    for (const s of split) for (const c of s) seen.set(c, (seen.get(c) ?? 0) + 1);
    assert.equal(seen.size, CLUSTERS, 'every cluster inspected');
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      'none twice',
    );
    for (const s of split) assert.ok(s.size > 0, 'each daemon has a share');
    for (const a of addresses) assert.equal((await scrape(a)).get('etcd_monitor_shard_members'), 3);
  });

  it('the file says the same with sharding: {shard, totalShards}', async () => {
    const withSharding = join(dir, 'sharded.yaml');
    await writeFile(withSharding, `sharding: {shard: 1, totalShards: 3}\n${await readFile(config, 'utf8')}`);
    const fromFile = await start(['-c', withSharding]);
    const fromFlags = await start(['-c', config, '--shard', '1', '--total-shards', '3']);
    const [a, b] = await eventually(
      async () => {
        const [x, y] = await Promise.all([fromFile, fromFlags].map((addr) => scrape(addr)));
        const names = (m: Map<string, number>) =>
          [...m.keys()]
            .filter((s) => s.startsWith('inspection_feature_runs_total{'))
            .map((s) => /clusterName="([^"]+)"/.exec(s)![1]!)
            .sort();
        const [nx, ny] = [names(x!), names(y!)];
        return nx.length > 0 && nx.length === ny.length ? [nx, ny] : undefined;
      },
      'both daemons running shard 1',
      60_000,
    );
    assert.deepEqual(a, b);
  });

  for (const [args, message] of [
    [['--shard', '1'], /--shard and --total-shards go together/],
    [['--shard', '3', '--total-shards', '3'], /--shard 3 is not a shard of --total-shards 3 \(use 0 to 2\)/],
    [['--shard', '-1', '--total-shards', '3'], /--shard must be an integer from 0 to 999/],
    [['--total-shards', '0', '--shard', '0'], /--total-shards must be an integer from 1 to 1000/],
  ] as const) {
    it(`${args.join(' ')}: exit 2`, async () => {
      const r = await cli(['run', '-c', config, ...args], 120_000);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    });
  }

  it('a file whose sharding.shard is not below totalShards: exit 2 naming the field', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, `sharding: {shard: 2, totalShards: 2}\nclusters: []\n`);
    const r = await cli(['run', '-c', bad, '--check-config'], 120_000);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /sharding.shard: 2 is not a shard of 2 \(use 0 to 1\)/);
  });
});
