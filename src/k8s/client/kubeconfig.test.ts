import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { RequestCredentials } from './credentials.ts';
import { KubeConfigError, loadKubeConfig, type KubeConfigEnv } from './kubeconfig.ts';
import { suiteTempDir } from '../../testing/temp-dir.ts';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

/** A kubeconfig with one cluster, user and context (named as the cluster); the current context defaults to it. */
function kubeconfig(opts: {
  cluster: string;
  server: string;
  user: string;
  token: string;
  current?: string;
}): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: ${opts.cluster}
  cluster: {server: '${opts.server}', certificate-authority: ca.crt}
users:
- name: ${opts.user}
  user: {token: ${opts.token}}
contexts:
- name: ${opts.cluster}
  context: {cluster: ${opts.cluster}, user: ${opts.user}, namespace: ops}
current-context: ${opts.current ?? opts.cluster}
`;
}

describe('loadKubeConfig', () => {
  const dir = suiteTempDir('etcd-monitor-kubeconfig-');
  /** No KUBECONFIG, a home without ~/.kube/config, not in a pod. */
  let nowhere: KubeConfigEnv;

  before(async () => {
    await writeFile(join(dir, 'ca.crt'), PEM);
    await writeFile(
      join(dir, 'config'),
      kubeconfig({ cluster: 'c1', server: 'https://10.0.0.1:6443', user: 'u1', token: 'abc' }),
    );
    await mkdir(join(dir, 'other'));
    await writeFile(join(dir, 'other', 'ca.crt'), PEM.replace('MIIB', 'MIIC'));
    await writeFile(
      join(dir, 'other', 'config'),
      kubeconfig({ cluster: 'c2', server: 'https://10.0.0.2:6443', user: 'u1', token: 'shadowed' }),
    );
    await writeFile(
      join(dir, 'no-context'),
      kubeconfig({ cluster: 'c1', server: 'https://x:1', user: 'u', token: 't', current: 'gone' }),
    );
    const home = join(dir, 'home');
    await mkdir(join(home, '.kube'), { recursive: true });
    await writeFile(
      join(home, '.kube', 'config'),
      kubeconfig({ cluster: 'h', server: 'https://10.0.0.9:6443', user: 'hu', token: 'home' }).replace(
        'certificate-authority: ca.crt',
        `certificate-authority-data: ${Buffer.from(PEM).toString('base64')}`,
      ),
    );
    const sa = join(dir, 'sa');
    await mkdir(sa);
    await writeFile(join(sa, 'token'), 'sa-token\n');
    await writeFile(join(sa, 'ca.crt'), PEM);
    await writeFile(join(sa, 'namespace'), 'monitoring\n');
    nowhere = { env: {}, home: join(dir, 'empty-home') };
  });

  it("--kubeconfig: that file's current context, relative paths resolved next to it", () => {
    const c = loadKubeConfig(
      { kubeconfig: join(dir, 'config') },
      { ...nowhere, env: { KUBECONFIG: join(dir, 'other', 'config') } },
    );
    assert.equal(c.server, 'https://10.0.0.1:6443');
    assert.equal(c.tls.ca, PEM);
    assert.deepEqual(c.credentials, { type: 'token', token: 'abc' });
    assert.equal(c.namespace, 'ops');
    assert.equal(c.source, `--kubeconfig ${join(dir, 'config')}`);
  });

  it('KUBECONFIG: files merged as kubectl merges them, missing ones skipped', () => {
    const list = [join(dir, 'missing'), join(dir, 'other', 'config'), join(dir, 'config')].join(delimiter);
    const c = loadKubeConfig({}, { ...nowhere, env: { KUBECONFIG: list } });
    // The first current-context set wins (c2); user u1 is defined by the first file that names it.
    assert.equal(c.server, 'https://10.0.0.2:6443');
    assert.equal(c.tls.ca, PEM.replace('MIIB', 'MIIC'), 'the CA path is relative to the file that names it');
    assert.deepEqual(c.credentials, { type: 'token', token: 'shadowed' });
    // A context of the second file, with --context.
    const c1 = loadKubeConfig({ context: 'c1' }, { ...nowhere, env: { KUBECONFIG: list } });
    assert.equal(c1.server, 'https://10.0.0.1:6443');
    assert.equal(c1.tls.ca, PEM);
    assert.deepEqual(c1.credentials, { type: 'token', token: 'shadowed' }, 'u1 comes from the first file');
  });

  it('~/.kube/config when neither --kubeconfig nor KUBECONFIG is set (and not when KUBECONFIG is)', () => {
    const home = join(dir, 'home');
    const c = loadKubeConfig({}, { env: {}, home });
    assert.equal(c.server, 'https://10.0.0.9:6443');
    assert.equal(c.tls.ca, PEM, 'certificate-authority-data decoded');
    assert.deepEqual(c.credentials, { type: 'token', token: 'home' });
    assert.throws(
      () => loadKubeConfig({}, { env: { KUBECONFIG: join(dir, 'missing') }, home }),
      /not running in a Kubernetes pod/,
      'a KUBECONFIG naming no existing file falls through to in-cluster, as kubectl does',
    );
  });

  it('in-cluster last: the service environment and the mounted ServiceAccount', () => {
    const c = loadKubeConfig(
      {},
      {
        ...nowhere,
        env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
        serviceAccountDir: join(dir, 'sa'),
      },
    );
    assert.equal(c.server, 'https://[fd00::1]:443');
    assert.equal(c.tls.ca, PEM);
    assert.deepEqual(c.credentials, { type: 'tokenFile', file: join(dir, 'sa', 'token') });
    assert.equal(c.namespace, 'monitoring');
  });

  it('--master overrides the server and keeps the credentials; alone, it is anonymous', () => {
    const c = loadKubeConfig({ kubeconfig: join(dir, 'config'), master: 'https://127.0.0.1:7443/' }, nowhere);
    assert.equal(c.server, 'https://127.0.0.1:7443');
    assert.equal(c.tls.ca, PEM);
    assert.deepEqual(c.credentials, { type: 'token', token: 'abc' });
    const alone = loadKubeConfig({ master: 'https://127.0.0.1:7443' }, nowhere);
    assert.equal(alone.server, 'https://127.0.0.1:7443');
    assert.deepEqual(alone.credentials, { type: 'none' });
  });

  it('reads client certificates, token files, basic auth and exec plugins', async () => {
    const file = join(dir, 'creds');
    await writeFile(join(dir, 'client.crt'), PEM);
    await writeFile(join(dir, 'client.key'), '-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n');
    await writeFile(
      file,
      `clusters: [{name: c, cluster: {server: 'https://h:1', insecure-skip-tls-verify: true, tls-server-name: api}}]
