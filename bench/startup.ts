/**
 * Start-up cost and memory of the INSTALLED package, side by side with
 * etcdctl in the same run (issue 8 point 3). Packs the checkout, installs the
 * tarball on each Node of "engines", starts a local 3-member etcd 3.6
 * cluster, then, interleaving the tools so that the machine's load hits both
 * alike:
 *   1. `etcd-monitor --version` against `etcdctl version` (3.6 and Debian's 3.4);
 *   2. `etcd-monitor inspect --features healthy,alarm` against etcdctl's
 *      `endpoint health`, `endpoint status` and `alarm list` run one after
 *      the other (their walls summed, their peak RSS the largest);
 *   3. the daemon with one cluster under write load, RSS over time and
 *      where the memory goes (bench/memory-probe.ts), with the package's
 *      defaults: the issue's case (healthy, alarm, consistency, request
 *      only) and the built-in default features plus consistency and request.
 * The checkout (type stripping of src/) is measured too, for comparison.
 * Prints figures; asserts nothing. Record them in docs/performance.md.
 *   node bench/startup.ts [--runs N] [--daemon-seconds S] [--skip version,inspect,daemon]
 */
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseEndpoint } from '../src/etcd/endpoint.ts';
import { DEFAULT_CLIENT_OPTIONS } from '../src/etcd/types.ts';
import { createV3MemberClient } from '../src/etcd/v3/client.ts';
import { KubeKeyspace } from '../src/cli/demo-keyspace.ts';
import { etcdBinaries } from '../src/testbed/binaries.ts';
import { startEtcdCluster } from '../src/testbed/cluster.ts';
import { freePort } from '../src/testbed/ports.ts';
import {
  engineMajors,
  installGlobal,
  nodeRuntime,
  packTarball,
  tempDir,
  type NodeRuntime,
} from '../test/support/package.ts';
import { mib, quantile, rssBytes } from './support.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    'daemon-seconds': { type: 'string', default: '90' },
    skip: { type: 'string', default: '' },
  },
});
const RUNS = Number(values.runs);
const DAEMON_SECONDS = Number(values['daemon-seconds']);
const SKIP = new Set(values.skip.split(',').filter((p) => p !== ''));
const CHECKOUT_BIN = new URL('../bin/etcd-monitor.js', import.meta.url).pathname;

interface Sample {
  readonly wallMs: number;
  readonly rssKiB: number;
}

