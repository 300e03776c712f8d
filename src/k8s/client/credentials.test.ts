import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialError, RequestCredentials } from './credentials.ts';
import type { ExecPlugin } from './kubeconfig.ts';

const SECRET = 'hunter2-plugin-secret';

describe('an exec credential plugin that fails', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-exec-'));
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** Runs a real plugin (a shell script with this body) through RequestCredentials; the error it gives. */
  async function failure(body: string, overrides: Partial<ExecPlugin> = {}): Promise<CredentialError> {
    const command = join(dir, `plugin-${Math.random().toString(36).slice(2)}`);
    await writeFile(command, `#!/bin/sh\n${body}\n`);
    await chmod(command, 0o755);
    const exec: ExecPlugin = {
      apiVersion: 'client.authentication.k8s.io/v1',
      command,
      args: [`--password=${SECRET}`],
      env: {},
      installHint: undefined,
      provideClusterInfo: false,
      ...overrides,
    };
    const credentials = new RequestCredentials({
      server: 'https://127.0.0.1:6443',
      tls: {},
      credentials: { type: 'exec', exec },
      source: 'test',
    });
    const err = await credentials.get().then(
      () => assert.fail('the plugin should have failed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CredentialError, String(err));
    // Neither its error output nor its arguments are quoted, whatever the failure.
    assert.doesNotMatch(err.message, new RegExp(SECRET));
    return err;
  }

  test('its error output is not quoted (it may hold a token): exit code and where to look instead', async () => {
    const err = await failure(`echo "error: login failed for token ${SECRET}" >&2; exit 3`);
    assert.match(
      err.message,
      /exec credential plugin .*plugin-\w+ failed: exit code 3; its error output \(\d+ characters\) is not shown, as it may hold credentials: run the kubeconfig's user.exec command by hand, with the same environment, to see why/,
    );
  });

  test('killed by a signal, silent: said so', async () => {
    const err = await failure('kill -9 $$');
    assert.match(err.message, /failed: killed by SIGKILL; it wrote no error output/);
  });

  test('missing: not found, with the install hint of the kubeconfig', async () => {
    const err = await failure('exit 0', {
      command: join(dir, 'no-such-plugin'),
      installHint: 'install it with: apt install the-plugin',
    });
    assert.match(err.message, /no-such-plugin was not found: .*\ninstall it with: apt install the-plugin/);
  });

  test('its output is not an ExecCredential: said, not quoted', async () => {
    const err = await failure(`echo "token ${SECRET}"`);
    assert.match(err.message, /its output is not JSON \(an ExecCredential is expected\)/);
  });
});
