/**
 * Benchmark of the request feature (prints figures; asserts nothing):
 *  1. the highest write rate a local 3-member test-bed cluster sustains
 *     (bench/load.ts ramp);
 *  2. the initial key count of a pre-filled keyspace;
 *  3. the feature under that write rate: events per second it processes,
 *     its lag (p50/p99, measured from outside: from each write's
 *     acknowledgement to the first 10 ms sample of the feature's processed
 *     revision at or past it),
 *     and the CPU of this process (process.cpuUsage) against a baseline run
 *     of the same load and sampling without the feature;
 *  4. the event-processing cost alone (synthetic events, no etcd).
 * The load runs in a child process (bench/load.ts), so the CPU figures are
 * the feature's (plus the sampler, measured in the baseline).
 *
 * Run: node bench/request.ts [--version 3.6] [--seconds 20] [--keys 20000] [--step-seconds 5]
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { WatchEvent } from '../src/etcd/types.ts';
import { etcdClients } from '../src/engine/clients.ts';
import { ClusterConnection } from '../src/engine/connection.ts';
import { featureRegistry } from '../src/features/index.ts';
import { ResourceLabeler } from '../src/features/request/labels.ts';
import type { RequestDetails } from '../src/features/request/request.ts';
import { PrefixTracker, RequestCounters } from '../src/features/request/tracker.ts';
import { silentLogger } from '../src/log.ts';
import { startEtcdCluster, type EtcdVersion, type TestCluster } from '../src/testbed/index.ts';
import { findMaxRate, loadTable, runLoad, type LoadResult } from './load.ts';
import { mib, summary, table } from './support.ts';
import { testSpec } from '../src/testing/cluster-spec.ts';

const { values: args } = parseArgs({
  options: {
    version: { type: 'string', default: '3.6' },
    seconds: { type: 'string', default: '20' },
    keys: { type: 'string', default: '20000' },
    'step-seconds': { type: 'string', default: '5' },
  },
});
const VERSION = args.version as EtcdVersion;
const SECONDS = Number(args.seconds);
const PREFILL = Number(args.keys);
const SAMPLE_MS = 10;

/**
 * The load generator in a child process (its CPU is not ours), reporting
 * every acknowledged write as "A <revision> <unix ms>".
 */
function loadInChild(
  endpoints: readonly string[],
  concurrency: number,
  seconds: number,
  onAck: (revision: bigint, atEpochMs: number) => void,
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const script = new URL('./load.ts', import.meta.url).pathname;
    const args = [
      script,
      '--endpoints',
      endpoints.join(','),
      '--concurrency',
      String(concurrency),
      '--seconds',
      String(seconds),
      '--json',
      '--acks',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let partial = '';
    let result: LoadResult | undefined;
    child.stdout.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('A ')) {
          const [, rev, at] = line.split(' ');
          onAck(BigInt(rev!), Number(at));
        } else if (line.startsWith('{')) {
          result = JSON.parse(line) as LoadResult;
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0 || result === undefined) reject(new Error(`load generator exited with ${code}`));
      else resolve(result);
    });
  });
}

interface PhaseResult {
  readonly load: LoadResult;
  readonly cpuPercent: number;
  readonly lagMs: number[];
  readonly lagRevisions: number[];
  readonly featureLagSeconds: number[];
  readonly events: number;
  readonly drainMs: number;
}

/**
 * Runs the load in a child for `seconds`. With a session, every SAMPLE_MS
 * its processed revision is read: each acknowledged write's lag is the time
 * from its acknowledgement to the first sample at or past its revision
 * (precise to SAMPLE_MS), and the revision lag is the highest acknowledged
 * revision minus the processed one.
 */