/** One run under GNU time (for the peak RSS); the wall is measured here, around the whole process. */
async function measure(
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  dir: string,
): Promise<Sample> {
  const out = join(dir, 'time.txt');
  const t0 = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', out, cmd, ...args], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (c) =>
      c === 0 ? resolve(c) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${c}: ${stderr}`)),
    );
  });
  const wallMs = performance.now() - t0;
  void code;
  return { wallMs, rssKiB: Number((await readFile(out, 'utf8')).trim().split('\n').pop()) };
}

interface Tool {
  readonly name: string;
  /** Commands run one after the other for one sample (etcdctl needs three for what inspect does). */
  readonly steps: readonly (readonly [string, readonly string[]])[];
  readonly env: NodeJS.ProcessEnv;
}

/** Interleaves the tools RUNS times; per tool: median wall (of the summed steps) and median peak RSS (largest step). */
async function compare(
  tools: readonly Tool[],
  dir: string,
): Promise<Map<string, { wall: number; rss: number }>> {
  const walls = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  const rsss = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  // One warm-up round: disk cache and Node's compile cache, as on any second run.
  for (const tool of tools) for (const [cmd, args] of tool.steps) await measure(cmd, args, tool.env, dir);
  for (let i = 0; i < RUNS; i++) {
    for (const tool of tools) {
      let wall = 0;
      let rss = 0;
      for (const [cmd, args] of tool.steps) {
        const s = await measure(cmd, args, tool.env, dir);
        wall += s.wallMs;
        rss = Math.max(rss, s.rssKiB);
      }
      walls.get(tool.name)!.push(wall);
      rsss.get(tool.name)!.push(rss);
    }
  }
  const med = (v: number[]): number =>
    quantile(
      [...v].sort((a, b) => a - b),
      0.5,
    );
  return new Map(tools.map((t) => [t.name, { wall: med(walls.get(t.name)!), rss: med(rsss.get(t.name)!) }]));
}

function table(title: string, results: Map<string, { wall: number; rss: number }>, baseline: string): void {
  const base = results.get(baseline)!;
  console.log(`\n${title} (median of ${RUNS}; ratio to ${baseline})`);
  console.log('| command | wall | × wall | peak RSS |');
  console.log('|---|---|---|---|');
  for (const [name, r] of results)
    console.log(
      `| ${name} | ${r.wall.toFixed(0)} ms | ${(r.wall / base.wall).toFixed(1)}× | ${(r.rss / 1024).toFixed(1)} MiB |`,
    );
}

const dir = await tempDir('etcd-monitor-bench-startup-');
const cluster = await startEtcdCluster({ version: '3.6', members: 3, name: 'benchstartup' });
try {
  console.log(`packing and installing (Node ${engineMajors().join(', ')}) ...`);
  const tarball = await packTarball(dir);
  const installed: { runtime: NodeRuntime; bin: string }[] = [];
  for (const major of engineMajors()) {
    const runtime = await nodeRuntime(major);
    installed.push({ runtime, bin: await installGlobal(runtime, tarball, join(dir, `node${major}`)) });
  }
  const node24 = installed.find((i) => i.runtime.major === 24) ?? installed[0]!;
  const etcdctl36 = etcdBinaries('3.6').etcdctl;
  const endpoints = cluster.endpoints.join(',');
  const envFor = (runtime: NodeRuntime): NodeJS.ProcessEnv => ({ ...process.env, PATH: runtime.path });
  const plainEnv = { ...process.env, ETCDCTL_API: '3' };
  const monitorTools = (args: readonly string[]): Tool[] => [
    ...installed.map((i) => ({
      name: `etcd-monitor ${args[0]} (installed, Node ${i.runtime.version})`,
      steps: [[i.bin, args]] as const,
      env: envFor(i.runtime),
    })),
    {
      name: `etcd-monitor ${args[0]} (checkout, type stripping, Node ${process.versions.node})`,
      steps: [[process.execPath, [CHECKOUT_BIN, ...args]]] as const,
      env: process.env,
    },
  ];
  console.log(
    `etcd 3.6 cluster: ${endpoints}; Node packages: ${installed.map((i) => i.runtime.version).join(', ')}`,
  );

  if (!SKIP.has('version'))
    table(
      '--version',
      await compare(
        [
          { name: 'etcdctl version (3.6)', steps: [[etcdctl36, ['version']]], env: plainEnv },
          { name: 'etcdctl version (Debian 3.4)', steps: [['/usr/bin/etcdctl', ['version']]], env: plainEnv },
          {
            name: 'node -e 0 (Node 24: the floor)',
            steps: [[node24.runtime.node, ['-e', '0']]],
            env: plainEnv,
          },
          ...monitorTools(['--version']),
        ],
        dir,
      ),
      'etcdctl version (3.6)',
    );

  if (!SKIP.has('inspect'))
    table(
      'inspect --features healthy,alarm on a 3-member cluster',
      await compare(
        [
          {
            name: 'etcdctl endpoint health + endpoint status + alarm list (3.6)',
            steps: [
              [etcdctl36, ['--endpoints', endpoints, 'endpoint', 'health']],
              [etcdctl36, ['--endpoints', endpoints, 'endpoint', 'status']],
              [etcdctl36, ['--endpoints', endpoints, 'alarm', 'list']],
            ],
            env: plainEnv,
          },
          ...monitorTools(['inspect', '--endpoints', endpoints, '--features', 'healthy,alarm']),
        ],
        dir,
      ),
      'etcdctl endpoint health + endpoint status + alarm list (3.6)',
    );

  // --- the daemon under write load -----------------------------------------
  if (!SKIP.has('daemon')) await daemonMemory(installed, envFor, dir, cluster.endpoints);
} finally {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}

/**
 * The daemon with one cluster under write load, one variant at a time:
 * each installed Node with the package's defaults, for two feature sets.
 */
async function daemonMemory(
  installed: readonly { runtime: NodeRuntime; bin: string }[],
  envFor: (runtime: NodeRuntime) => NodeJS.ProcessEnv,
  dir: string,
  endpoints: readonly string[],
): Promise<void> {
  const writer = createV3MemberClient(parseEndpoint(endpoints[0]!), DEFAULT_CLIENT_OPTIONS);
  const keyspace = new KubeKeyspace(writer);
  const seeded = await keyspace.seed();
  const load = new AbortController();
  void keyspace.churn(50, load.signal);
  const every5 = (names: readonly string[]): string[] => names.map((n) => `      ${n}: {intervalSeconds: 5}`);
  const configs = {
    // The issue's case: these four and nothing else (`defaults.features` replaces the built-in set).
    'healthy+alarm+consistency+request': [
      'defaults:',
      '  features:',
      ...every5(['healthy', 'alarm', 'consistency', 'request']).map((l) => l.slice(2)),
      'clusters:',
      '  - name: bench',
      `    endpoints: [${endpoints.join(', ')}]`,
    ],
    // A cluster's features add to the built-in defaults (healthy, alarm, quota, topology, certificates, performance).
    'built-in defaults + consistency + request': [
      'clusters:',
      '  - name: bench',
      `    endpoints: [${endpoints.join(', ')}]`,
      '    features:',
      ...every5(['healthy', 'alarm', 'consistency', 'request']),
    ],
  };
  // The probe as plain JavaScript: a .ts file would make the daemon load
  // Node's TypeScript stripper (WebAssembly), which is not the package's memory.
  const probe = join(dir, 'memory-probe.mjs');
  const asJs = async (source: URL): Promise<string> => stripTypeScriptTypes(await readFile(source, 'utf8'));
  await writeFile(
    join(dir, 'resolved-modules.mjs'),
    await asJs(new URL('../test/support/resolved-modules.ts', import.meta.url)),
  );
  await writeFile(
    probe,
    (await asJs(new URL('./memory-probe.ts', import.meta.url))).replace(
      '../test/support/resolved-modules.ts',
      './resolved-modules.mjs',
    ),
  );
  console.log(
    `\ndaemon: 1 cluster (3 members), features every 5 s, ${seeded} keys, 50 writes/s, ${DAEMON_SECONDS} s each, package defaults`,
  );
  console.log('| variant | RSS p50 | RSS max | heap used | new space | code | external+buffers | modules |');
  console.log('|---|---|---|---|---|---|---|---|');
  const breakdowns: string[] = [];
  let first = true;
  for (const [features, lines] of Object.entries(configs)) {
    const config = join(dir, `monitor-${Object.keys(configs).indexOf(features)}.yaml`);
    await writeFile(config, `${lines.join('\n')}\n`);
    for (const v of installed) {
      const name = `Node ${v.runtime.version}, ${features}`;
      const port = await freePort();
      const probeFile = join(dir, `probe-${port}.json`);
      const child = spawn(
        v.bin,
        ['run', '--config', config, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
        {
          env: {
            ...envFor(v.runtime),
            NODE_OPTIONS: `--import ${probe}`,
            MEMORY_PROBE_FILE: probeFile,
            MEMORY_PROBE_SNAPSHOT: first ? '1' : '0',
          },
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
      const samples: number[] = [];
      const t0 = performance.now();
      while (performance.now() - t0 < DAEMON_SECONDS * 1000) {
        await new Promise((r) => setTimeout(r, 1000));
        const rss = await rssBytes(child.pid!).catch(() => NaN);
        // The first 20 s are start-up and first rounds; the rest is the steady state.
        if (performance.now() - t0 > 20_000 && Number.isFinite(rss)) samples.push(rss);
      }
      child.kill('SIGUSR2');
      let report: {
        memoryUsage: NodeJS.MemoryUsage;
        heapSpaces: Record<string, number>;
        modules: number;
        packages: string[];
        topConstructors: [string, number][];
      } | null = null;
      for (let i = 0; i < 100 && report === null; i++) {
        await new Promise((r) => setTimeout(r, 200));
        report = await readFile(probeFile, 'utf8').then(JSON.parse, () => null);
      }
      const exited = new Promise((r) => child.on('close', r));
      child.kill('SIGTERM');
      await exited;
      const sorted = [...samples].sort((a, b) => a - b);
      const mu = report?.memoryUsage;
      console.log(
        `| ${name} | ${mib(quantile(sorted, 0.5))} | ${mib(sorted.at(-1) ?? NaN)} | ${mib(mu?.heapUsed ?? NaN)} | ${mib(report?.heapSpaces['new_space'] ?? NaN)} | ${mib(report?.heapSpaces['code_space'] ?? NaN)} | ${mib((mu?.external ?? NaN) + (mu?.arrayBuffers ?? 0))} | ${report?.modules ?? '?'} |`,
      );
      if (report !== null && report.topConstructors.length > 0) {
        breakdowns.push(
          `heap spaces (${name}): ${Object.entries(report.heapSpaces)
            .map(([k, b]) => `${k} ${mib(b)}`)
            .join(', ')}`,
          `biggest in the heap snapshot: ${report.topConstructors.map(([k, b]) => `${k} ${mib(b)}`).join(', ')}`,
          `packages loaded: ${report.packages.join(', ')}`,
        );
      }
      first = false;
    }
  }
  load.abort();
  writer.close();
  for (const line of breakdowns) console.log(`\n${line}`);
}
