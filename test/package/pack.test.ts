/**
 * What a user installs (issue 8 point 2): `npm pack` once, then on every Node
 * version of package.json's "engines", install the tarball with `npm install
 * -g --prefix` and as a dependency of a fresh project, both outside the
 * checkout, and run `--version`, `inspect` against a real etcd cluster and
 * `run` serving /metrics. The installed package has no sources: it runs dist/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/testbed/binaries.ts';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/cluster.ts';
import { freePort } from '../../src/testbed/ports.ts';
import {
  engineMajors,
  healthySeries,
  installAsDependency,
  installGlobal,
  nodeRuntime,
  packTarball,
  startDaemon,
  tarballFiles,
  tempDir,
  type NodeRuntime,
} from '../support/package.ts';
import { hostPort } from '../support/specs.ts';

const run = promisify(execFile);
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

let dir: string;
let tarball: string;
let cluster: TestCluster;

before(async () => {
  dir = await tempDir('etcd-monitor-pack-');
  [tarball, cluster] = await Promise.all([
    packTarball(dir),
    startEtcdCluster({ version: '3.6', members: 1, name: 'pack' }),
  ]);
});
after(async () => {
  await cluster?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

test('the tarball holds the compiled code and the docs, no sources, tests, test bed, benchmarks or Go modules', async () => {
  const files = await tarballFiles(tarball);
  for (const expected of [
    'package.json',
    'README.md',
    'LICENSE',
    'bin/etcd-monitor.js',
    'dist/cli/main.js',
    'dist/cli/main.js.map',
    'dist/THIRD-PARTY-LICENSES.txt',
    'docs/configuration.md',
    'deploy/rbac.yaml',
  ])
    assert.ok(files.includes(expected), `${expected} is in the tarball`);
  assert.ok(
    files.some((f) => f.startsWith('deploy/crds/')),
    'the CRDs are in the tarball',
  );
  const unwanted = files.filter((f) =>
    /(^|\/)(src|test|tests|hack|bench|testbed|testing|node_modules)\/|\.test\.|\.ts$|\.proto$|(^|\/)go\.(mod|sum)$|Dockerfile|\.tgz$/.test(
      f,
    ),
  );
  assert.deepEqual(unwanted, []);
});

for (const major of engineMajors()) {
  describe(`installed on Node ${major}`, () => {
    let runtime: NodeRuntime;
    let globalBin: string;
    let dependencyBin: string;
    before(async () => {
      runtime = await nodeRuntime(major);
      const root = join(dir, `node${major}`);
      globalBin = await installGlobal(runtime, tarball, join(root, 'global'));
      dependencyBin = await installAsDependency(runtime, tarball, join(root, 'project'));
    });
    const env = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: runtime.path });

    test('the installed package runs its compiled code on this Node', async () => {
      const { stdout } = await run(runtime.node, ['--version']);
      assert.equal(stdout.trim(), `v${runtime.version}`);
      for (const root of [
        join(dir, `node${major}`, 'global', 'lib', 'node_modules', 'etcd-monitor'),
        join(dir, `node${major}`, 'project', 'node_modules', 'etcd-monitor'),
      ]) {
        assert.ok(existsSync(join(root, 'dist', 'cli', 'main.js')), `${root} has dist/`);
        assert.equal(existsSync(join(root, 'src')), false, `${root} has no sources`);
      }
    });

    test('demo says it runs from a checkout (the test bed is not in the package)', async () => {
      const demo = (await run(globalBin, ['demo'], { env: env() }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      )) as { code: number; stderr: string };
      assert.equal(demo.code, 1);
      assert.match(demo.stderr, /the demo runs from a checkout of etcd-monitor/);
    });

    test('--version, from the global prefix and from the project', async () => {
      for (const bin of [globalBin, dependencyBin]) {
        const { stdout } = await run(bin, ['--version'], { env: env() });
        assert.equal(stdout, `${VERSION}\n`, bin);
      }
    });

    test('inspect a real etcd cluster', async () => {
      for (const bin of [globalBin, dependencyBin]) {
        const { stdout } = await run(
          bin,
          ['inspect', '--endpoints', cluster.endpoints[0]!, '--features', 'healthy,alarm', '-o', 'json'],
          { env: env(), timeout: 120_000 },
        );
        const report = JSON.parse(stdout) as {
          ok: boolean;
          members: { endpoint: string; healthy: boolean }[];
        };
        assert.equal(report.ok, true, stdout);
        assert.deepEqual(
          report.members.map((m) => [m.endpoint, m.healthy]),
          [[hostPort(cluster.endpoints[0]!), true]],
        );
      }
    });

    test('run serves /metrics and the probe listener (a worker thread in the bundle), stops on SIGTERM', async () => {
      const config = join(dir, `node${major}.yaml`);
      await writeFile(
        config,
        `clusters:\n  - name: pack\n    endpoints: [${cluster.endpoints[0]}]\n    features:\n      healthy: {intervalSeconds: 1}\n      alarm: {intervalSeconds: 1}\n`,
      );
      const port = await freePort();
      const probePort = await freePort();
      const daemon = startDaemon(
        globalBin,
        [
          'run',
          '--config',
          config,
          '--listen',
          `127.0.0.1:${port}`,
          '--probe-listen',
          `127.0.0.1:${probePort}`,
          '--log-level',
          'warn',
        ],
        env(),
      );
      try {
        const healthy = await healthySeries(port);
        assert.deepEqual(
          [...healthy],
          [[`{clusterName="pack",endpoint="${hostPort(cluster.endpoints[0]!)}"}`, 1]],
          daemon.stderr(),
        );
        // The probe worker runs from its source text: the bundle must carry it whole, on every supported Node.
        const ready = await fetch(`http://127.0.0.1:${probePort}/readyz`, {
          signal: AbortSignal.timeout(10_000),
        });
        assert.equal(`${ready.status} ${await ready.text()}`, '200 ready\n', daemon.stderr());
      } finally {
        daemon.child.kill('SIGTERM');
      }
      assert.equal(await daemon.exited, 0, daemon.stderr());
    });
  });
}

test('on Node 20 (end of life, outside "engines") the launcher names the Node it needs, installed and in a checkout', async () => {
  const old = await nodeRuntime(20);
  const installed = join(dir, 'node20', 'global');
  const bin = await installGlobal(old, tarball, installed);
  for (const [launcher, needs] of [
    [bin, /etcd-monitor needs Node\.js 22\.19 or newer 22\.x, or 24 or newer \(this is v20\.\d+\.\d+\)/],
    [
      join(REPO_ROOT, 'bin', 'etcd-monitor.js'),
      /etcd-monitor needs Node\.js 24 or newer \(this is v20\.\d+\.\d+\)/,
    ],
  ] as const) {
    for (const args of [['--version'], ['inspect', '--endpoints', hostPort(cluster.endpoints[0]!)]]) {
      const result = await run(old.node, [launcher, ...args]).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(result.code, 2, `${launcher} ${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, needs);
    }
  }
});