async function phase(
  cluster: TestCluster,
  concurrency: number,
  seconds: number,
  inspect?: () => Promise<RequestDetails>,
): Promise<PhaseResult> {
  let pending: { rev: bigint; at: number }[] = [];
  let highestAck = 0n;
  const lagMs: number[] = [];
  const lagRevisions: number[] = [];
  const featureLagSeconds: number[] = [];
  const events0 = inspect === undefined ? 0 : (await inspect()).eventsProcessed;
  const settle = (processed: bigint): void => {
    const now = performance.timeOrigin + performance.now();
    const rest: { rev: bigint; at: number }[] = [];
    for (const p of pending) {
      if (p.rev <= processed) lagMs.push(Math.max(0, now - p.at));
      else rest.push(p);
    }
    pending = rest;
  };
  let loading = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const loadDone = loadInChild(cluster.endpoints, concurrency, seconds, (rev, at) => {
    if (inspect !== undefined) pending.push({ rev, at });
    if (rev > highestAck) highestAck = rev;
  }).finally(() => (loading = false));
  const sampler = (async () => {
    if (inspect === undefined) return;
    while (loading) {
      const tick = performance.now();
      const d = await inspect();
      settle(d.processedRevision);
      if (highestAck > 0n) lagRevisions.push(Math.max(0, Number(highestAck - d.processedRevision)));
      featureLagSeconds.push(d.lagSeconds);
      const rest = SAMPLE_MS - (performance.now() - tick);
      if (rest > 0) await sleep(rest);
    }
  })();
  const load = await loadDone;
  await sampler;
  const loadEnd = performance.now();
  const cpu = process.cpuUsage(cpu0);
  let drainMs = 0;
  let events = 0;
  if (inspect !== undefined) {
    // Let the watch process the last writes (bounded), still measuring their lag.
    const target = BigInt(load.lastRevision);
    for (;;) {
      const d = await inspect();
      settle(d.processedRevision);
      const now = performance.now();
      if (d.processedRevision >= target || now - loadEnd > 30_000) {
        drainMs = now - loadEnd;
        events = d.eventsProcessed - events0;
        break;
      }
      await sleep(SAMPLE_MS);
    }
  }
  const wall = (loadEnd - t0) / 1000;
  return {
    load,
    cpuPercent: ((cpu.user + cpu.system) / 1e6 / wall) * 100,
    lagMs,
    lagRevisions,
    featureLagSeconds,
    events,
    drainMs,
  };
}

/** The event-processing path alone: synthetic watch responses of 100 events through a tracker. */
function processingCost(): { eventsPerSecond: number } {
  const labeler = new ResourceLabeler(200);
  const tracker = new PrefixTracker('/registry', labeler);
  const count = tracker.beginCount();
  count.addPage(1n, []);
  tracker.finishCount(count);
  const counters = new RequestCounters();
  const kinds = ['pods', 'configmaps', 'secrets', 'events', 'leases'];
  const total = 1_000_000;
  const batches: WatchEvent[][] = [];
  let rev = 2n;
  for (let b = 0; b < total / 100; b++) {
    const batch: WatchEvent[] = [];
    for (let i = 0; i < 100; i++, rev++) {
      const key = Buffer.from(`/registry/${kinds[i % kinds.length]}/ns-${i % 7}/object-${b}-${i}`);
      batch.push({
        type: 'PUT',
        kv: { key, value: Buffer.alloc(0), createRevision: rev, modRevision: rev, version: 1n, lease: 0n },
      });
    }
    batches.push(batch);
  }
  const t0 = performance.now();
  for (const batch of batches) tracker.applyEvents(batch, counters);
  return { eventsPerSecond: total / ((performance.now() - t0) / 1000) };
}