users:
- {name: cert, user: {client-certificate: client.crt, client-key: client.key}}
- {name: tf, user: {tokenFile: sa/token}}
- {name: basic, user: {username: admin, password: pw}}
- name: exec
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./bin/plugin, args: [get], env: [{name: A, value: b}]}
contexts:
- {name: cert, context: {cluster: c, user: cert}}
- {name: tf, context: {cluster: c, user: tf}}
- {name: basic, context: {cluster: c, user: basic}}
- {name: exec, context: {cluster: c, user: exec}}
`,
    );
    const load = (context: string) => loadKubeConfig({ kubeconfig: file, context }, nowhere);
    const cert = load('cert');
    assert.equal(cert.tls.cert, PEM);
    assert.match(cert.tls.key ?? '', /PRIVATE KEY/);
    assert.equal(cert.tls.insecureSkipTLSVerify, true);
    assert.equal(cert.tls.serverName, 'api');
    assert.deepEqual(load('tf').credentials, { type: 'tokenFile', file: join(dir, 'sa', 'token') });
    assert.deepEqual(await new RequestCredentials(load('tf')).get(), {
      authorization: 'Bearer sa-token',
      clientCert: undefined,
    });
    assert.equal(
      (await new RequestCredentials(load('basic')).get()).authorization,
      `Basic ${Buffer.from('admin:pw').toString('base64')}`,
    );
    assert.deepEqual(load('exec').credentials, {
      type: 'exec',
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: join(dir, 'bin', 'plugin'),
        args: ['get'],
        env: { A: 'b' },
        installHint: undefined,
        provideClusterInfo: false,
      },
    });
  });

  it('runs an exec plugin once, caches its token until it expires, and again after a 401', async () => {
    await mkdir(join(dir, 'bin'), { recursive: true });
    const plugin = join(dir, 'bin', 'plugin');
    const runs = join(dir, 'plugin-runs');
    // Counts its runs; the token names the run; expires in an hour.
    await writeFile(
      plugin,
      `#!/bin/sh
