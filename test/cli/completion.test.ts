/**
 * `etcd-monitor completion bash|zsh|fish`, loaded into the real shells
 * (bash, zsh and fish from Debian, installed by hack/setup.sh --test).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cli } from '../support/cli.ts';
import { suiteTempDir } from '../../src/testing/temp-dir.ts';

const run = promisify(execFile);
const scripts: Record<string, string> = {};
const dir = suiteTempDir('etcd-monitor-completion-');

before(async () => {
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = await cli(['completion', shell]);
    assert.equal(r.code, 0, r.stderr);
    scripts[shell] = join(dir, `etcd-monitor.${shell}`);
    await writeFile(scripts[shell], r.stdout);
  }
});

/** What bash offers for the words typed so far (the last one is being completed). */
async function bashComplete(...words: string[]): Promise<string[]> {
  const script = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _etcd_monitor; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await run('bash', ['-c', script, 'bash', scripts['bash']!, 'etcd-monitor', ...words]);
  return stdout.split('\n').filter((l) => l !== '');
}

test('bash: commands, flags of the command and choices of a flag', async () => {
  assert.deepEqual(await bashComplete('ins'), ['inspect', 'inspection']);
  const flags = await bashComplete('inspect', '--');
  for (const flag of [
    '--endpoints',
    '--write-out',
    '--output',
    '--cacert',
    '--features',
    '--set',
    '--config',
    '--cluster',
  ])
    assert.ok(flags.includes(flag), `${flag} in ${flags.join(' ')}`);
  assert.ok(!flags.includes('--check-config'), 'only the flags of inspect');
  assert.deepEqual(await bashComplete('inspect', '-w', ''), ['table', 'json']);
  assert.deepEqual(await bashComplete('run', '--log-format', 'p'), ['pretty']);
  assert.deepEqual(await bashComplete('completion', ''), ['-h', '--help', 'bash', 'zsh', 'fish']);
});

test('fish: the same, through fish itself', async () => {
  const complete = async (line: string): Promise<string[]> => {
    const { stdout } = await run('fish', [
      '--no-config',
      '-c',
      `source ${scripts['fish']}; complete -C '${line}'`,
    ]);
    return stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('\t')[0] ?? '');
  };
  assert.deepEqual(await complete('etcd-monitor ins'), ['inspect', 'inspection']);
  assert.deepEqual((await complete('etcd-monitor inspect --write-out ')).sort(), ['json', 'table']);
  assert.ok((await complete('etcd-monitor run --li')).includes('--listen'));
});

test('zsh: the script parses and registers the completion function', async () => {
  await run('zsh', ['-n', scripts['zsh']!]);
  const { stdout } = await run('zsh', [
    '-fc',
    `autoload -U compinit; compinit -u -D; source ${scripts['zsh']}; print -r -- $_comps[etcd-monitor]; whence -w _etcd-monitor`,
  ]);
  assert.equal(stdout, '_etcd-monitor\n_etcd-monitor: function\n');
});

test('an unknown shell is a usage error', async () => {
  const r = await cli(['completion', 'tcsh']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown shell "tcsh" \(one of bash, zsh, fish\)/);
});
