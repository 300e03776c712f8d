/**
 * Benchmark of the foundation (prints figures; asserts nothing):
 *  1. one inspection round per feature against one Status round trip, on a
 *     3-member TLS cluster; etcd calls and new TCP/TLS connections per round;
 *  2. memory of the daemon with 1, 100 and 1,000 configured clusters (all
 *     pointing at the same real cluster) and /metrics render time.
 * Run: node bench/foundation.ts [--clusters 1,100,1000] [--rounds 50]
 *      [--features healthy,alarm | default] [--skip-round-cost]
 * (--features default: the clusters name no features and get the config's
 * default set at its default intervals; otherwise each named one every 10 s.)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseEndpoint } from '../src/etcd/endpoint.ts';
import { Secret } from '../src/etcd/secret.ts';
import type { ClientOptions } from '../src/etcd/types.ts';
import { etcdClients } from '../src/engine/clients.ts';
import { ClusterConnection, type ClientFactory } from '../src/engine/connection.ts';
import { DEFAULT_FEATURES } from '../src/config/loader.ts';
import { featureRegistry } from '../src/features/index.ts';
import { silentLogger } from '../src/log.ts';
import { freePort, startEtcdCluster, type TestCluster } from '../src/testbed/index.ts';
import { connectionsTo, mib, ms, rssBytes, summary, table } from './support.ts';
import { testSpec } from '../src/testing/cluster-spec.ts';

const { values: args } = parseArgs({
  options: {
    clusters: { type: 'string', default: '1,100,1000' },
    rounds: { type: 'string', default: '50' },
    features: { type: 'string', default: 'healthy,alarm' },
    'skip-round-cost': { type: 'boolean', default: false },
  },
});
/** The features of every cluster in part 2: named (every 10 s), or the config's default set. */
const DAEMON_FEATURES = args.features === 'default' ? DEFAULT_FEATURES : args.features.split(',');
const ROUNDS = Number(args.rounds);
const CLUSTER_COUNTS = args.clusters.split(',').map(Number);

/** Wraps every client method to count the calls that reach etcd. */
function countingClients(counts: Map<string, number>): ClientFactory {
  const wrap = <T extends object>(kind: string, client: T): T =>
    new Proxy(client, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || prop === 'close' || typeof prop !== 'string') return value;
        return (...a: unknown[]) => {
          counts.set(`${kind}.${prop}`, (counts.get(`${kind}.${prop}`) ?? 0) + 1);
          return (value as (...x: unknown[]) => unknown).apply(target, a);
        };
      },
    });
  return {
    v3: (e, o) => wrap('v3', etcdClients.v3(e, o)),
    http: (e, o) => wrap('http', etcdClients.http(e, o)),
    v2: (e, o) => wrap('v2', etcdClients.v2(e, o)),
  };
}

function tlsClient(cluster: TestCluster): ClientOptions {
  return {
    dialTimeoutMs: 5000,
    requestTimeoutMs: 5000,
    tls: { ca: cluster.tls!.ca, cert: cluster.tls!.cert, key: new Secret(cluster.tls!.key) },
  };
}

async function roundCost(cluster: TestCluster): Promise<void> {
  const counts = new Map<string, number>();
  const spec = testSpec('bench', cluster.endpoints, {}, { client: tlsClient(cluster) });
  const connection = new ClusterConnection(spec, countingClients(counts), silentLogger());
  const ports = new Set(cluster.endpoints.map((e) => parseEndpoint(e).port));
  try {
    await connection.discover(AbortSignal.timeout(10_000));
    const signal = (): AbortSignal => AbortSignal.timeout(10_000);

    // Status round trip of each member alone, sequentially.
    const statusRtt = new Map<string, number[]>();
    for (const member of connection.members()) {
      const samples: number[] = [];
      for (let i = 0; i < ROUNDS + 5; i++) {
        const t0 = performance.now();
        await member.v3().status({ signal: signal() });
        if (i >= 5) samples.push(performance.now() - t0);
      }
      statusRtt.set(member.snapshot.endpoint, samples);
    }
    const slowest = Math.max(...[...statusRtt.values()].map((s) => summary(s).p50));

    const rows: (string | number)[][] = [
      [
        'feature',
        'round p50',
        'round p99',
        'target (2 x slowest Status p50 + 5 ms)',
        'etcd calls/round',
        'new connections/round',
      ],
    ];
    // quota, topology and certificates (issue 10) next to the originals; the
    // certificates handshakes do not go through the client factory: they
    // show as new connections, not as calls.
    for (const name of ['healthy', 'alarm', 'quota', 'topology', 'certificates']) {
      const feature = featureRegistry.get(name);
      // TLS handshakes of the certificates feature count as calls too.
      const tls = connection.handle.tls;
      const handle = {
        ...connection.handle,
        tls:
          tls === undefined
            ? undefined
            : {
                ...tls,
                peerCertificates: (e: Parameters<typeof tls.peerCertificates>[0], sig: AbortSignal) => {
                  counts.set('tls.handshake', (counts.get('tls.handshake') ?? 0) + 1);
                  return tls.peerCertificates(e, sig);
                },
              },
      };
      const session = feature.open(handle, feature.parseOptions(undefined));
      for (let i = 0; i < 5; i++) await session.inspect(signal());
      counts.clear();
      const before = await connectionsTo(ports);
      const times: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const t0 = performance.now();
        const outcome = await session.inspect(signal());
        times.push(performance.now() - t0);
        if (!outcome.ok) throw new Error(`${name} failed: ${outcome.error}`);
      }
      const after = await connectionsTo(ports);
      const fresh = [...after].filter((c) => !before.has(c)).length;
      const calls = [...counts.values()].reduce((a, b) => a + b, 0) / ROUNDS;
      const s = summary(times);
      rows.push([
        name,
        ms(s.p50),
        ms(s.p99),
        ms(2 * slowest + 5),
        calls.toFixed(1),
        (fresh / ROUNDS).toFixed(2),
      ]);
      await session.close();
    }
    console.log('\n## Round cost (3-member etcd 3.6 cluster, TLS with client certificates)\n');
    console.log(
      table([
        ['member', 'Status p50', 'Status p99'],
        ...[...statusRtt].map(([ep, s]) => [ep, ms(summary(s).p50), ms(summary(s).p99)]),
      ]),
    );
    console.log('');
    console.log(table(rows));
  } finally {
    await connection.close();
  }
}

