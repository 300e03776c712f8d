/**
 * Scrape storms against the daemon on a real etcd (issue 13, point 1): a
 * burst of concurrent scrapes is answered (200 with every cluster, or 503 at
 * once beyond --max-requests), probes are answered throughout, no inspection
 * round fails, connections and idle clients are bounded; the probe listener
 * (--probe-listen) answers every probe however the main listener is
 * stormed or filled. Outcomes only: durations are the benchmark's business
 * (bench/scrape-storm.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { InspectionServer } from '../../src/inspection-server.ts';
import { featureRegistry } from '../../src/features/index.ts';
import { silentLogger } from '../../src/log.ts';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { DaemonProcess } from '../support/daemon-process.ts';
import { parseExposition } from '../support/scrape.ts';
import { suiteTempDir } from '../../src/testing/temp-dir.ts';

const CLUSTERS = 10;

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 60_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: -1, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: -1, body: '' }));
  });
}

async function sum(port: number, family: string): Promise<number> {
  const r = await get(port, '/metrics');
  assert.equal(r.status, 200);
  let total = 0;
  for (const [series, value] of parseExposition(r.body))
    if (series === family || series.startsWith(`${family}{`)) total += value;
  return total;
}

/**
 * Probes /healthz on the main listener and on the probe listener at once,
 * each on a fresh connection, until stopped; the statuses of each.
 */
function prober(
  main: number,
  listener: number,
): { stop: () => Promise<{ main: number[]; listener: number[] }> } {
  let running = true;
  const statuses = { main: [] as number[], listener: [] as number[] };
  const loop = async (p: number, into: number[]): Promise<void> => {
    while (running) into.push((await get(p, '/healthz')).status);
  };
  const loops = [loop(main, statuses.main), loop(listener, statuses.listener)];
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return statuses;
    },
  };
}

const fds = async (pid: number): Promise<number> => (await readdir(`/proc/${pid}/fd`)).length;

