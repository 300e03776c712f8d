/**
 * Scrape storms against `etcd-monitor run` (a child process) inspecting N
 * cluster names on a real etcd: /metrics latency at 1, 10, 50 and 200
 * concurrent scrapers, /healthz latency meanwhile (a fresh connection every
 * 50 ms, like a kubelet), failed and missed inspection rounds, and a burst of
 * 10,000 requests at once: how long until the daemon answers normally again.
 *
 *   node bench/scrape-storm.ts [clusters...]      (default: 100 1000)
 *   ETCD_MONITOR_BIN=/other/checkout/bin/etcd-monitor.js node bench/scrape-storm.ts
 *     measures another build (the "before" figures of docs/performance.md).
 */
import './support.ts';
import { spawn } from 'node:child_process';
import { readdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startEtcdCluster } from '../src/testbed/index.ts';
import { summary } from './support.ts';

const BIN = process.env.ETCD_MONITOR_BIN ?? new URL('../bin/etcd-monitor.js', import.meta.url).pathname;
const CONCURRENCY = [1, 10, 50, 200];
const PHASE_MS = Number(process.env.STORM_PHASE_MS ?? 10_000);
const BURST = 10_000;

interface Get {
  readonly status: number;
  readonly ms: number;
  readonly bytes: number;
}

function get(port: number, path: string, agent: http.Agent | false, timeoutMs = 120_000): Promise<Get> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, bytes }));
      res.on('error', () => resolve({ status: -1, ms: performance.now() - t0, bytes }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: -1, ms: performance.now() - t0, bytes: 0 }));
  });
}

/**
 * Probes /healthz on a fresh connection every 50 ms (like a kubelet) from a
 * process of its own, so the figures are the daemon's and not this one's
 * event loop, busy reading the storm's answers.
 */
const PROBE = `
const http = require('node:http');
const ms = []; let failed = 0; let running = true;
process.on('SIGTERM', () => { running = false; });
(async () => {
  while (running) {
    const t0 = performance.now();
    const status = await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: Number(process.argv[1]), path: '/healthz', agent: false, timeout: 30000 }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(-1));
    });
    if (status === 200) ms.push(performance.now() - t0); else failed++;
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write(JSON.stringify({ ms, failed }));
})();
`;

function healthProbe(port: number): { stop: () => Promise<{ ms: number[]; failed: number }> } {
  const child = spawn(process.execPath, ['-e', PROBE, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      return JSON.parse(out) as { ms: number[]; failed: number };
    },
  };
}

