/**
 * Scrape storms against `etcd-monitor run` (a child process) inspecting N
 * cluster names on a real etcd: /metrics latency at 1, 10, 50 and 200
 * concurrent scrapers (spread over child processes), /healthz latency
 * meanwhile from a process of its own (a fresh connection every 50 ms, like
 * a kubelet) on the probe listener (--probe-listen) and on the main
 * listener, failed and missed inspection rounds, and a burst of 10,000
 * requests at once: how long until the daemon answers normally again. The
 * load average beside every phase: on shared cores it explains a lot.
 *
 *   node bench/scrape-storm.ts [clusters...]      (default: 100 1000)
 *   ETCD_MONITOR_BIN=/other/checkout/bin/etcd-monitor.js node bench/scrape-storm.ts
 *     measures another build (the "before" figures of docs/performance.md).
 *   STORM_PHASE_MS (default 10000): length of each sustained phase;
 *   SCRAPER_PROCESSES (default 4): child processes the scrapers are spread over;
 *   STORM_SCRAPERS (default 1,10,50,200): the sustained phases; STORM_BURST (default
 *   10000): the size of the burst, 0 for none;
 *   STORM_CPU_PROF_DIR=DIR: the daemon's CPU profile of the run goes there;
 *   STORM_DAEMON_ARGS="--max-requests 1000": more flags for the daemon (space-separated).
 */
import './support.ts';
import { execFileSync, spawn } from 'node:child_process';
import { readdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startEtcdCluster } from '../src/testbed/index.ts';
import { summary } from './support.ts';

const BIN = process.env.ETCD_MONITOR_BIN ?? new URL('../bin/etcd-monitor.js', import.meta.url).pathname;
const CONCURRENCY = (process.env.STORM_SCRAPERS ?? '1,10,50,200').split(',').map(Number);
const PHASE_MS = Number(process.env.STORM_PHASE_MS ?? 10_000);
const BURST = Number(process.env.STORM_BURST ?? 10_000);
/** STORM_CPU_PROF_DIR=DIR: the daemon writes a V8 CPU profile of the whole run there (node --cpu-prof). */
const CPU_PROF_DIR = process.env.STORM_CPU_PROF_DIR;

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
 * The scrapers, in child processes of their own (SCRAPER_PROCESSES, default
 * 4): one process parsing 200 answers of 400 KiB at once was the bottleneck
 * of earlier runs, not the daemon. argv: port, path, mode ("loop": `n`
 * keep-alive scrapers until `ms` elapsed; "burst": `n` requests at once,
 * each on its own connection). Prints {ms (200s), rejected, errors, elapsed}.
 */
const SCRAPER = `
const http = require('node:http');
const [port, path, mode, n, ms] = process.argv.slice(1);
const agent = mode === 'loop' ? new http.Agent({ keepAlive: true, maxSockets: Number(n) }) : false;
const get = () => new Promise((resolve) => {
  const t0 = performance.now();
  const req = http.get({ host: '127.0.0.1', port: Number(port), path, agent, timeout: 120000 }, (res) => {
    res.on('data', () => {});
    res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t0 }));
    res.on('error', () => resolve({ status: -1 }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => resolve({ status: -1 }));
});
const out = { ms: [], rejected: 0, errors: 0, elapsed: 0 };
const count = (r) => { if (r.status === 200) out.ms.push(r.ms); else if (r.status === 503) out.rejected++; else out.errors++; };
(async () => {
  const t0 = performance.now();
  if (mode === 'loop') {
    const end = t0 + Number(ms);
    await Promise.all(Array.from({ length: Number(n) }, async () => { while (performance.now() < end) count(await get()); }));
  } else {
    for (const r of await Promise.all(Array.from({ length: Number(n) }, get))) count(r);
  }
  out.elapsed = performance.now() - t0;
  if (agent) agent.destroy();
  process.stdout.write(JSON.stringify(out));
})();
`;
const SCRAPER_PROCESSES = Number(process.env.SCRAPER_PROCESSES ?? 4);

interface Scrapes {
  readonly ms: number[];
  rejected: number;
  errors: number;
  elapsed: number;
}

/** Runs `n` scrapers (or a burst of `n`) spread over up to SCRAPER_PROCESSES children; sums what they saw. */
async function scrapers(port: number, mode: 'loop' | 'burst', n: number, ms = 0): Promise<Scrapes> {
  const processes = Math.min(n, SCRAPER_PROCESSES);
  const parts = Array.from(
    { length: processes },
    (_, i) => Math.floor(n / processes) + (i < n % processes ? 1 : 0),
  );
  const results = await Promise.all(
    parts.map(
      (part) =>
        new Promise<Scrapes>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            ['-e', SCRAPER, String(port), '/metrics', mode, String(part), String(ms)],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
          child.once('exit', (code) =>
            code === 0 ? resolve(JSON.parse(out) as Scrapes) : reject(new Error(`scraper exited ${code}`)),
          );
        }),
    ),
  );
  const total: Scrapes = { ms: [], rejected: 0, errors: 0, elapsed: 0 };
  for (const r of results) {
    for (const m of r.ms) total.ms.push(m);
    total.rejected += r.rejected;
    total.errors += r.errors;
    total.elapsed = Math.max(total.elapsed, r.elapsed);
  }
  return total;
}