async function scrapeTimes(port: number, n: number): Promise<{ p50: number; p99: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    times.push(performance.now() - t0);
    bytes = text.length;
  }
  const s = summary(times);
  return { p50: s.p50, p99: s.p99, bytes };
}

async function daemonAt(cluster: TestCluster, clusters: number, dir: string): Promise<(string | number)[]> {
  // The list goes in `defaults`, which replaces the built-in default features:
  // a cluster's own list would only add to them (and the table would measure
  // quota, topology, certificates and performance too).
  const lines = [
    ...(args.features === 'default'
      ? []
      : [`defaults: {features: {${DAEMON_FEATURES.map((f) => `${f}: {intervalSeconds: 10}`).join(', ')}}}`]),
    'clusters:',
  ];
  for (let i = 0; i < clusters; i++) {
    lines.push(
      `  - name: c${i}`,
      `    endpoints: [${cluster.endpoints.join(', ')}]`,
      `    tls: {caFile: ${cluster.tls!.caFile}, certFile: ${cluster.tls!.certFile}, keyFile: ${cluster.tls!.keyFile}}`,
    );
  }
  const file = join(dir, `monitor-${clusters}.yaml`);
  await writeFile(file, `${lines.join('\n')}\n`);
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['bin/etcd-monitor.js', 'run', '--config', file, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  try {
    const t0 = performance.now();
    // Ready when every cluster has finished a round of every feature.
    const expected = clusters * DAEMON_FEATURES.length;
    let done = 0;
    while (done < expected) {
      await new Promise((r) => setTimeout(r, 500));
      if (performance.now() - t0 > 180_000)
        throw new Error(`only ${done}/${expected} first rounds after 180 s`);
      try {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        done = [...text.matchAll(/^inspection_feature_runs_total\{[^}]*\} ([0-9]+)/gm)].filter(
          (m) => Number(m[1]) >= 1,
        ).length;
      } catch {
        // not listening yet
      }
    }
    const firstRounds = performance.now() - t0;
    // Steady state: a few more rounds with every connection open.
    await new Promise((r) => setTimeout(r, 12_000));
    const rss = await rssBytes(child.pid!);
    const scrape = await scrapeTimes(port, 20);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const heap = Number(/^etcd_monitor_nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1]);
    return [
      clusters,
      `${(firstRounds / 1000).toFixed(1)} s`,
      mib(rss),
      mib(heap),
      ms(scrape.p50),
      ms(scrape.p99),
      `${(scrape.bytes / 1024).toFixed(0)} KiB`,
    ];
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
}

async function main(): Promise<void> {
  const cluster = await startEtcdCluster({ version: '3.6', members: 3, tls: true, name: 'bench' });
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-bench-'));
  try {
    console.log(
      `etcd-monitor foundation benchmark — node ${process.versions.node}, etcd ${cluster.binaryVersion}, ${new Date().toISOString()}`,
    );
    if (!args['skip-round-cost']) await roundCost(cluster);
    console.log(
      `\n## Daemon at scale (${args.features === 'default' ? `the default features (${DAEMON_FEATURES.join(', ')}) at their default intervals` : `${DAEMON_FEATURES.join(' + ')} every 10 s`} per cluster, all clusters on the same 3 members, TLS)\n`,
    );
    const rows: (string | number)[][] = [
      [
        'clusters',
        'first rounds done',
        'RSS (steady)',
        'JS heap used',
        '/metrics p50',
        '/metrics p99',
        '/metrics size',
      ],
    ];
    for (const n of CLUSTER_COUNTS) rows.push(await daemonAt(cluster, n, dir));
    console.log(table(rows));
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