describe('scrape storms', () => {
  let etcd: TestCluster;
  const dir = suiteTempDir('etcd-monitor-storm-');
  let daemon: DaemonProcess;
  let port: number;
  let probePort: number;

  before(async () => {
    etcd = await startEtcdCluster({ version: '3.6', members: 1, name: 'storm' });
    const file = join(dir, 'monitor.yaml');
    const lines = [
      'defaults: {features: {healthy: {intervalSeconds: 5}, alarm: {intervalSeconds: 5}}}',
      'clusters:',
    ];
    for (let i = 0; i < CLUSTERS; i++) lines.push(`  - {name: c${i}, endpoints: [${etcd.endpoints[0]}]}`);
    await writeFile(file, `${lines.join('\n')}\n`);
    daemon = new DaemonProcess([
      '--config',
      file,
      '--listen',
      '127.0.0.1:0',
      '--probe-listen',
      '127.0.0.1:0',
      '--max-requests',
      '4',
      '--max-connections',
      '1500',
    ]);
    const running = await daemon.waitLog(/"msg":"etcd-monitor running"/, 'daemon running');
    assert.ok(running);
    port = Number(/"address":"127\.0\.0\.1:(\d+)"/.exec(daemon.logs)![1]);
    probePort = Number(/"probeAddress":"127\.0\.0\.1:(\d+)"/.exec(daemon.logs)![1]);
    await eventually(
      async () => (await sum(port, 'inspection_feature_runs_total')) >= CLUSTERS * 2,
      'every cluster inspected once',
      60_000,
    );
  });
  after(async () => {
    await daemon?.stop();
    await etcd?.stop();
  });

  test('a burst of 1,000 scrapes: complete answers or 503, probes answered, no failed round', async () => {
    const failedBefore = await sum(port, 'inspection_failed_num');
    const runsBefore = await sum(port, 'inspection_feature_runs_total');
    const rendersBefore = await sum(port, 'etcd_monitor_metrics_renders_total');
    const probing = prober(port, probePort);
    const results = await Promise.all(Array.from({ length: 1000 }, () => get(port, '/metrics')));
    const { main: probes, listener: listenerProbes } = await probing.stop();

    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 503);
    assert.equal(ok.length + refused.length, results.length, 'every request answered 200 or 503');
    assert.ok(ok.length > 0, `200: ${ok.length}, 503: ${refused.length}`);
    for (const r of ok) assert.match(r.body, new RegExp(`clusterName="c${CLUSTERS - 1}"`));
    for (const r of refused) assert.match(r.body, /too many concurrent requests \(limit 4\)/);
    assert.ok(probes.length > 0 && probes.every((s) => s === 200), `probes: ${probes.join(',')}`);
    assert.ok(
      listenerProbes.length > 0 && listenerProbes.every((s) => s === 200),
      `probe listener: ${listenerProbes.join(',')}`,
    );
    // Concurrent scrapes shared renders (at most one per scrape, fewer when they overlap).
    const renders = (await sum(port, 'etcd_monitor_metrics_renders_total')) - rendersBefore;
    assert.ok(renders <= ok.length, `${renders} renders for ${ok.length} scrapes`);
    assert.ok((await sum(port, 'etcd_monitor_http_requests_rejected_total')) >= refused.length);

    // Rounds went on, and none failed.
    await eventually(
      async () => (await sum(port, 'inspection_feature_runs_total')) >= runsBefore + CLUSTERS * 2,
      'a further round of every cluster',
      30_000,
    );
    assert.equal(await sum(port, 'inspection_failed_num'), failedBefore);
  });

  test('a sustained storm on /metrics, /api/v1 and the status page: rounds keep coming, none fails, /healthz answers', async () => {
    const failedBefore = await sum(port, 'inspection_failed_num');
    const runsBefore = await sum(port, 'inspection_feature_runs_total');
    const timedOutBefore = (daemon.logs.match(/round timed out/g) ?? []).length;
    let storming = true;
    const answers = new Map<string, number[]>();
    const routes = ['/metrics', '/api/v1/clusters', '/'];
    const scraper = async (i: number): Promise<void> => {
      while (storming) {
        const path = routes[i % routes.length]!;
        const r = await get(port, path);
        answers.set(path, [...(answers.get(path) ?? []), r.status]);
        if (r.status !== 200) continue;
        // A 200 is always whole: every cluster is in it.
        if (path === '/api/v1/clusters')
          assert.equal((JSON.parse(r.body) as { clusters: unknown[] }).clusters.length, CLUSTERS);
        else assert.match(r.body, new RegExp(`c${CLUSTERS - 1}`));
      }
    };
    const probing = prober(port, probePort);
    const storm = Promise.all(Array.from({ length: 60 }, (_, i) => scraper(i)));
    try {
      // Three whole rounds of every feature of every cluster while the storm goes on.
      await eventually(
        async () => (await sum(port, 'inspection_feature_runs_total')) >= runsBefore + CLUSTERS * 2 * 3,
        'three rounds of every cluster during the storm',
        120_000,
        500,
      );
    } finally {
      storming = false;
      await storm;
    }
    const { main: probes, listener: listenerProbes } = await probing.stop();
    for (const path of routes) {
      const statuses = answers.get(path) ?? [];
      assert.ok(statuses.includes(200), `${path} answered 200 during the storm: ${statuses.length} answers`);
      assert.ok(
        statuses.every((s) => s === 200 || s === 503),
        `${path}: ${statuses.filter((s) => s !== 200 && s !== 503).join(',')}`,
      );
    }
    assert.ok(probes.length > 0 && probes.every((s) => s === 200), `probes: ${probes.join(',')}`);
    assert.ok(
      listenerProbes.length > 0 && listenerProbes.every((s) => s === 200),
      `probe listener: ${listenerProbes.join(',')}`,
    );
    assert.equal(await sum(port, 'inspection_failed_num'), failedBefore, 'no round failed during the storm');
    assert.equal((daemon.logs.match(/round timed out/g) ?? []).length, timedOutBefore);
  });

  test('connections beyond --max-connections are closed: open descriptors stay bounded, the probe listener still answers', async () => {
    const pid = daemon.child.pid!;
    const baseline = await fds(pid);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 1600; i++) {
        const s = connect(port, '127.0.0.1');
        s.on('error', () => {});
        sockets.push(s);
      }
      await eventually(() => sockets.every((s) => s.readyState !== 'opening'), 'every connect settled');
      assert.ok((await fds(pid)) <= baseline + 1500, `${await fds(pid)} descriptors, baseline ${baseline}`);
      // The main listener is full: its /healthz is turned away, the probe listener's is not. A connect
      // settles once the kernel queued it; the daemon may still be accepting the queue, so poll.
      await eventually(
        async () => (await get(port, '/healthz')).status === -1,
        'the main listener at --max-connections turning /healthz away',
      );
      for (let i = 0; i < 20; i++) {
        assert.equal((await get(probePort, '/healthz')).status, 200);
        assert.equal((await get(probePort, '/readyz')).status, 200);
      }
    } finally {
      for (const s of sockets) s.destroy();
    }
    await eventually(async () => (await get(port, '/healthz')).status === 200, 'probes answered again');
  });
});

