/**
 * Benchmark of keyspace sizes (request option `sizes`; prints figures,
 * asserts nothing): a Kubernetes-like keyspace of --keys keys and about
 * --bytes bytes of values in a 1-member test-bed etcd; then `etcd-monitor
 * run` (a child process, so its memory is its own) scans it with sizes on,
 * once paced at --rate bytes/s and once at an unpaced rate. For each: the
 * scan time, etcd's request latency (a linearizable Range of a random key
 * and a Put, one after the other, from this process) during the scan
 * against the same probe without any scan, and the monitor's RSS (peak
 * during the scan, and after).
 *
 * Run: node bench/keyspace.ts [--keys 200000] [--bytes 500000000] [--rate 8388608] [--version 3.6]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { parseEndpoint } from '../src/etcd/endpoint.ts';
import type { EtcdV3MemberClient } from '../src/etcd/types.ts';
import { createV3MemberClient } from '../src/etcd/v3/client.ts';
import { freePort, startEtcdCluster, type EtcdVersion } from '../src/testbed/index.ts';
import { BIN } from '../test/support/cli.ts';
import { mib, ms, rssBytes, summary, table } from './support.ts';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '200000' },
    bytes: { type: 'string', default: '500000000' },
    rate: { type: 'string', default: String(8 * 1024 * 1024) },
    version: { type: 'string', default: '3.6' },
    'probe-seconds': { type: 'string', default: '15' },
    concurrency: { type: 'string', default: '64' },
  },
});
const KEYS = Number(args.keys);
const BYTES = Number(args.bytes);
const RATE = Number(args.rate);
const PROBE_SECONDS = Number(args['probe-seconds']);
const CONCURRENCY = Number(args.concurrency);

/** resource, share of the keys, namespaced */
const LAYOUT: readonly [string, number, boolean][] = [
  ['pods', 0.35, true],
  ['events', 0.25, true],
  ['configmaps', 0.15, true],
  ['secrets', 0.1, true],
  ['replicasets.apps', 0.05, true],
  ['example.com/widgets', 0.05, true],
  ['leases', 0.04, true],
  ['namespaces', 0.01, false],
];

function keyAt(i: number): string {
  let at = (i * 2654435761) % KEYS; // spread resources over the key order
  for (const [resource, share, namespaced] of LAYOUT) {
    const n = Math.max(1, Math.floor(share * KEYS));
    if (at < n || resource === LAYOUT.at(-1)![0]) {
      const path = resource.replace('.apps', '');
      return namespaced ? `/registry/${path}/ns-${i % 50}/obj-${i}` : `/registry/${path}/obj-${i}`;
    }
    at -= n;
  }
  return `/registry/other/obj-${i}`;
}

async function load(client: EtcdV3MemberClient): Promise<{ seconds: number; bytes: number }> {
  const average = BYTES / KEYS;
  const values = Array.from({ length: 64 }, (_, k) =>
    Buffer.alloc(Math.max(1, Math.round(average * (0.2 + (1.6 * k) / 63))), 'v'),
  );
  let next = 0;
  let bytes = 0;
  const t0 = performance.now();
  let reported = t0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++;
        if (i >= KEYS) return;
        const key = keyAt(i);
        const value = values[i % values.length]!;
        bytes += Buffer.byteLength(key) + value.length;
        await client.put(key, value, { timeoutMs: 60_000 });
        if (performance.now() - reported > 10_000) {
          reported = performance.now();
          process.stderr.write(`  loaded ${i} keys, ${mib(bytes)}\n`);
        }
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, bytes };
}

/** Linearizable Range of a random key, then a Put, one after the other, until stop() is called. */
function probe(client: EtcdV3MemberClient): { stop: () => Promise<{ range: number[]; put: number[] }> } {
  const range: number[] = [];
  const put: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      let t = performance.now();
      await client.range({ key: keyAt(Math.floor(Math.random() * KEYS)) }, { timeoutMs: 30_000 });
      range.push(performance.now() - t);
      t = performance.now();
      await client.put('/bench/probe', String(Date.now()), { timeoutMs: 30_000 });
      put.push(performance.now() - t);
      await sleep(20);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { range, put };
    },
  };
}

interface ScanResult {
  readonly scanSeconds: number;
  readonly peakRss: number;
  readonly rssAfter: number;
  readonly idleRss: number;
  readonly totalBytes: number;
  readonly keys: number;
  readonly range: number[];
  readonly put: number[];
}

interface ApiCluster {
  features: {
    request?: {
      last: {
        details: { ready: boolean; sizes: { totalBytes: number } | null; prefixes: { keys: number }[] };
      } | null;
    };
  };
}

