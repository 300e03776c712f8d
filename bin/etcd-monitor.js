#!/usr/bin/env node
// Entry point, plain JavaScript so that any Node runs it far enough to say
// what is wrong. Two layouts:
// - the published package and the image ship dist/ (compiled by `npm run
//   build`) and no src/: that is what runs, on Node 22.19+ or 24;
// - a checkout runs the TypeScript sources directly (type stripping, no
//   build step) on the pinned Node 24, the `node` dev dependency that
//   `npx etcd-monitor` and npm scripts put first on PATH.
// One launcher for both keeps `npx etcd-monitor` working in a checkout
// without a build; the pack test checks the installed package runs dist/.
// Namespace imports only: a named import that an older Node lacks (Node 20
// has no enableCompileCache) fails at link time, before the version check
// below can say what is wrong.
import * as fs from 'node:fs';
import * as nodeModule from 'node:module';
import * as v8 from 'node:v8';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const checkout = fs.existsSync(new URL('../src/cli/main.ts', import.meta.url));
if (checkout ? major < 24 : major < 22 || (major === 22 && minor < 19) || major === 23) {
  process.stderr.write(
    checkout
      ? `etcd-monitor needs Node.js 24 or newer (this is ${process.version}): run it as \`npx etcd-monitor\` from the checkout after \`npm run setup\`.\n`
      : `etcd-monitor needs Node.js 22.19 or newer 22.x, or 24 or newer (this is ${process.version}).\n`,
  );
  process.exit(2);
}
// The version needs no command: printed before anything is loaded.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.version}\n`);
  process.exit(0);
}
// The V8 settings below are for the long-running commands only: they save
// memory over time, and changing any V8 flag at run time (either of these
// alone) cost `inspect` ~30 ms of CPU and wall, a fifth of its run
// (measured side by side; not the garbage collections, and the code cache
// is still accepted: the cost is inside V8). docs/performance.md, issue 8.
const longRunning = ['run', 'demo', 'operator', 'etcdcluster', 'inspection'].includes(args[0] ?? '');
// The young generation starts at V8's initial 1 MiB and stays there
// (growth factor 1) while the process is quiet: 10-25 MiB less RSS than
// V8's own growth (to 16-128 MiB under the daemon's allocation churn). A
// busy process pays for 1 MiB in scavenges: an operator replica with ~500
// clusters used 4.3 ms of CPU per round with it, 3.3-3.6 ms with a larger
// one. So the command lets it grow, one step at a time up to 16 MiB, while
// scavenges take more than a tenth of the event loop's busy time
// (src/young-generation.ts; figures: docs/performance.md, "CPU").
// The growth factor must be set at run time: V8 raises one below 2 given
// on the command line to 2, and reads --max-semi-space-size only at start.
// Not when the user sized the young generation in NODE_OPTIONS or on
// node's command line.
const nodeFlags = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`;
const adaptiveYoungGeneration = longRunning && !/semi-space/.test(nodeFlags);
if (adaptiveYoungGeneration) v8.setFlagsFromString('--semi-space-growth-factor=1');
// The old generation: after each full collection V8 lets the heap grow to
// up to 4x the live data while memory is free, which at 1,000 clusters
// doubled the daemon's RSS for garbage. 1.5x keeps that slack bounded
// without a fixed limit that a larger fleet would run into (the collector
// runs more often: full collections took ~2% of the CPU at 1,000 clusters). Works
// with a --max-old-space-size limit too; not when the user set the growth.
if (longRunning && !/heap-growing-percent/.test(nodeFlags))
  v8.setFlagsFromString('--heap-growing-percent=50');
// V8's code cache on disk (in the OS temp directory): later starts skip
// compiling the modules they load. Start-up figures: docs/performance.md.
nodeModule.enableCompileCache?.();
// Loading the command takes a while (seconds on a busy machine). Until the
// command runs and installs its own handlers (the daemons do so first
// thing), a signal must not kill the process silently, as Node's defaults
// would (SIGHUP: exit 129, nothing said): a SIGHUP changes nothing yet (the
// config is read after loading), SIGTERM and SIGINT end it at once, saying so.
const earlySignals = ['SIGHUP', 'SIGTERM', 'SIGINT'];
const onEarlySignal = (signal) => {
  if (signal === 'SIGHUP') return;
  process.stderr.write(`etcd-monitor: ${signal} while loading, before anything started: exiting\n`);
  process.exit(0);
};
for (const signal of earlySignals) process.on(signal, onEarlySignal);
const releaseEarlySignals = () => {
  for (const signal of earlySignals) process.off(signal, onEarlySignal);
};
const src = checkout ? '../src' : '../dist';
const ext = checkout ? 'ts' : 'js';
const { main } = await import(`${src}/cli/main.${ext}`);
// Released a turn after the command started: by then a daemon has its own
// handlers, so a signal already caught is still delivered (to them).
process.exitCode = await main(process.argv, {
  beforeCommand: () => setImmediate(releaseEarlySignals),
  adaptiveYoungGeneration,
});