describe('request bound', () => {
  test('requests beyond --max-requests get 503 at once while a long render is under way; probes never wait', async () => {
    const daemon = new InspectionServer({
      logger: silentLogger(),
      registry: featureRegistry,
      serverLimits: { maxRequests: 1 },
    });
    // Enough clusters that one render spans many event-loop turns.
    for (let i = 0; i < 5000; i++)
      daemon.store.set({
        id: `c${i}`,
        name: `c${i}`,
        endpoints: ['http://127.0.0.1:2379'],
        storageBackend: 'v3',
        configErrors: [],
        labels: {},
        features: {
          healthy: { name: 'healthy', intervalSeconds: 10, runs: i, failures: 0, consecutiveFailures: 0 },
        },
      });
    const address = await daemon.listen('127.0.0.1:0');
    const port = Number(address.split(':').at(-1));
    try {
      const first = get(port, '/metrics');
      // Wait until the first scrape holds the only slot, then try more.
      await eventually(
        async () => (await get(port, '/api/v1/clusters/c1')).status === 503,
        'a second heavy request refused',
      );
      assert.equal((await get(port, '/healthz')).status, 200);
      const r = await first;
      assert.equal(r.status, 200);
      assert.match(r.body, /clusterName="c4999"/);
    } finally {
      await daemon.close();
    }
  });
});

describe('idle and slow clients', () => {
  test('an idle kept-alive connection and a request that never completes are closed by the server', async () => {
    const daemon = new InspectionServer({
      logger: silentLogger(),
      registry: featureRegistry,
      serverLimits: { keepAliveTimeoutMs: 200, requestTimeoutMs: 500 },
    });
    const address = await daemon.listen('127.0.0.1:0');
    const port = Number(address.split(':').at(-1));
    try {
      const closed = (s: Socket): Promise<void> => {
        // Only a flowing socket sees the server's FIN.
        s.resume();
        return new Promise((resolve) => s.once('close', () => resolve()));
      };
      // Kept alive after one answer, then idle.
      const idle = connect(port, '127.0.0.1');
      idle.on('error', () => {});
      const idleClosed = closed(idle);
      idle.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
      // Headers that never end (slowloris).
      const slow = connect(port, '127.0.0.1');
      slow.on('error', () => {});
      const slowClosed = closed(slow);
      slow.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      await Promise.all([idleClosed, slowClosed]);
    } finally {
      await daemon.close();
    }
  });
});
