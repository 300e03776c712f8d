/**
 * Benchmark of the consistency inspection (prints figures; asserts nothing):
 * the cost of one round on a 3-member cluster holding N keys (default
 * 100,000), for each hash mode: etcd calls per round by method, bytes on the
 * wire to and from etcd (counted by a TCP relay in front of every member),
 * round time, the slowest HashKV, and the latency of a steady stream of
 * writes while rounds run (HashKV holds the member's backend read lock, which
 * write commits wait for).
 *
 * Run: node bench/consistency.ts [--keys 100000] [--value-bytes 256] [--rounds 5] [--versions 3.6,3.4]
 *      [--modes none,compacted,current,auto]
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { parseEndpoint, type Endpoint } from '../src/etcd/endpoint.ts';
import type { ClientOptions, EtcdV3MemberClient } from '../src/etcd/types.ts';
import { createV3MemberClient } from '../src/etcd/v3/client.ts';
import { etcdClients } from '../src/engine/clients.ts';
import { ClusterConnection, type ClientFactory } from '../src/engine/connection.ts';
import type { ClusterSpec } from '../src/engine/cluster-spec.ts';
import type { ConsistencyDetails } from '../src/features/consistency/consistency.ts';
import { featureRegistry } from '../src/features/index.ts';
import { silentLogger } from '../src/log.ts';
import { startEtcdCluster, type EtcdVersion, type TestCluster } from '../src/testbed/index.ts';
import { mib, ms, summary, table } from './support.ts';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '100000' },
    'value-bytes': { type: 'string', default: '256' },
    rounds: { type: 'string', default: '5' },
    versions: { type: 'string', default: '3.6,3.4' },
    modes: { type: 'string', default: 'none,compacted,current,auto' },
  },
});
const KEYS = Number(args.keys);
const VALUE_BYTES = Number(args['value-bytes']);
const ROUNDS = Number(args.rounds);
const VERSIONS = args.versions.split(',') as EtcdVersion[];
const MODES = args.modes.split(',') as ('none' | 'compacted' | 'current' | 'auto')[];
const CLIENT: ClientOptions = { dialTimeoutMs: 5000, requestTimeoutMs: 30_000 };

/** A TCP relay in front of one member that counts the bytes each way. */
class Relay {
  toEtcd = 0;
  fromEtcd = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #target: Endpoint;

  private constructor(server: Server, target: Endpoint) {
    this.#server = server;
    this.#target = target;
  }

  static async start(target: Endpoint): Promise<Relay> {
    const server = createServer();
    const relay = new Relay(server, target);
    server.on('connection', (sock) => relay.#relay(sock));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get endpoint(): Endpoint {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('relay not listening');
    return parseEndpoint(`http://127.0.0.1:${address.port}`);
  }

  #relay(sock: Socket): void {
    const up = connect(this.#target.port, this.#target.host);
    this.#sockets.add(sock).add(up);
    sock.on('data', (d: Buffer) => {
      this.toEtcd += d.length;
      up.write(d);
    });
    up.on('data', (d: Buffer) => {
      this.fromEtcd += d.length;
      sock.write(d);
    });
    const end = (): void => {
      sock.destroy();
      up.destroy();
      this.#sockets.delete(sock);
      this.#sockets.delete(up);
    };
    sock.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
    });
  }
}

/** Counts the calls that reach etcd by method, and times HashKV and the count-only ranges. */
function countingClients(
  counts: Map<string, number>,
  hashTimes: number[],
  countTimes: number[],
): ClientFactory {
  const wrap = (client: EtcdV3MemberClient): EtcdV3MemberClient =>
    new Proxy(client, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || prop === 'close' || typeof prop !== 'string') return value;
        return (...a: unknown[]) => {
          counts.set(prop, (counts.get(prop) ?? 0) + 1);
          const result = (value as (...x: unknown[]) => unknown).apply(target, a);
          const timed =
            prop === 'hashKV'
              ? hashTimes
              : prop === 'range' &&
                  (a[0] as { countOnly?: boolean; rangeEnd?: unknown }).rangeEnd !== undefined
                ? countTimes
                : undefined;
          if (timed !== undefined && result instanceof Promise) {
            const t0 = performance.now();
            return result.finally(() => timed.push(performance.now() - t0));
          }
          return result;
        };
      },
    });
  return { v3: (e, o) => wrap(etcdClients.v3(e, o)), http: etcdClients.http, v2: etcdClients.v2 };
}

