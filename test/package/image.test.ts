/**
 * What goes into the image (issue 8 point 5), tested without a registry or a
 * container runtime: the Dockerfile's build stage is replayed in a temporary
 * directory outside the checkout (its COPY and RUN lines), its runtime stage's
 * COPY lines stage the runtime file set, and the ENTRYPOINT runs from there
 * with the stage's ENV as the stage's USER (setpriv, no supplementary groups):
 * `--version`, `inspect` on a real cluster and `run` serving /metrics.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/testbed/binaries.ts';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/cluster.ts';
import { freePort } from '../../src/testbed/ports.ts';
import { healthySeries, nodeRuntime, startDaemon, tempDir, type NodeRuntime } from '../support/package.ts';
import { hostPort } from '../support/specs.ts';

const run = promisify(execFile);

interface Stage {
  readonly workdir: string;
  readonly lines: readonly string[];
}

/** The Dockerfile's stages, continuation lines joined, comments dropped. */
function stages(): Stage[] {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const out: { workdir: string; lines: string[] }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/\s+/g, ' ');
    if (line === '') continue;
    if (line.startsWith('FROM ')) out.push({ workdir: '/', lines: [] });
    const stage = out.at(-1);
    if (stage === undefined) continue;
    if (line.startsWith('WORKDIR ')) stage.workdir = line.slice('WORKDIR '.length);
    stage.lines.push(line);
  }
  return out;
}

/** A path of the image, inside the directory standing for its root file system. */
const inRoot = (root: string, path: string, workdir: string): string =>
  join(root, path.startsWith('/') ? path : join(workdir, path));

function copyInto(from: string, to: string): void {
  if (statSync(from).isDirectory()) cpSync(from, to, { recursive: true });
  else {
    mkdirSync(join(to, '..'), { recursive: true });
    copyFileSync(from, to);
  }
}

let dir: string;
let appRoot: string;
let env: Record<string, string>;
let uid: string;
let gid: string;
let entrypoint: string[];
let cluster: TestCluster;
// Started first and stopped in after() even when the staging below fails: a running etcd keeps the file's process alive.
let startCluster: Promise<TestCluster> | undefined;
let runtime: NodeRuntime;

