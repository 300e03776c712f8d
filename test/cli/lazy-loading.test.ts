/**
 * Start-up cost: each command loads only what it uses (issue 8 point 3).
 * The modules are recorded by a resolve hook in the real binary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BIN } from '../support/cli.ts';
import { suiteTempDir } from '../../src/testing/temp-dir.ts';

const RECORDER = new URL('../support/record-modules.ts', import.meta.url).pathname;
const dir = suiteTempDir('etcd-monitor-modules-');

let n = 0;
/** The modules `etcd-monitor ARGS` loads; `exitCode`: the exit status it must end with (default 0). */
async function modulesLoadedBy(args: readonly string[], exitCode = 0): Promise<string[]> {
  const file = join(dir, `modules-${n++}.txt`);
  const run = promisify(execFile)(process.execPath, ['--import', RECORDER, BIN, ...args], {
    env: { ...process.env, RECORD_MODULES_FILE: file },
  });
  const code = await run.then(
    () => 0,
    (err: { code?: unknown }) => err.code,
  );
  assert.equal(code, exitCode, `etcd-monitor ${args.join(' ')}: exit status`);
  return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
}

const kubernetes = (urls: readonly string[]): string[] =>
  urls.filter((u) => /\/src\/k8s\/|\/src\/controllers\/|@kubernetes\/client-node/.test(u));
const commandModules = (urls: readonly string[]): string[] =>
  urls.filter((u) => /\/src\/cli\//.test(u) && !/\/cli\/(main|commands|usage)\.ts$/.test(u));

test('inspect, run and demo never load the Kubernetes client', async () => {
  for (const command of ['inspect', 'run', 'demo']) {
    const loaded = await modulesLoadedBy([command, '--help']);
    assert.ok(
      loaded.some((u) => u.endsWith(`/src/cli/${command}.ts`)),
      `${command}: its own module is loaded`,
    );
    assert.deepEqual(kubernetes(loaded), [], `${command} loads no Kubernetes module`);
  }
});

test('the controllers do load it (the check above can see it)', async () => {
  assert.notDeepEqual(kubernetes(await modulesLoadedBy(['operator', '--help'])), []);
});

test('--help lists every command and --version prints it without importing any command', async () => {
  for (const args of [['--help'], ['help']]) {
    const loaded = await modulesLoadedBy(args);
    assert.deepEqual(commandModules(loaded), [], `${args.join(' ')} imports no command module`);
    assert.ok(loaded.some((u) => u.endsWith('/src/cli/main.ts')));
  }
  // The version is printed by the launcher before anything is imported.
  for (const args of [['--version'], ['-v']])
    assert.deepEqual(
      (await modulesLoadedBy(args)).filter((u) => u.includes('/src/')),
      [],
      `${args.join(' ')} loads no module of ours`,
    );
  const { stdout } = await promisify(execFile)(process.execPath, [BIN, '--help']);
  for (const command of ['run', 'inspect', 'demo', 'operator', 'etcdcluster', 'inspection', 'completion'])
    assert.match(stdout, new RegExp(`^  ${command} +\\S`, 'm'), `${command} listed with its summary`);
});

test('inspect and run load no undici: the etcd HTTP client is node:http', async () => {
  for (const command of ['inspect', 'run']) {
    const loaded = await modulesLoadedBy([command, '--help']);
    assert.ok(
      loaded.some((u) => u.endsWith('/src/etcd/http/agent.ts')),
      `${command}: the etcd HTTP client is loaded (the check can see it)`,
    );
    assert.deepEqual(
      loaded.filter((u) => /\/node_modules\/undici\//.test(u)),
      [],
      `${command} loads no undici module`,
    );
  }
});

test('inspect loads no pino: its silent logger is not a pino logger', async () => {
  const loaded = await modulesLoadedBy(['inspect', '--help']);
  assert.ok(
    loaded.some((u) => u.endsWith('/src/log.ts')),
    'the logging module is loaded (the check can see it)',
  );
  assert.deepEqual(
    loaded.filter((u) => /\/node_modules\/pino\//.test(u)),
    [],
  );
});

test('inspect loads the config loader and its YAML parser only with --config', async () => {
  const yaml = (urls: readonly string[]): string[] =>
    urls.filter((u) => /\/node_modules\/yaml\/|\/src\/config\/loader\.ts$/.test(u));
  // Through the feature checks (--set), to a usage error: no network needed.
  const plain = await modulesLoadedBy(['inspect', '--set', 'quota.warningRatio=2'], 2);
  assert.ok(
    plain.some((u) => u.endsWith('/src/cli/feature-settings.ts')),
    'the --set module is loaded',
  );
  assert.deepEqual(yaml(plain), []);
  const file = join(dir, 'monitor.yaml');
  await writeFile(file, 'clusters: []\n');
  assert.notDeepEqual(yaml(await modulesLoadedBy(['inspect', '--config', file], 2)), []);
});
