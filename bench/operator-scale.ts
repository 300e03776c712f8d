/**
 * Benchmark of the Kubernetes operator at scale (prints figures; asserts
 * nothing): N EtcdCluster objects (default 1,000, spread over a few
 * namespaces) pointing at a few real 3-member TLS etcd clusters, with the
 * healthy and alarm features at their default intervals; `etcd-monitor
 * operator` runs as a process with the etcd-monitor-operator ServiceAccount
 * of deploy/rbac.yaml and default leader-election durations. Measured:
 *   - time from the operator's start until every EtcdCluster is Running with
 *     Ready, Healthy and AlarmsClear true and every EtcdInspection is Ok;
 *   - the operator's RSS and CPU;
 *   - its API requests in steady state, by verb and resource, over a window
 *     (default 2 minutes) after things settled. The apiserver counts them
 *     itself: apiserver_request_total has no user or user-agent label, so
 *     the operator's ServiceAccount gets a FlowSchema of its own and the
 *     figure is apiserver_flowcontrol_dispatched_requests_total of that
 *     FlowSchema (read from /metrics as admin); the split by verb comes from
 *     the apiserver's audit log, filtered to that ServiceAccount.
 * Run: node bench/operator-scale.ts [--clusters 1000] [--etcd 3] [--namespaces 4] [--window 120] [--settle 45]
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { EtcdCluster, EtcdInspection } from '../src/k8s/api/index.ts';
import { freePort } from '../src/testbed/index.ts';
import { type OperatorBed, sampleRssPeaks, startOperatorBed, terminate } from './operator-bed.ts';
import {
  cpuSeconds,
  mib,
  operatorAudit,
  operatorRequests,
  requestTable,
  rssBytes,
  table,
} from './support.ts';

const { values: args } = parseArgs({
  options: {
    clusters: { type: 'string', default: '1000' },
    etcd: { type: 'string', default: '3' },
    namespaces: { type: 'string', default: '4' },
    /** Long enough to hold one status refresh period (5 minutes) after the fill. */
    window: { type: 'string', default: '360' },
    settle: { type: 'string', default: '45' },
    /** e.g. 256: NODE_OPTIONS=--max-old-space-size=256 for the operator, as a container limit would suggest. */
    'max-old-space-size': { type: 'string' },
    /** --workers of the operator (default: its own default). */
    workers: { type: 'string' },
    /** A directory: the operator writes a V8 CPU profile there when it exits. */
    'cpu-prof': { type: 'string' },
  },
});
const CLUSTERS = Number(args.clusters);
const ETCDS = Number(args.etcd);
const NAMESPACES = Number(args.namespaces);
const WINDOW_S = Number(args.window);
const SETTLE_S = Number(args.settle);

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-bench-operator-'));
  const audit = await operatorAudit(dir);
  let bed: OperatorBed | undefined;
  let operator: ChildProcess | undefined;
  try {
    console.log(`starting ${ETCDS} etcd clusters (3 members, TLS) and kube-apiserver...`);
    bed = await startOperatorBed({
      dir,
      etcds: Array.from({ length: ETCDS }, (_, i) => ({
        version: '3.6',
        members: 3,
        tls: true,
        name: `scale${i}`,
      })),
      apiserverArgs: audit.apiserverArgs,
      namespaces: Array.from({ length: NAMESPACES }, (_, i) => `scale-${i}`),
    });
    const { server, etcds, admin, namespaces, spawnOperator } = bed;
    for (const ns of namespaces) {
      for (const [i, etcd] of etcds.entries()) {
        await admin.secrets.create({
          metadata: { name: `etcd${i}`, namespace: ns },
          data: {
            'ca.crt': b64(etcd.tls!.ca),
            'tls.crt': b64(etcd.tls!.cert),
            'tls.key': b64(etcd.tls!.key),
          },
        });
      }
    }
    console.log(`creating ${CLUSTERS} EtcdClusters in ${NAMESPACES} namespaces...`);
    const t0 = performance.now();
    const names: [string, string][] = Array.from({ length: CLUSTERS }, (_, i) => [
      namespaces[i % NAMESPACES]!,
      `cluster-${String(i).padStart(4, '0')}`,
    ]);
    for (let i = 0; i < names.length; i += 25) {
      await Promise.all(
        names.slice(i, i + 25).map(([ns, name], j) => {
          const e = (i + j) % ETCDS;
          return admin.etcdClusters.create({
            metadata: { name, namespace: ns },
            spec: {
              endpoints: [etcds[e]!.endpoints[0]!],
              tls: { secretName: `etcd${e}` },
              features: { healthy: {}, alarm: {} },
            },
          });
        }),
      );
    }
    console.log(`created in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const port = await freePort();
    const startedAt = new Date();
    const cpuAtStart = 0;
    const oldSpace = args['max-old-space-size'];
    const profile = args['cpu-prof'];
    operator = spawnOperator(
      'operator',
      [
        '--lease-lock-namespace',
        'etcd-monitor',
        '--metrics-addr',
        `127.0.0.1:${port}`,
        ...(args.workers !== undefined ? ['--workers', args.workers] : []),
      ],
      {
        nodeArgs: profile !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [],
        env: {
          ...process.env,
          ...(oldSpace !== undefined && { NODE_OPTIONS: `--max-old-space-size=${oldSpace}` }),
        },
      },
    );
    const pid = operator.pid!;
    const t1 = performance.now();
    const fillPeak = sampleRssPeaks([pid], 1_000);

    // Time to fill: every cluster Running with its conditions, every inspection Ok.
    let filledAfter = NaN;
    let last = '';
    for (;;) {
      // Raw JSON: decoding 3,000 objects with their schemas every second would steal CPU from the operator.
      const items = async <T>(plural: string): Promise<T[]> => {
        const res = await server.request('GET', `/apis/etcdmonitor.dev/v1alpha1/${plural}`);
        const list = res.body as { items?: T[] };
        if (res.status !== 200 || list.items === undefined)
          throw new Error(`list ${plural}: HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
        return list.items;
      };
      let clusters: Pick<EtcdCluster, 'status'>[];
      let inspections: Pick<EtcdInspection, 'status'>[];
      try {
        [clusters, inspections] = await Promise.all([
          items<Pick<EtcdCluster, 'status'>>('etcdclusters'),
          items<Pick<EtcdInspection, 'status'>>('etcdinspections'),
        ]);
      } catch (err) {
        // e.g. 429 "storage is (re)initializing" while the first EtcdInspection enters the watch cache.
        console.log(`  (poll failed: ${err instanceof Error ? err.message.slice(0, 120) : String(err)})`);
        await sleep(1_000);
        continue;
      }
      const ready = clusters.filter((c) => {
        const conds = new Map((c.status?.conditions ?? []).map((x) => [x.type, x.status]));
        return (
          c.status?.phase === 'Running' &&
          c.status.members?.length === 3 &&
          conds.get('Ready') === 'True' &&
          conds.get('Healthy') === 'True' &&
          conds.get('AlarmsClear') === 'True'
        );
      }).length;
      const ok = inspections.filter((i) => i.status?.phase === 'Ok').length;
      const line = `${ready}/${CLUSTERS} clusters filled, ${ok}/${2 * CLUSTERS} inspections Ok`;
      if (line !== last) console.log(`  ${((performance.now() - t1) / 1000).toFixed(1)} s: ${line}`);
      last = line;
      if (ready === CLUSTERS && ok === 2 * CLUSTERS) {
        filledAfter = (performance.now() - t1) / 1000;
        break;
      }
      if (performance.now() - t1 > 600_000) throw new Error(`not filled after 10 minutes: ${line}`);
      await sleep(1_000);
    }
    const rssFilled = await rssBytes(pid);
    const fillRequests = await audit.requests(startedAt, new Date());
    const cpuFilled = (await cpuSeconds(pid)) - cpuAtStart;

    console.log(`settling ${SETTLE_S} s, then measuring ${WINDOW_S} s of steady state...`);
    await sleep(SETTLE_S * 1_000);
    const from = new Date();
    const dispatchedBefore = await operatorRequests(server);
    const cpuBefore = await cpuSeconds(pid);
    const steadyPeak = sampleRssPeaks([pid], 1_000);
    await sleep(WINDOW_S * 1_000);
    const to = new Date();
    steadyPeak.stop();
    fillPeak.stop();
    const dispatchedAfter = await operatorRequests(server);
    const cpuAfter = await cpuSeconds(pid);
    const steadyRequests = await audit.requests(from, to);
    const t2 = performance.now();
    const scrape = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
    const scrapeMs = performance.now() - t2;
    const own = (name: string): number =>
      Number(
        /^(\S+) (\S+)$/m.exec(scrape.split('\n').find((l) => l.startsWith(`${name} `)) ?? '')?.[2] ?? NaN,
      );
    const heapUsed = own('etcd_monitor_nodejs_heap_size_used_bytes');
    const heapTotal = own('etcd_monitor_nodejs_heap_size_total_bytes');

    const minutes = WINDOW_S / 60;
    const steadyTotal = [...steadyRequests.values()].reduce((a, b) => a + b, 0);
    const fillTotal = [...fillRequests.values()].reduce((a, b) => a + b, 0);
    console.log('');
    console.log(
      table([
        ['figure', 'value'],
        [
          'EtcdClusters / EtcdInspections',
          `${CLUSTERS} / ${2 * CLUSTERS} (${NAMESPACES} namespaces, ${ETCDS} etcd clusters of 3 TLS members)`,
        ],
        [
          'operator NODE_OPTIONS, --workers',
          `${oldSpace !== undefined ? `--max-old-space-size=${oldSpace}` : '(none)'}, ${args.workers ?? 'default'}`,
        ],
        ['time until every status is filled', `${filledAfter.toFixed(1)} s`],
        ['requests while filling (audit)', `${fillTotal}`],
        ['CPU while filling', `${cpuFilled.toFixed(1)} s`],
        ['RSS when filled / peak while filling', `${mib(rssFilled)} / ${mib(fillPeak.peaks[0]!)}`],
        ['RSS in steady state (max)', mib(steadyPeak.peaks[0]!)],
        ['JS heap used / total at the end', `${mib(heapUsed)} / ${mib(heapTotal)}`],
        ['CPU in steady state', `${(((cpuAfter - cpuBefore) / WINDOW_S) * 100).toFixed(1)} % of one core`],
        [
          'requests/min in steady state (APF, FlowSchema of the SA)',
          ((dispatchedAfter - dispatchedBefore) / minutes).toFixed(1),
        ],
        ['requests/min in steady state (audit log)', (steadyTotal / minutes).toFixed(1)],
        ['/metrics size, render', `${mib(scrape.length)}, ${scrapeMs.toFixed(0)} ms`],
      ]),
    );
    console.log('');
    console.log('while filling, by verb and resource:');
    console.log(requestTable(fillRequests));
    console.log('');
    console.log(
      `steady state, requests in each minute of the window: ${steadyRequests.perMinute.join(', ')}`,
    );
    console.log('');
    console.log(`steady state, by verb and resource, per minute (window ${WINDOW_S} s):`);
    console.log(requestTable(steadyRequests, minutes));
  } finally {
    const t = performance.now();
    const exit = operator !== undefined ? await terminate(operator) : undefined;
    if (exit !== undefined)
      console.log(
        `operator stopped by SIGTERM in ${((performance.now() - t) / 1000).toFixed(1)} s: exit code ${exit.code}${exit.signal !== null ? `, signal ${exit.signal}` : ''}`,
      );
    await bed?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