before(async () => {
  assert.equal(
    process.getuid?.(),
    0,
    'this test runs the image as its non-root user with setpriv, which needs root (like hack/setup.sh)',
  );
  dir = await tempDir('etcd-monitor-image-');
  chmodSync(dir, 0o755); // the non-root user walks into it
  startCluster = startEtcdCluster({ version: '3.6', members: 1, name: 'image' });
  runtime = await nodeRuntime(24);
  const [build, final] = stages();
  assert.ok(build !== undefined && final !== undefined, 'the Dockerfile has a build and a runtime stage');

  // Build stage: its COPY lines from the checkout, its RUN lines with bash.
  const buildRoot = join(dir, 'build');
  let workdir = '/';
  for (const line of build.lines) {
    if (line.startsWith('WORKDIR ')) {
      workdir = line.slice(8);
      mkdirSync(inRoot(buildRoot, workdir, '/'), { recursive: true });
    } else if (line.startsWith('COPY ')) {
      const parts = line.slice(5).split(' ');
      const dest = parts.pop()!;
      for (const src of parts) {
        const to = inRoot(buildRoot, dest, workdir);
        copyInto(join(REPO_ROOT, src), dest.endsWith('/') || parts.length > 1 ? join(to, basename(src)) : to);
      }
    } else if (line.startsWith('RUN ')) {
      await run('bash', ['-ec', line.slice(4)], {
        cwd: inRoot(buildRoot, workdir, '/'),
        env: { ...process.env, PATH: runtime.path },
        timeout: 900_000,
        maxBuffer: 64 * 1024 * 1024,
      });
    }
  }

  // Runtime stage: exactly what its COPY lines bring, plus Node where the base image has it.
  const runRoot = join(dir, 'runtime');
  workdir = '/';
  env = {};
  entrypoint = [];
  for (const line of final.lines) {
    if (line.startsWith('WORKDIR ')) workdir = line.slice(8);
    else if (line.startsWith('ENV ')) {
      for (const m of line.slice(4).matchAll(/(\w+)=("[^"]*"|\S+)/g))
        env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
    } else if (line.startsWith('USER ')) [uid, gid] = line.slice(5).split(':') as [string, string];
    else if (line.startsWith('ENTRYPOINT ')) entrypoint = JSON.parse(line.slice(11)) as string[];
    else if (line.startsWith('COPY ')) {
      const parts = line.slice(5).split(' ');
      const fromBuild = parts[0] === '--from=build';
      if (fromBuild) parts.shift();
      const dest = parts.pop()!;
      for (const src of parts) {
        const from = fromBuild ? inRoot(buildRoot, src, '/') : join(REPO_ROOT, src);
        const to = inRoot(runRoot, dest, workdir);
        copyInto(from, dest.endsWith('/') ? join(to, basename(src)) : to);
      }
    }
  }
  mkdirSync(join(runRoot, 'usr/local/bin'), { recursive: true });
  copyFileSync(runtime.node, join(runRoot, 'usr/local/bin/node'));
  chmodSync(join(runRoot, 'usr/local/bin/node'), 0o755);
  appRoot = join(runRoot, 'app');
  // ENTRYPOINT ["node", "/app/…"]: node from the staged /usr/local/bin, paths into the staged root.
  entrypoint = entrypoint.map((a, i) =>
    i === 0 && a === 'node' ? join(runRoot, 'usr/local/bin/node') : a.startsWith('/') ? join(runRoot, a) : a,
  );
  cluster = await startCluster;
});
after(async () => {
  await (cluster ?? (await startCluster?.catch(() => undefined)))?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** The entrypoint as the image's user, with the image's environment only. */
function asImageUser(args: readonly string[]): [string, string[], { env: NodeJS.ProcessEnv }] {
  return [
    'setpriv',
    [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', ...entrypoint, ...args],
    { env: { ...env, PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/nonexistent' } },
  ];
}

test('the runtime file set: compiled code and production dependencies only, a non-root user', () => {
  assert.notEqual(uid, '0', 'USER is not root');
  assert.match(uid, /^\d+$/, 'USER is numeric (Kubernetes runAsNonRoot can check it)');
  assert.ok(existsSync(join(appRoot, 'dist/cli/main.js')));
  assert.equal(existsSync(join(appRoot, 'src')), false, 'no sources');
  // (@types/node stays: protobufjs declares it as a dependency of its own.)
  for (const devOnly of ['typescript', '@biomejs/biome', 'node', 'pino-pretty', '@grpc/grpc-js'])
    assert.equal(existsSync(join(appRoot, 'node_modules', devOnly)), false, `${devOnly} is not in the image`);
  assert.ok(existsSync(join(appRoot, 'node_modules/protobufjs')), 'production dependencies are');
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  for (const label of ['title', 'version', 'revision', 'created', 'licenses', 'source'])
    assert.match(dockerfile, new RegExp(`org\\.opencontainers\\.image\\.${label}=`), `OCI label ${label}`);
  assert.match(
    dockerfile,
    /^ARG NODE_IMAGE=node:\d+\.\d+\.\d+-/m,
    'the base image is pinned to a Node release',
  );
});

test('--version and inspect, as the image user', async () => {
  const version = (JSON.parse(await readFile(join(appRoot, 'package.json'), 'utf8')) as { version: string })
    .version;
  const [cmd, args, opts] = asImageUser(['--version']);
  assert.equal((await run(cmd, args, opts)).stdout, `${version}\n`);
  const [icmd, iargs, iopts] = asImageUser([
    'inspect',
    '--endpoints',
    cluster.endpoints[0]!,
    '--features',
    'healthy,alarm',
    '-o',
    'json',
  ]);
  const { stdout } = await run(icmd, iargs, { ...iopts, timeout: 120_000 });
  assert.equal((JSON.parse(stdout) as { ok: boolean }).ok, true, stdout);
});

test('run serves /metrics as the image user; pretty logs fall back to JSON without pino-pretty', async () => {
  const config = join(dir, 'monitor.yaml');
  await writeFile(
    config,
    `clusters:\n  - name: image\n    endpoints: [${cluster.endpoints[0]}]\n    features: {healthy: {intervalSeconds: 1}}\n`,
  );
  chmodSync(config, 0o644);
  const port = await freePort();
  const [cmd, args, opts] = asImageUser([
    'run',
    '--config',
    config,
    '--listen',
    `127.0.0.1:${port}`,
    '--log-format',
    'pretty',
  ]);
  const daemon = startDaemon(cmd, args, opts.env);
  const { child } = daemon;
  try {
    const healthy = await healthySeries(port);
    assert.deepEqual(
      [...healthy],
      [[`{clusterName="image",endpoint="${hostPort(cluster.endpoints[0]!)}"}`, 1]],
    );
    // setpriv execs node: the daemon is the child itself, as the image's user.
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s`, 'm'), status);
    assert.match(status, /^Groups:\s*$/m, 'no supplementary groups');
  } finally {
    child.kill('SIGTERM');
  }
  const stderr = daemon.stderr();
  assert.equal(await daemon.exited, 0, stderr);
  assert.match(stderr, /--log-format pretty needs pino-pretty \(not installed\): logging JSON/);
  assert.match(stderr, /\{"level":30,.*"msg":"etcd-monitor running"/);
});
