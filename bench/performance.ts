/**
 * Benchmark of the performance feature (prints figures; asserts nothing):
 * per round on a 3-member cluster, the requests per member, the bytes of each
 * member's /metrics, the read time per member, the parse time of one page,
 * the CPU the monitor spends per round, and new connections per round (the
 * keep-alive connections should be reused). Plain HTTP on etcd 3.4 and 3.6,
 * and 3.6 with TLS.
 * Run: node bench/performance.ts [--rounds 30]
 */
import { parseArgs } from 'node:util';
import { parseEndpoint } from '../src/etcd/endpoint.ts';
import { Secret } from '../src/etcd/secret.ts';
import type { ClientOptions } from '../src/etcd/types.ts';
import { etcdClients } from '../src/engine/clients.ts';
import { ClusterConnection, type ClientFactory } from '../src/engine/connection.ts';
import { featureRegistry } from '../src/features/index.ts';
import { readMetrics } from '../src/features/performance/figures.ts';
import type { PerformanceDetails } from '../src/features/performance/performance.ts';
import { silentLogger } from '../src/log.ts';
import { startEtcdCluster, type EtcdVersion, type TestCluster } from '../src/testbed/index.ts';
import { connectionsTo, ms, summary, table } from './support.ts';
import { testSpec } from '../src/testing/cluster-spec.ts';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '30' } } });
const ROUNDS = Number(args.rounds);

function countingHttp(counts: { metrics: number }): ClientFactory {
  return {
    v3: etcdClients.v3,
    v2: etcdClients.v2,
    http: (e, o) => {
      const client = etcdClients.http(e, o);
      return {
        ...client,
        endpoint: client.endpoint,
        health: (x) => client.health(x),
        version: (x) => client.version(x),
        metrics: (x) => {
          counts.metrics++;
          return client.metrics(x);
        },
        close: () => client.close(),
      };
    },
  };
}

function clientOptions(cluster: TestCluster): ClientOptions {
  return {
    dialTimeoutMs: 5000,
    requestTimeoutMs: 5000,
    ...(cluster.tls !== undefined && {
      tls: { ca: cluster.tls.ca, cert: cluster.tls.cert, key: new Secret(cluster.tls.key) },
    }),
  };
}

async function measure(version: EtcdVersion, tls: boolean): Promise<(string | number)[]> {
  const cluster = await startEtcdCluster({
    version,
    members: 3,
    tls,
    name: `benchperf${version.replace('.', '')}`,
  });
  const counts = { metrics: 0 };
  const spec = testSpec('bench', cluster.endpoints, {}, { client: clientOptions(cluster) });
  const connection = new ClusterConnection(spec, countingHttp(counts), silentLogger());
  const ports = new Set(cluster.endpoints.map((e) => parseEndpoint(e).port));
  try {
    await connection.discover(AbortSignal.timeout(10_000));
    const feature = featureRegistry.get('performance');
    const session = feature.open(connection.handle, feature.parseOptions({ baselineSeconds: 1 }));
    const signal = (): AbortSignal => AbortSignal.timeout(20_000);
    // The first round reads twice (the baseline); the next ones once.
    for (let i = 0; i < 3; i++) await session.inspect(signal());
    counts.metrics = 0;
    const before = await connectionsTo(ports);
    const times: number[] = [];
    const reads: number[] = [];
    const bytes: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      const outcome = await session.inspect(signal());
      times.push(performance.now() - t0);
      if (!outcome.ok) throw new Error(`performance failed: ${outcome.error}`);
      for (const m of (outcome.details as PerformanceDetails).members) {
        reads.push(m.readMs ?? 0);
        bytes.push(m.bytes ?? 0);
      }
    }
    const cpu = process.cpuUsage(cpu0);
    const requests = counts.metrics;
    const after = await connectionsTo(ports);
    const fresh = [...after].filter((c) => !before.has(c)).length;
    await session.close();

    // Parse time of one page alone (the part of the CPU that is ours).
    const text = (await connection.members()[0]!.http().metrics({ signal: signal() })).text;
    const parse: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      readMetrics(text, 0);
      parse.push(performance.now() - t0);
    }
    const round = summary(times);
    const read = summary(reads);
    return [
      `${cluster.binaryVersion}${tls ? ' TLS' : ''}`,
      (requests / ROUNDS / 3).toFixed(2),
      `${(summary(bytes).p50 / 1024).toFixed(0)} KiB`,
      ms(read.p50),
      ms(read.p99),
      ms(summary(parse).p50),
      ms(round.p50),
      ms(round.p99),
      ms((cpu.user + cpu.system) / 1000 / ROUNDS),
      (fresh / ROUNDS).toFixed(2),
    ];
  } finally {
    await connection.close();
    await cluster.stop();
  }
}

const rows: (string | number)[][] = [
  [
    'etcd',
    'requests/member/round',
    'bytes/member',
    'read p50',
    'read p99',
    'parse p50',
    'round p50',
    'round p99',
    'CPU/round',
    'new connections/round',
  ],
];
for (const [version, tls] of [
  ['3.4', false],
  ['3.6', false],
  ['3.6', true],
] as const) {
  rows.push(await measure(version, tls));
}
console.log(`performance feature, 3-member clusters, ${ROUNDS} rounds each (after 3 warm-up rounds)\n`);
console.log(table(rows));
