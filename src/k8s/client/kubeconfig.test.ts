import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeConfigError, loadKubeConfig } from './kubeconfig.ts';

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: {server: 'https://10.0.0.1:6443', certificate-authority: ca.crt}
users:
- name: u1
  user: {token: abc}
contexts:
- name: ctx
  context: {cluster: c1, user: u1, namespace: ops}
current-context: ctx
`;

describe('loadKubeConfig', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-kubeconfig-'));
    await writeFile(join(dir, 'config'), KUBECONFIG);
    await writeFile(
      join(dir, 'no-context'),
      KUBECONFIG.replace('current-context: ctx', 'current-context: other'),
    );
    const sa = join(dir, 'sa');
    await mkdir(sa);
    await writeFile(join(sa, 'token'), 'sa-token');
    await writeFile(join(sa, 'ca.crt'), 'ca');
    await writeFile(join(sa, 'namespace'), 'monitoring\n');
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("--kubeconfig: that file's current context, relative paths resolved next to it", () => {
    const kc = loadKubeConfig({ kubeconfig: join(dir, 'config') });
    assert.equal(kc.getCurrentCluster()?.server, 'https://10.0.0.1:6443');
    assert.equal(kc.getCurrentCluster()?.caFile, join(dir, 'ca.crt'));
    assert.equal(kc.getCurrentUser()?.token, 'abc');
  });

  it('--master overrides the server and keeps the credentials', () => {
    const kc = loadKubeConfig({ kubeconfig: join(dir, 'config'), master: 'https://127.0.0.1:7443/' });
    assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:7443');
    assert.equal(kc.getCurrentCluster()?.caFile, join(dir, 'ca.crt'));
    assert.equal(kc.getCurrentUser()?.token, 'abc');
  });

  it('--master alone: that server without credentials', () => {
    const kc = loadKubeConfig({ master: 'https://127.0.0.1:7443' });
    assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:7443');
    assert.equal(kc.getCurrentUser()?.token, undefined);
  });

  it('neither: in-cluster, from the service environment and the mounted ServiceAccount', () => {
    const kc = loadKubeConfig(
      {},
      {
        env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
        serviceAccountDir: join(dir, 'sa'),
      },
    );
    assert.equal(kc.getCurrentCluster()?.server, 'https://[fd00::1]:443');
    assert.equal(kc.getCurrentCluster()?.caFile, join(dir, 'sa', 'ca.crt'));
    assert.deepEqual(kc.getCurrentUser()?.authProvider, {
      name: 'tokenFile',
      config: { tokenFile: join(dir, 'sa', 'token') },
    });
    assert.equal(kc.getContextObject(kc.getCurrentContext())?.namespace, 'monitoring');
  });

  it('says what to do when nothing works', () => {
    const fails = (fn: () => unknown, message: RegExp) =>
      assert.throws(fn, (err: unknown) => err instanceof KubeConfigError && message.test(err.message));
    fails(
      () => loadKubeConfig({}, { env: {} }),
      /not running in a Kubernetes pod .*pass --kubeconfig or --master/,
    );
    fails(
      () =>
        loadKubeConfig(
          {},
          {
            env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '443' },
            serviceAccountDir: join(dir, 'none'),
          },
        ),
      /cannot read .*token/,
    );
    fails(() => loadKubeConfig({ kubeconfig: join(dir, 'missing') }), /--kubeconfig .*missing/);
    fails(() => loadKubeConfig({ kubeconfig: join(dir, 'no-context') }), /no current context/);
    fails(() => loadKubeConfig({ master: '10.0.0.1:6443' }), /--master "10.0.0.1:6443"/);
  });
});