const cluster = await startEtcdCluster({ version: VERSION, members: 3, name: 'benchrq' });
let connection: ClusterConnection | undefined;
try {
  console.log(
    `# Request feature benchmark: etcd ${cluster.binaryVersion}, 3 members on 127.0.0.1, Node ${process.version}\n`,
  );

  console.log(`## Pre-filling ${PREFILL} keys`);
  await runLoad({
    endpoints: cluster.endpoints,
    concurrency: 64,
    durationMs: 300_000,
    maxOps: PREFILL,
    deleteRatio: 0,
    updateRatio: 0,
    runId: 'prefill',
  });

  console.log(
    '\n## Highest sustained write rate (closed-loop ramp, 256-byte values, 50 % creates, 30 % updates, 20 % deletes)\n',
  );
  const ramp = await findMaxRate({
    endpoints: cluster.endpoints,
    stepMs: Number(args['step-seconds']) * 1000,
  });
  console.log(loadTable(ramp.steps));
  console.log(
    `\nhighest: ${ramp.best.opsPerSecond.toFixed(0)} writes/s with ${ramp.best.concurrency} writers`,
  );
  const concurrency = ramp.best.concurrency;

  console.log(`\n## Baseline: the same load for ${SECONDS} s, acknowledgements read, no feature`);
  const baseline = await phase(cluster, concurrency, SECONDS);

  const spec = testSpec(
    'bench',
    cluster.endpoints,
    {},
    { client: { dialTimeoutMs: 5000, requestTimeoutMs: 10_000 } },
  );
  connection = new ClusterConnection(spec, etcdClients, silentLogger());
  await connection.discover(AbortSignal.timeout(10_000));
  const feature = featureRegistry.get('request');
  const rss0 = process.memoryUsage().rss;
  const countStart = performance.now();
  const session = feature.open(connection.handle, feature.parseOptions(undefined));
  const inspect = async (): Promise<RequestDetails> =>
    (await session.inspect(AbortSignal.timeout(10_000))).details as RequestDetails;
  let details = await inspect();
  while (!details.ready) {
    await sleep(5);
    details = await inspect();
  }
  const countMs = performance.now() - countStart;
  const keysCounted = details.prefixes.reduce((n, p) => n + p.keys, 0);
  while ((await inspect()).state !== 'watching') await sleep(5);

  console.log(`## With the request feature: the same load for ${SECONDS} s`);
  const withFeature = await phase(cluster, concurrency, SECONDS, inspect);
  const rss1 = process.memoryUsage().rss;
  details = await inspect();
  await session.close();

  const lag = summary(withFeature.lagMs);
  const lagRev = summary(withFeature.lagRevisions);
  const ownLag = summary(withFeature.featureLagSeconds);
  const writesPerSecond = withFeature.load.opsPerSecond;
  const eventsPerSecond = withFeature.events / withFeature.load.seconds;
  console.log('\n## Results\n');
  console.log(
    table([
      ['figure', 'value'],
      ['initial count', `${keysCounted} keys in ${countMs.toFixed(0)} ms (pages of 1000, keys only)`],
      ['writes/s during the run (load generator)', writesPerSecond.toFixed(0)],
      ['events/s processed by the feature', eventsPerSecond.toFixed(0)],
      ['events processed / writes acknowledged', `${withFeature.events} / ${withFeature.load.ops}`],
      [
        'lag, write acknowledged -> counted: p50 / p99 / max',
        `${lag.p50.toFixed(1)} / ${lag.p99.toFixed(1)} / ${lag.max.toFixed(1)} ms (${withFeature.lagMs.length} writes, sampled every ${SAMPLE_MS} ms)`,
      ],
      ['lag in revisions (highest acknowledged - processed): p50 / p99', `${lagRev.p50} / ${lagRev.p99}`],
      [
        "the feature's own lag estimate (seconds): p50 / p99",
        `${ownLag.p50.toFixed(3)} / ${ownLag.p99.toFixed(3)}`,
      ],
      ['caught up after the load stopped in', `${withFeature.drainMs.toFixed(0)} ms`],
      [
        'CPU of this process, baseline (reading acknowledgements)',
        `${baseline.cpuPercent.toFixed(1)} % of one core`,
      ],
      ['CPU of this process, with the feature', `${withFeature.cpuPercent.toFixed(1)} % of one core`],
      [
        'CPU of the feature (difference)',
        `${(withFeature.cpuPercent - baseline.cpuPercent).toFixed(1)} % of one core`,
      ],
      ['RSS growth while watching', mib(rss1 - rss0)],
      [
        'watch restarts / re-counts / duplicates skipped',
        `${details.watchRestarts} / ${details.recounts} / ${details.duplicatesSkipped}`,
      ],
      ['baseline writes/s (same load, no feature)', baseline.load.opsPerSecond.toFixed(0)],
    ]),
  );
  const cost = processingCost();
  console.log(
    `\nEvent processing alone (synthetic, no etcd): ${(cost.eventsPerSecond / 1e6).toFixed(2)} M events/s on one core.`,
  );
} finally {
  await connection?.close();
  await cluster.stop();
}