async function counters(
  port: number,
): Promise<{ runs: number; failed: number; renders: number; lag: number }> {
  const r = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode}`)),
        );
      })
      .on('error', reject);
  });
  let runs = 0;
  let failed = 0;
  let renders = 0;
  let lag = 0;
  for (const line of r.split('\n')) {
    if (line.startsWith('etcd_monitor_metrics_renders_total '))
      renders = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('etcd_monitor_nodejs_eventloop_lag_p99_seconds '))
      lag = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('inspection_feature_runs_total{'))
      runs += Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('inspection_failed_num{')) failed += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { runs, failed, renders, lag };
}

async function openFds(pid: number): Promise<number> {
  try {
    return (await readdir(`/proc/${pid}/fd`)).length;
  } catch {
    return NaN;
  }
}

/** The machine's load beside every figure: on shared cores it explains more than the code does. */
const load = (): string => `load ${loadavg()[0]!.toFixed(1)}`;

function fmt(s: ReturnType<typeof summary>): string {
  return `p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).map(Number);
  const etcd = await startEtcdCluster({ version: '3.6', members: 1, name: 'storm' });
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-storm-'));
  try {
    for (const n of sizes.length > 0 ? sizes : [100, 1000]) {
      // 2 s rounds for 100 clusters (the issue's case); 10 s for 1,000 so two shared cores keep up.
      const interval = n <= 100 ? 2 : 10;
      // consistency too for 100 (the issue's 700 KB case); healthy and alarm for 1,000 (as bench/foundation.ts).
      const features = n <= 100 ? ['healthy', 'alarm', 'consistency'] : ['healthy', 'alarm'];
      const file = join(dir, `monitor-${n}.yaml`);
      const lines = [
        `defaults: {features: {${features.map((f) => `${f}: {intervalSeconds: ${interval}}`).join(', ')}}}`,
        'clusters:',
      ];
      for (let i = 0; i < n; i++) lines.push(`  - {name: c${i}, endpoints: [${etcd.endpoints[0]}]}`);
      await writeFile(file, `${lines.join('\n')}\n`);
      const port = await freePort();
      const child = spawn(
        process.execPath,
        [
          BIN,
          'run',
          '--config',
          file,
          '--listen',
          `127.0.0.1:${port}`,
          '--log-level',
          'warn',
          '--log-format',
          'json',
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let logs = '';
      child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
      try {
        for (;;) {
          const r = await get(port, '/readyz', false, 5000);
          if (r.status === 200) break;
          await sleep(200);
        }
        // Every cluster has run each feature at least once.
        for (;;) {
          const c = await counters(port).catch(() => ({ runs: 0 }));
          if (c.runs >= n * features.length) break;
          await sleep(500);
        }
        const size = (await get(port, '/metrics', false)).bytes;
        console.log(
          `\n== ${n} clusters (${features.join(', ')} every ${interval} s), /metrics ${(size / 1024).toFixed(0)} KiB`,
        );
        for (const c of CONCURRENCY) {
          const before = await counters(port);
          const timeoutsBefore = (logs.match(/round timed out/g) ?? []).length;
          const probe = healthProbe(port);
          const agent = new http.Agent({ keepAlive: true, maxSockets: c });
          const latencies: number[] = [];
          let rejected = 0;
          let errors = 0;
          let maxFds = 0;
          const end = performance.now() + PHASE_MS;
          const fdWatch = (async () => {
            while (performance.now() < end) {
              maxFds = Math.max(maxFds, await openFds(child.pid!));
              await sleep(200);
            }
          })();
          const t0 = performance.now();
          await Promise.all(
            Array.from({ length: c }, async () => {
              while (performance.now() < end) {
                const r = await get(port, '/metrics', agent);
                if (r.status === 200) latencies.push(r.ms);
                else if (r.status === 503) rejected++;
                else errors++;
              }
            }),
          );
          const elapsed = performance.now() - t0;
          agent.destroy();
          await fdWatch;
          const health = await probe.stop();
          const after = await counters(port);
          const expected = (n * features.length * elapsed) / 1000 / interval;
          const timeouts = (logs.match(/round timed out/g) ?? []).length - timeoutsBefore;
          console.log(
            `${String(c).padStart(3)} scrapers: ${latencies.length} scrapes (${(latencies.length / (elapsed / 1000)).toFixed(1)}/s), ${fmt(summary(latencies))}; 503: ${rejected}, errors: ${errors}; ` +
              `/healthz ${fmt(summary(health.ms))}, over 100 ms ${health.ms.filter((m) => m >= 100).length} of ${health.ms.length}, failed ${health.failed}; rounds ${after.runs - before.runs} of ~${expected.toFixed(0)} expected, failed ${after.failed - before.failed}, timed out ${timeouts}; renders ${after.renders - before.renders}; event-loop lag p99 ${(after.lag * 1000).toFixed(0)} ms; max fds ${maxFds}; ${load()}`,
          );
        }

        // The burst: 10,000 requests at once, each on its own connection.
        const probe = healthProbe(port);
        const before = await counters(port);
        let maxFds = 0;
        let bursting = true;
        const fdWatch = (async () => {
          while (bursting) {
            maxFds = Math.max(maxFds, await openFds(child.pid!));
            await sleep(100);
          }
        })();
        const timeoutsBefore = (logs.match(/round timed out/g) ?? []).length;
        const t0 = performance.now();
        const results = await Promise.all(Array.from({ length: BURST }, () => get(port, '/metrics', false)));
        const burstMs = performance.now() - t0;
        // Recovery: from the end of the burst until a scrape is served 200 again.
        const r0 = performance.now();
        let recovered = NaN;
        for (;;) {
          const r = await get(port, '/metrics', false, 60_000);
          if (r.status === 200) {
            recovered = performance.now() - r0;
            break;
          }
          if (performance.now() - r0 > 300_000) break;
        }
        bursting = false;
        await fdWatch;
        const health = await probe.stop();
        const after = await counters(port);
        const burstElapsed = performance.now() - t0;
        const expected = (n * features.length * burstElapsed) / 1000 / interval;
        const timeouts = (logs.match(/round timed out/g) ?? []).length - timeoutsBefore;
        const by = (s: number): number => results.filter((r) => r.status === s).length;
        console.log(
          `burst of ${BURST}: all answered in ${(burstMs / 1000).toFixed(1)} s (200: ${by(200)}, 503: ${by(503)}, failed: ${by(-1)}); ` +
            `recovery ${recovered.toFixed(0)} ms; /healthz ${fmt(summary(health.ms))}, over 100 ms ${health.ms.filter((m) => m >= 100).length} of ${health.ms.length}, failed ${health.failed}; ` +
            `rounds ${after.runs - before.runs} of ~${expected.toFixed(0)} expected, failed ${after.failed - before.failed}, timed out ${timeouts}; max fds ${maxFds}; ${load()}`,
        );
      } finally {
        child.kill('SIGTERM');
        const t = performance.now();
        await new Promise((resolve) => child.once('exit', resolve));
        console.log(`SIGTERM to exit: ${(performance.now() - t).toFixed(0)} ms`);
      }
    }
  } finally {
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