/**
 * Probes /healthz on a fresh connection every 50 ms (like a kubelet), from
 * a process of its own, on each target at once (argv: name=port ...): the
 * probe listener (--probe-listen) and the main listener. Prints
 * {name: {ms, failed}}.
 */
const PROBE = `
const http = require('node:http');
let running = true;
process.on('SIGTERM', () => { running = false; });
const probe = async (port) => {
  const ms = []; let failed = 0;
  while (running) {
    const t0 = performance.now();
    const status = await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 30000 }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(-1));
    });
    if (status === 200) ms.push(performance.now() - t0); else failed++;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ms, failed };
};
const targets = process.argv.slice(1).map((a) => a.split('='));
Promise.all(targets.map(([, port]) => probe(Number(port)))).then((results) => {
  process.stdout.write(JSON.stringify(Object.fromEntries(targets.map(([name], i) => [name, results[i]]))));
});
`;

type Probed = Record<string, { ms: number[]; failed: number }>;

function healthProbe(targets: Record<string, number>): { stop: () => Promise<Probed> } {
  const child = spawn(
    process.execPath,
    ['-e', PROBE, ...Object.entries(targets).map(([name, port]) => `${name}=${port}`)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      return JSON.parse(out) as Probed;
    },
  };
}

/** "/healthz on the probe listener: p50 ..., over 100 ms N of M, failed F; /healthz on the main listener: ...". */
function probeFigures(probed: Probed): string {
  return Object.entries(probed)
    .map(
      ([name, r]) =>
        `/healthz on the ${name} listener ${fmt(summary(r.ms))}, over 100 ms ${r.ms.filter((m) => m >= 100).length} of ${r.ms.length + r.failed}, failed ${r.failed}`,
    )
    .join('; ');
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
  // An older build (ETCD_MONITOR_BIN) may have no probe listener: then only the main listener is probed.
  const probeListener = execFileSync(process.execPath, [BIN, 'run', '--help'], { encoding: 'utf8' }).includes(
    '--probe-listen',
  );
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
      const probePort = probeListener ? await freePort() : undefined;
      const child = spawn(
        process.execPath,
        [
          ...(CPU_PROF_DIR !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : []),
          BIN,
          'run',
          '--config',
          file,
          '--listen',
          `127.0.0.1:${port}`,
          ...(probePort !== undefined ? ['--probe-listen', `127.0.0.1:${probePort}`] : []),
          ...(process.env.STORM_DAEMON_ARGS ?? '').split(' ').filter((a) => a !== ''),
          '--log-level',
          'warn',
          '--log-format',
          'json',
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      const targets = { ...(probePort !== undefined && { probe: probePort }), main: port };
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
          const probe = healthProbe(targets);
          let maxFds = 0;
          let storming = true;
          const fdWatch = (async () => {
            while (storming) {
              maxFds = Math.max(maxFds, await openFds(child.pid!));
              await sleep(200);
            }
          })();
          const storm = await scrapers(port, 'loop', c, PHASE_MS);
          storming = false;
          const latencies = storm.ms;
          const elapsed = storm.elapsed;
          await fdWatch;
          const health = await probe.stop();
          const after = await counters(port);
          const expected = (n * features.length * elapsed) / 1000 / interval;
          const timeouts = (logs.match(/round timed out/g) ?? []).length - timeoutsBefore;
          console.log(
            `${String(c).padStart(3)} scrapers: ${latencies.length} scrapes (${(latencies.length / (elapsed / 1000)).toFixed(1)}/s), ${fmt(summary(latencies))}; 503: ${storm.rejected}, errors: ${storm.errors}; ` +
              `${probeFigures(health)}; rounds ${after.runs - before.runs} of ~${expected.toFixed(0)} expected, failed ${after.failed - before.failed}, timed out ${timeouts}; renders ${after.renders - before.renders}; event-loop lag p99 since the last scrape (about 1 s) ${(after.lag * 1000).toFixed(0)} ms; max fds ${maxFds}; ${load()}`,
          );
        }

        // The burst: 10,000 requests at once, each on its own connection.
        if (BURST === 0) continue;
        const probe = healthProbe(targets);
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
        const burst = await scrapers(port, 'burst', BURST);
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
        console.log(
          `burst of ${BURST}: all answered in ${(burstMs / 1000).toFixed(1)} s (200: ${burst.ms.length}, 503: ${burst.rejected}, failed: ${burst.errors}); ` +
            `recovery ${recovered.toFixed(0)} ms; ${probeFigures(health)}; ` +
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