async function load(client: EtcdV3MemberClient, keys: number): Promise<void> {
  const value = Buffer.alloc(VALUE_BYTES, 'v');
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < keys; i = next++)
      await client.put(`/registry/pods/ns-${i % 100}/pod-${i}`, value);
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}

/** Sequential small writes on one member, their latencies recorded while `running`. */
function writeProbe(client: EtcdV3MemberClient): { latencies: number[]; stop: () => Promise<void> } {
  const latencies: number[] = [];
  let stopped = false;
  const done = (async () => {
    for (let n = 0; !stopped; n++) {
      const t0 = performance.now();
      await client.put(`/probe/${n % 1000}`, 'x');
      latencies.push(performance.now() - t0);
    }
  })();
  return {
    latencies,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

async function benchVersion(version: EtcdVersion): Promise<(string | number)[][]> {
  const cluster: TestCluster = await startEtcdCluster({
    version,
    members: 3,
    name: `bcons${version.replace('.', '')}`,
    quotaBackendBytes: 4 * 1024 * 1024 * 1024,
  });
  const relays = await Promise.all(cluster.endpoints.map((e) => Relay.start(parseEndpoint(e))));
  const writer = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), CLIENT);
  const rows: (string | number)[][] = [];
  try {
    const t0 = performance.now();
    await load(writer, KEYS);
    const head = (await writer.put('/compaction-marker', 'x')).revision;
    await writer.compact(head, { physical: true });
    const status = await writer.status();
    console.log(
      `etcd ${cluster.binaryVersion}: ${KEYS} keys of ${VALUE_BYTES} B loaded and compacted in ${((performance.now() - t0) / 1000).toFixed(1)} s; db ${mib(Number(status.dbSize))}`,
    );

    // A quiet baseline of the write probe (no rounds).
    const baseline = writeProbe(writer);
    await new Promise((r) => setTimeout(r, 3000));
    await baseline.stop();
    const b = summary(baseline.latencies);
    rows.push([
      `etcd ${cluster.binaryVersion}`,
      '(no rounds)',
      '',
      '',
      '',
      '',
      '',
      '',
      `${ms(b.p50)} / ${ms(b.p99)} / ${ms(b.max)}`,
    ]);

    for (const mode of MODES) {
      const counts = new Map<string, number>();
      const hashTimes: number[] = [];
      const countTimes: number[] = [];
      const spec: ClusterSpec = {
        id: 'bench',
        name: 'bench',
        endpoints: relays.map((r) => r.endpoint),
        storageBackend: 'v3',
        // The relays, not the members' advertised URLs.
        discoverMembers: false,
        client: CLIENT,
        features: {},
      };
      const connection = new ClusterConnection(
        spec,
        countingClients(counts, hashTimes, countTimes),
        silentLogger(),
      );
      try {
        await connection.discover(AbortSignal.timeout(10_000));
        const feature = featureRegistry.get('consistency');
        const session = feature.open(
          connection.handle,
          feature.parseOptions({ hashRevision: mode, hashTimeoutSeconds: 120 }),
        );
        // Warm-up: connections open, compaction hashes cached.
        let verdict = '';
        for (let i = 0; i < 3; i++) {
          const o = await session.inspect(AbortSignal.timeout(120_000));
          const d = o.details as ConsistencyDetails;
          verdict = o.ok
            ? `${d.hash}${d.hashRevision !== null ? ` @${d.hashRevision}` : ''}`
            : `no verdict: ${o.error}`;
        }
        // Each measured round is filed under what it did: in auto a round scans, answers
        // from etcd's compaction cache, or stands on the verdict of an earlier round.
        interface KindFigures {
          rounds: number;
          calls: Map<string, number>;
          to: number;
          from: number;
          times: number[];
          hash: number[];
          count: number[];
        }
        const byKind = new Map<string, KindFigures>();
        const total = (): [number, number] => [
          relays.reduce((a, r) => a + r.toEtcd, 0),
          relays.reduce((a, r) => a + r.fromEtcd, 0),
        ];
        const probe = writeProbe(writer);
        for (let i = 0; i < ROUNDS; i++) {
          // auto: a compaction arrives after two rounds (as Kubernetes compacts every 5 minutes):
          // one scan for it on 3.4, etcd's cached hash on 3.6.
          if (mode === 'auto' && i === 2) {
            const head = (await writer.put('/compaction-marker', String(i))).revision;
            await writer.compact(head - 10n, { physical: true });
          }
          counts.clear();
          hashTimes.length = 0;
          countTimes.length = 0;
          const [to0, from0] = total();
          const r0 = performance.now();
          const o = await session.inspect(AbortSignal.timeout(120_000));
          const took = performance.now() - r0;
          const [to1, from1] = total();
          if (!o.ok) console.log(`  ${mode}: round without verdict: ${o.error}`);
          const d = o.details as ConsistencyDetails;
          const kind =
            mode !== 'auto'
              ? mode
              : d.hashReused
                ? 'auto: standing verdict'
                : `auto: ${d.hashKind ?? 'no hash'}`;
          const k: KindFigures = byKind.get(kind) ?? {
            rounds: 0,
            calls: new Map(),
            to: 0,
            from: 0,
            times: [],
            hash: [],
            count: [],
          };
          k.rounds++;
          for (const [m, n] of counts) k.calls.set(m, (k.calls.get(m) ?? 0) + n);
          k.to += to1 - to0;
          k.from += from1 - from0;
          k.times.push(took);
          k.hash.push(...hashTimes);
          k.count.push(...countTimes);
          byKind.set(kind, k);
        }
        await probe.stop();
        const w = summary(probe.latencies);
        for (const [kind, k] of byKind) {
          const calls = [...k.calls].map(([m, v]) => `${m} ${(v / k.rounds).toFixed(0)}`).join(', ');
          const s = summary(k.times);
          rows.push([
            `etcd ${cluster.binaryVersion}`,
            `${kind} (${k.rounds} rounds)`,
            verdict,
            calls,
            `${(k.to / k.rounds / 1024).toFixed(1)} KiB / ${(k.from / k.rounds / 1024).toFixed(1)} KiB`,
            `${ms(s.p50)} (max ${ms(s.max)})`,
            ms(summary(k.count).p50),
            k.hash.length > 0 ? `${ms(summary(k.hash).p50)} / ${ms(Math.max(...k.hash))}` : '-',
            `${ms(w.p50)} / ${ms(w.p99)} / ${ms(w.max)}`,
          ]);
        }
        await session.close();
      } finally {
        await connection.close();
      }
    }
  } finally {
    writer.close();
    await Promise.all(relays.map((r) => r.close()));
    await cluster.stop();
  }
  return rows;
}

async function main(): Promise<void> {
  console.log(
    `etcd-monitor consistency benchmark — node ${process.versions.node}, ${KEYS} keys x ${VALUE_BYTES} B, 3 members, ${ROUNDS} rounds per mode, ${new Date().toISOString()}`,
  );
  const rows: (string | number)[][] = [
    [
      'etcd',
      'hashRevision',
      'verdict',
      'etcd calls per round (all members)',
      'bytes per round to / from etcd',
      'round time p50',
      'count-only range p50',
      'HashKV p50 / max',
      'write latency p50 / p99 / max',
    ],
  ];
  for (const version of VERSIONS) rows.push(...(await benchVersion(version)));
  console.log('');
  console.log(table(rows));
}

await main();
