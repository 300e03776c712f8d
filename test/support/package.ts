/**
 * The package as users get it: `npm pack` of the checkout, installed into a
 * fresh prefix outside it, run on each Node.js version of package.json's
 * "engines" (binaries from the `node@VERSION` npm packages, pinned in
 * hack/versions.env and cached like the etcd builds). Shared by the
 * pack-and-install test, the image test and the start-up benchmark.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir, readVersionsEnv, REPO_ROOT } from '../../src/testbed/binaries.ts';
import { eventually } from '../../src/testing/wait.ts';
import { family, scrape } from './scrape.ts';

const run = promisify(execFile);

export interface NodeRuntime {
  readonly major: number;
  readonly version: string;
  /** Absolute path of the `node` binary. */
  readonly node: string;
  /** PATH with this node first (for `#!/usr/bin/env node` and npm's scripts). */
  readonly path: string;
}

/** The majors package.json's "engines" admits, e.g. "^22.19.0 || ^24.0.0" -> [22, 24]. */
export function engineMajors(): number[] {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    engines?: { node?: string };
  };
  const range = pkg.engines?.node;
  if (range === undefined) throw new Error('package.json has no engines.node');
  return range.split('||').map((part) => {
    const m = /^\s*\^(\d+)\.\d+\.\d+\s*$/.exec(part);
    if (m === null) throw new Error(`engines.node: "${part.trim()}" is not ^MAJOR.MINOR.PATCH`);
    return Number(m[1]);
  });
}

/** Node `major`, installed from npm (`node@VERSION`) into the cache once. */
export async function nodeRuntime(major: number): Promise<NodeRuntime> {
  const version = readVersionsEnv()[`NODE_${major}_VERSION`];
  if (version === undefined) throw new Error(`hack/versions.env has no NODE_${major}_VERSION`);
  const dir = join(cacheDir(), 'node', `v${version}`);
  const node = join(dir, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node)) {
    // Installed beside the final directory, then renamed: a half-installed
    // runtime is never taken for a cached one.
    mkdirSync(dirname(dir), { recursive: true });
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    await run(
      'npm',
      ['install', '--prefix', tmp, '--no-save', '--no-audit', '--no-fund', `node@${version}`],
      {
        timeout: 300_000,
      },
    );
    if (!existsSync(node)) rmSync(dir, { recursive: true, force: true }); // a stale, incomplete one
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another test process installed the same version meanwhile: use that one.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(node)) throw err;
    }
  }
  return { major, version, node, path: `${dirname(node)}:${process.env['PATH'] ?? '/usr/bin:/bin'}` };
}

/** `npm pack` of the checkout (its prepack builds dist/); returns the tarball's path. */
export async function packTarball(destination: string): Promise<string> {
  const { stdout } = await run('npm', ['pack', '--loglevel=warn', '--pack-destination', destination], {
    cwd: REPO_ROOT,
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    // The build's own output (tsc errors) is what explains a failure.
    throw new Error(`npm pack failed: ${err.stdout ?? ''}${err.stderr ?? ''}`.trim());
  });
  const name = stdout.trim().split('\n').pop() ?? '';
  if (!name.endsWith('.tgz')) throw new Error(`npm pack printed no tarball name: ${stdout}`);
  return join(destination, name);
}

/** The files in a tarball, without the leading "package/". */
export async function tarballFiles(tarball: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', tarball], { maxBuffer: 16 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^package\//, ''));
}

const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

/** `npm install -g --prefix PREFIX TARBALL` on `runtime`; returns the bin path. */
export async function installGlobal(runtime: NodeRuntime, tarball: string, prefix: string): Promise<string> {
  await run('npm', ['install', '-g', '--prefix', prefix, ...NPM_FLAGS, tarball], {
    env: { ...process.env, PATH: runtime.path },
    timeout: 600_000,
  });
  return join(prefix, 'bin', 'etcd-monitor');
}

/** A fresh project that depends on the tarball; returns node_modules/.bin/etcd-monitor. */
export async function installAsDependency(
  runtime: NodeRuntime,
  tarball: string,
  project: string,
): Promise<string> {
  mkdirSync(project, { recursive: true });
  await run('npm', ['init', '-y'], { cwd: project, env: { ...process.env, PATH: runtime.path } });
  await run('npm', ['install', ...NPM_FLAGS, tarball], {
    cwd: project,
    env: { ...process.env, PATH: runtime.path },
    timeout: 600_000,
  });
  return join(project, 'node_modules', '.bin', 'etcd-monitor');
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join('/tmp', prefix));
}

/** A daemon started from an installed or staged package: its stderr so far and its exit code. */
export interface StartedDaemon {
  readonly child: ChildProcess;
  stderr(): string;
  readonly exited: Promise<number | null>;
}

export function startDaemon(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): StartedDaemon {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

/** Polls the daemon's /metrics until inspection_etcd_endpoint_healthy has series, and returns them. */
export function healthySeries(port: number): Promise<Map<string, number>> {
  return eventually(
    async () => {
      const series = family(await scrape(`127.0.0.1:${port}`), 'inspection_etcd_endpoint_healthy');
      return series.size > 0 && series;
    },
    'inspection_etcd_endpoint_healthy on /metrics',
    120_000,
    200,
  );
}