echo x >> '${runs}'
n=$(wc -l < '${runs}' | tr -d ' ')
test "$1" = get && test "$A" = b || exit 3
echo "$KUBERNETES_EXEC_INFO" | grep -q '"interactive":false' || exit 4
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"run-%s","expirationTimestamp":"%s"}}' "$n" "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
`,
    );
    await chmod(plugin, 0o755);
    const file = join(dir, 'exec-config');
    await writeFile(
      file,
      `clusters: [{name: c, cluster: {server: 'https://h:1'}}]
users: [{name: e, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ./bin/plugin, args: [get], env: [{name: A, value: b}]}}}]
contexts: [{name: e, context: {cluster: c, user: e}}]
current-context: e
`,
    );
    const creds = new RequestCredentials(loadKubeConfig({ kubeconfig: file }, nowhere));
    const [a, b] = await Promise.all([creds.get(), creds.get()]);
    assert.equal(a.authorization, 'Bearer run-1');
    assert.equal(b.authorization, 'Bearer run-1', 'concurrent requests share one run');
    assert.equal((await creds.get()).authorization, 'Bearer run-1', 'cached until it expires');
    creds.invalidate();
    assert.equal((await creds.get()).authorization, 'Bearer run-2');
  });

  it('says what is wrong, where, and what to do', async () => {
    const fails = (fn: () => unknown, message: RegExp) =>
      assert.throws(fn, (err: unknown) => {
        assert.ok(err instanceof KubeConfigError, String(err));
        assert.match(err.message, message);
        return true;
      });
    fails(
      () => loadKubeConfig({}, nowhere),
      /no kubeconfig found .*not running in a Kubernetes pod .*pass --kubeconfig or --master/,
    );
    fails(
      () =>
        loadKubeConfig(
          {},
          {
            ...nowhere,
            env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '443' },
            serviceAccountDir: join(dir, 'none'),
          },
        ),
      /cannot read .*none.*ServiceAccount token mounted/,
    );
    fails(
      () => loadKubeConfig({ kubeconfig: join(dir, 'missing') }, nowhere),
      /--kubeconfig .*missing: cannot read it/,
    );
    fails(
      () => loadKubeConfig({ kubeconfig: join(dir, 'no-context') }, nowhere),
      /context "gone" is not defined \(contexts: c1\)/,
    );
    fails(
      () => loadKubeConfig({ kubeconfig: join(dir, 'config'), context: 'nope' }, nowhere),
      /context "nope" is not defined/,
    );
    fails(() => loadKubeConfig({ master: '10.0.0.1:6443' }, nowhere), /--master "10.0.0.1:6443"/);
    const bad = async (name: string, text: string, message: RegExp) => {
      await writeFile(join(dir, name), text);
      fails(() => loadKubeConfig({ kubeconfig: join(dir, name) }, nowhere), message);
    };
    await bad('not-yaml', 'clusters: [', /--kubeconfig .*not-yaml: not YAML/);
    await bad(
      'no-server',
      'clusters: [{name: c, cluster: {}}]',
      /no-server: clusters\[0\]\.cluster\.server: required field is missing/,
    );
    await bad(
      'gcp',
      `clusters: [{name: c, cluster: {server: 'https://h:1'}}]
users: [{name: g, user: {auth-provider: {name: gcp}}}]
contexts: [{name: c, context: {cluster: c, user: g}}]
current-context: c`,
      /user "g" .* uses auth-provider "gcp", which etcd-monitor does not support.*exec credential plugin/,
    );
    await bad(
      'half-cert',
      `clusters: [{name: c, cluster: {server: 'https://h:1'}}]
users: [{name: u, user: {client-certificate-data: ${Buffer.from(PEM).toString('base64')}}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c`,
      /user "u" .*needs both client-certificate and client-key/,
    );
    await bad(
      'proxy',
      `clusters: [{name: c, cluster: {server: 'https://h:1', proxy-url: 'http://p:3128'}}]
contexts: [{name: c, context: {cluster: c}}]
current-context: c`,
      /cluster "c" .*proxy-url is not supported/,
    );
  });
});