async function scanWith(
  endpoint: string,
  client: EtcdV3MemberClient,
  rate: number,
  dir: string,
): Promise<ScanResult> {
  const port = await freePort();
  const config = join(dir, `monitor-${rate}.yaml`);
  await writeFile(
    config,
    [
      'clusters:',
      '  - name: ks',
      `    endpoints: ['${endpoint}']`,
      '    features:',
      `      request: {intervalSeconds: 1, options: {sizes: true, scanBytesPerSecond: ${rate}}}`,
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [BIN, 'run', '--config', config, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    const get = async (): Promise<ApiCluster | undefined> => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/clusters/ks`);
        return res.ok ? ((await res.json()) as ApiCluster) : undefined;
      } catch {
        return undefined;
      }
    };
    // Idle: the daemon up, before the feature's first round has much to hold.
    while ((await get()) === undefined) await sleep(100);
    const idleRss = await rssBytes(child.pid!);
    const t0 = performance.now();
    const probing = probe(client);
    let peakRss = idleRss;
    let details: NonNullable<ApiCluster['features']['request']>['last'] = null;
    for (;;) {
      peakRss = Math.max(peakRss, await rssBytes(child.pid!));
      details = (await get())?.features.request?.last ?? null;
      if (details?.details.ready === true) break;
      await sleep(200);
    }
    const scanSeconds = (performance.now() - t0) / 1000;
    const { range, put } = await probing.stop();
    await sleep(2000);
    const rssAfter = await rssBytes(child.pid!);
    return {
      scanSeconds,
      peakRss,
      rssAfter,
      idleRss,
      totalBytes: details.details.sizes?.totalBytes ?? NaN,
      keys: details.details.prefixes.reduce((n, p) => n + p.keys, 0),
      range,
      put,
    };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const cluster = await startEtcdCluster({
  version: args.version as EtcdVersion,
  members: 1,
  name: 'bench-ks',
  quotaBackendBytes: 8 * 1024 ** 3,
});
const dir = await mkdtemp(join(tmpdir(), 'bench-keyspace-'));
const client = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), {
  dialTimeoutMs: 5000,
  requestTimeoutMs: 30_000,
});
try {
  console.log(
    `keyspace: ${KEYS} keys, about ${mib(BYTES)} of values, etcd ${cluster.binaryVersion} (1 member)`,
  );
  const loaded = await load(client);
  console.log(`loaded in ${loaded.seconds.toFixed(1)} s: ${mib(loaded.bytes)} of keys and values`);
  const status = await client.status();
  console.log(`db size ${mib(Number(status.dbSize))}`);

  const idle = probe(client);
  await sleep(PROBE_SECONDS * 1000);
  const baseline = await idle.stop();

  const rows: string[][] = [];
  const lat = (label: string, range: number[], put: number[]): void => {
    const r = summary(range);
    const p = summary(put);
    rows.push([
      label,
      `${ms(r.p50)} / ${ms(r.p99)} / ${ms(r.max)}`,
      `${ms(p.p50)} / ${ms(p.p99)} / ${ms(p.max)}`,
      String(range.length),
    ]);
  };
  lat('no scan', baseline.range, baseline.put);
  const results: [string, ScanResult][] = [];
  for (const [label, rate] of [
    [`paced ${mib(RATE)}/s`, RATE],
    ['unpaced (1 GiB/s)', 1024 ** 3],
  ] as const) {
    const r = await scanWith(cluster.endpoints[0]!, client, rate, dir);
    results.push([label, r]);
    lat(`during scan, ${label}`, r.range, r.put);
  }
  console.log('\netcd request latency, p50 / p99 / max (Range = linearizable get of one key):');
  console.log(table([['phase', 'Range', 'Put', 'probes'], ...rows]));
  console.log('\nscans:');
  console.log(
    table([
      [
        'scan',
        'time',
        'MiB/s',
        'keys',
        'bytes (monitor)',
        'bytes (written)',
        'RSS idle',
        'RSS peak',
        'RSS after',
      ],
      ...results.map(([label, r]) => [
        label,
        `${r.scanSeconds.toFixed(1)} s`,
        (r.totalBytes / 1024 / 1024 / r.scanSeconds).toFixed(1),
        String(r.keys),
        String(r.totalBytes),
        String(loaded.bytes),
        mib(r.idleRss),
        mib(r.peakRss),
        mib(r.rssAfter),
      ]),
    ]),
  );
} finally {
  client.close();
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}
