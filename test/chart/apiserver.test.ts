/**
 * The chart on real components. Its rendered manifests (default values and
 * every ci/ values file, plus minimal local CRDs of the Prometheus
 * Operator's kinds) are applied to a real kube-apiserver with RBAC on; the
 * operator then runs with the exact arguments of the rendered Deployment,
 * authenticated as the chart's ServiceAccount, and inspects a TLS + auth
 * etcd cluster whose Secrets lie in a namespace the chart grants
 * (rbac.secretNamespaces), while Secrets elsewhere stay unreadable. The
 * standalone mode runs `etcd-monitor run` with the config file the chart
 * renders, the Secrets laid out as the pod would mount them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { Clients } from '../../src/k8s/client/index.ts';
import { createClients } from '../../src/k8s/client/index.ts';
import {
  freePort,
  startEtcdCluster,
  startKubeApiserver,
  type KubeApiserver,
  type TestCluster,
} from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { BIN, condition, getCluster } from '../e2e/helpers.ts';
import { parseExposition } from '../support/scrape.ts';
import { hostPort } from '../support/specs.ts';
import {
  CHART,
  CI_VALUES,
  find,
  HELM_MAJORS,
  type KubeObject,
  only,
  render,
  renderText,
  runHelm,
} from './helm.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

interface Container {
  args: string[];
}
const containerOf = (deployment: KubeObject): Container =>
  (deployment['spec'] as { template: { spec: { containers: Container[] } } }).template.spec.containers[0]!;
const serviceAccountOf = (deployment: KubeObject): string =>
  (deployment['spec'] as { template: { spec: { serviceAccountName: string } } }).template.spec
    .serviceAccountName;

/**
 * The rendered container's arguments as this test runs them: the pod's
 * namespace, a local port, and any free port for the probe listener.
 */
function localArgs(args: readonly string[], namespace: string, port: number): string[] {
  return args.map((a) =>
    a
      .replace('$(POD_NAMESPACE)', namespace)
      .replace(/^--listen=0\.0\.0\.0:\d+$/, `--listen=127.0.0.1:${port}`)
      .replace(/^--probe-listen=0\.0\.0\.0:\d+$/, '--probe-listen=127.0.0.1:0'),
  );
}

/** The port the probe listener bound, from the "serving" log line. */
const probePortOf = (logs: string): number | undefined => {
  const m = /"probeAddress":"127\.0\.0\.1:(\d+)"/.exec(logs);
  return m === null ? undefined : Number(m[1]);
};

function start(args: readonly string[], children: Set<ChildProcess>): { logs: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let logs = '';
  child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  child.on('exit', () => children.delete(child));
  return { logs: () => logs };
}

async function metrics(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
  return parseExposition(await res.text());
}

describe('the chart on a real kube-apiserver and real etcd', () => {
  let server: KubeApiserver;
  let admin: Clients;
  let etcd: TestCluster;
  let dir: string;
  const children = new Set<ChildProcess>();

  before(async () => {
    [server, etcd] = await Promise.all([
      startKubeApiserver(),
      startEtcdCluster({ version: '3.6', members: 1, tls: true, auth: true, name: 'chartetcd' }),
    ]);
    admin = createClients(server.adminKubeConfig());
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-chart-'));
    const namespaces = ['etcd-monitor', 'em-ha', 'em-standalone', 'etcd-prod', 'etcd-staging', 'other'];
    await server.applyManifests(
      namespaces.map((n) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${n}\n---\n`).join(''),
    );
    // The chart's CRDs (Helm installs crds/ first) and the Prometheus Operator's kinds, as a cluster would have them.
    await server.applyManifests([join(CHART, 'crds'), join(FIXTURES, 'monitoring-crds.yaml')]);
  });
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await admin?.close();
    await Promise.all([server?.stop(), etcd?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('the kube-apiserver accepts every rendered object of every values file (CRDs, RBAC, monitoring kinds included)', async () => {
    const releases: [string, string, string | undefined][] = [
      ['em-default', 'etcd-monitor', undefined],
      ['em-ha', 'em-ha', 'operator-ha-values.yaml'],
      ['em-secrets', 'etcd-monitor', 'operator-secret-namespaces-values.yaml'],
      ['em-standalone', 'em-standalone', 'standalone-tls-values.yaml'],
    ];
    for (const [release, namespace, values] of releases) {
      const text = await renderText(3, {
        release,
        namespace,
        ...(values !== undefined && { valuesFiles: [join(CI_VALUES, values)] }),
      });
      await server.applyManifests(text);
      // Read back as admin: every object is there, in the namespace the chart put it.
      for (const o of await render(3, {
        release,
        namespace,
        ...(values !== undefined && { valuesFiles: [join(CI_VALUES, values)] }),
      })) {
        const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
        const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
        const plural = `${o.kind.toLowerCase()}${o.kind.endsWith('s') ? 'es' : 's'}`.replace(/ys$/, 'ies');
        const cluster = o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding';
        const path = cluster
          ? `${base}/${plural}/${o.metadata.name}`
          : `${base}/namespaces/${o.metadata.namespace}/${plural}/${o.metadata.name}`;
        const res = await server.request('GET', path);
        assert.equal(res.status, 200, `${release}: ${o.kind} ${o.metadata.name} (${path})`);
      }
    }
  });

  it('helm install and helm uninstall work with Helm 3 and Helm 4 against the real apiserver', async () => {
    const kubeconfig = join(dir, 'admin-helm.kubeconfig');
    await server.writeKubeconfig(server.adminToken, kubeconfig);
    for (const major of HELM_MAJORS) {
      const release = `em-helm${major}`;
      const common = ['--kubeconfig', kubeconfig, '--namespace', release];
      const install = await runHelm(major, [
        'install',
        release,
        CHART,
        ...common,
        '--create-namespace',
        '--values',
        join(CI_VALUES, 'operator-ha-values.yaml'),
      ]);
      assert.equal(install.code, 0, `helm ${major} install: ${install.stderr}`);
      const status = await runHelm(major, ['status', release, ...common, '--output', 'json']);
      assert.equal((JSON.parse(status.stdout) as { info: { status: string } }).info.status, 'deployed');
      const deployment = await server.request(
        'GET',
        `/apis/apps/v1/namespaces/${release}/deployments/${release}-etcd-monitor-operator`,
      );
      assert.equal(deployment.status, 200, `helm ${major}: the Deployment exists`);
      const rule = await server.request(
        'GET',
        `/apis/monitoring.coreos.com/v1/namespaces/${release}/prometheusrules/${release}-etcd-monitor`,
      );
      assert.equal(rule.status, 200, `helm ${major}: the PrometheusRule exists`);
      const uninstall = await runHelm(major, ['uninstall', release, ...common]);
      assert.equal(uninstall.code, 0, `helm ${major} uninstall: ${uninstall.stderr}`);
      const gone = await server.request(
        'GET',
        `/apis/rbac.authorization.k8s.io/v1/clusterroles/${release}-etcd-monitor-etcdcluster-controller`,
      );
      assert.equal(gone.status, 404, `helm ${major}: uninstall removes the cluster-wide objects`);
    }
  });

  it("the operator runs with the rendered arguments as the chart's ServiceAccount, reading Secrets only where granted", async () => {
    const release = { release: 'etcd-monitor', namespace: 'etcd-monitor' };
    const setJson = {
      'rbac.secretNamespaces': ['etcd-prod'],
      metricPrefix: 'kstone_',
      'operator.leaderElection': {
        enabled: true,
        leaseDuration: '4s',
        renewDeadline: '2s',
        retryPeriod: '500ms',
      },
    };
    const objects = await render(3, { ...release, setJson });
    await server.applyManifests(await renderText(3, { ...release, setJson }));
    const deployment = only(objects, 'Deployment');
    const account = serviceAccountOf(deployment);
    assert.equal(find(objects, 'ServiceAccount', account).length, 1, 'the chart creates the ServiceAccount');

    const token = await server.serviceAccountToken('etcd-monitor', account);
    // RBAC as rendered: Secrets of etcd-prod yes, of any other namespace no.
    const canList = async (ns: string) =>
      (await server.request('GET', `/api/v1/namespaces/${ns}/secrets`, undefined, { token })).status;
    assert.equal(await canList('etcd-prod'), 200);
    assert.equal(await canList('other'), 403);
    assert.equal((await server.request('GET', '/api/v1/secrets', undefined, { token })).status, 403);

    const tls = etcd.tls!;
    const auth = etcd.auth!;
    for (const ns of ['etcd-prod', 'other']) {
      await admin.secrets.create({
        metadata: { name: 'etcd-client', namespace: ns },
        type: 'kubernetes.io/tls',
        data: { 'ca.crt': b64(tls.ca), 'tls.crt': b64(tls.cert), 'tls.key': b64(tls.key) },
      });
      await admin.secrets.create({
        metadata: { name: 'etcd-password', namespace: ns },
        data: { username: b64(auth.username), password: b64(auth.password) },
      });
      await admin.etcdClusters.create({
        metadata: { name: 'main', namespace: ns },
        spec: {
          endpoints: [...etcd.endpoints],
          tls: { secretName: 'etcd-client' },
          auth: { secretName: 'etcd-password' },
          features: { healthy: { intervalSeconds: 1 }, alarm: { intervalSeconds: 1 } },
        },
      });
    }

    const kubeconfig = join(dir, 'operator.kubeconfig');
    await server.writeKubeconfig(token, kubeconfig);
    const port = await freePort();
    const args = [
      ...localArgs(containerOf(deployment).args, 'etcd-monitor', port),
      `--kubeconfig=${kubeconfig}`,
    ];
    assert.ok(args.includes('--secret-namespaces=etcd-prod'));
    const operator = start(args, children);

    const series = `kstone_inspection_etcd_endpoint_healthy{clusterName="main",namespace="etcd-prod",endpoint="${hostPort(etcd.endpoints[0]!)}"}`;
    await eventually(
      async () => (await metrics(port)).get(series) === 1,
      `${series} = 1 (operator logs: ${operator.logs().slice(-2000)})`,
      60_000,
      200,
    );
    const prod = await eventually(async () => {
      const c = await getCluster(admin, 'etcd-prod', 'main');
      return condition(c, 'Healthy')?.status === 'True' ? c : undefined;
    }, 'etcd-prod/main Healthy');
    assert.equal(condition(prod, 'Ready')?.status, 'True');
    // The same cluster whose Secrets lie outside the granted namespaces: they are not there for the operator.
    const other = await eventually(async () => {
      const c = await getCluster(admin, 'other', 'main');
      return c?.status?.phase === 'Invalid' ? c : undefined;
    }, 'other/main Invalid');
    assert.match(
      condition(other, 'Ready')?.message ?? '',
      /Secret other\/etcd-client cannot be read: the operator reads Secrets only in namespace etcd-prod \(--secret-namespaces\); add other to --secret-namespaces/,
    );
    assert.ok(
      ![...(await metrics(port)).keys()].some((k) => k.includes('namespace="other"')),
      'nothing inspected with Secrets the operator may not read',
    );

    // A second replica with the same arguments and identity: the chart's Lease Role lets it
    // campaign; it stays a standby (healthy, not ready, no inspection series) while the first leads.
    const port2 = await freePort();
    const standby = start(
      [...localArgs(containerOf(deployment).args, 'etcd-monitor', port2), `--kubeconfig=${kubeconfig}`],
      children,
    );
    const status = async (p: number, path: string) =>
      (await fetch(`http://127.0.0.1:${p}${path}`, { signal: AbortSignal.timeout(5_000) })).status;
    await eventually(
      async () => (await status(port2, '/healthz')) === 200,
      `the second replica serves (logs: ${standby.logs().slice(-2000)})`,
      30_000,
      100,
    );
    assert.deepEqual([await status(port, '/readyz'), await status(port2, '/readyz')], [200, 503]);
    // The kubelet's view, on the rendered probe listener: both alive, only the leader ready.
    const standbyProbes = await eventually(
      () => probePortOf(standby.logs()),
      `the second replica's probe listener (logs: ${standby.logs().slice(-2000)})`,
      30_000,
    );
    const leaderProbes = probePortOf(operator.logs());
    assert.ok(leaderProbes !== undefined, operator.logs().slice(-2000));
    assert.deepEqual(
      [
        await status(leaderProbes, '/healthz'),
        await status(leaderProbes, '/readyz'),
        await status(standbyProbes, '/healthz'),
        await status(standbyProbes, '/readyz'),
      ],
      [200, 200, 200, 503],
    );
    assert.ok(![...(await metrics(port2)).keys()].some((k) => k.startsWith('kstone_inspection_')));
    const lease = await server.request(
      'GET',
      '/apis/coordination.k8s.io/v1/namespaces/etcd-monitor/leases/etcd-monitor-operator',
    );
    assert.equal(lease.status, 200, 'the Lease the rendered --lease-lock-name names');
  });

  it("the standalone daemon runs with the chart's config, its TLS and password Secrets laid out as mounted", async () => {
    const tls = etcd.tls!;
    const auth = etcd.auth!;
    const setJson = {
      mode: 'standalone',
      'standalone.clusters': [
        {
          name: 'prod',
          endpoints: [...etcd.endpoints],
          tls: {
            secretName: 'prod-etcd-client',
            caKey: 'ca.pem',
            certKey: 'client.pem',
            keyKey: 'client-key.pem',
          },
          auth: { username: auth.username, passwordSecret: { name: 'prod-etcd-password' } },
          features: { healthy: { intervalSeconds: 1 }, alarm: { intervalSeconds: 1 } },
        },
      ],
    };
    const objects = await render(4, { release: 'em', namespace: 'em-standalone', setJson });
    const configMap = only(objects, 'ConfigMap');
    const deployment = only(objects, 'Deployment');
    // The Secrets as the kubelet would mount them: one directory per Secret, one file per key.
    const mountRoot = join(dir, 'mounts');
    const secrets: Record<string, Record<string, string>> = {
      'prod-etcd-client': { 'ca.pem': tls.ca, 'client.pem': tls.cert, 'client-key.pem': tls.key },
      'prod-etcd-password': { password: auth.password },
    };
    for (const [name, files] of Object.entries(secrets)) {
      await mkdir(join(mountRoot, name), { recursive: true });
      for (const [key, value] of Object.entries(files)) await writeFile(join(mountRoot, name, key), value);
    }
    const config = (configMap['data'] as Record<string, string>)['config.yaml']!.replaceAll(
      '/etc/etcd-monitor/secrets/',
      `${mountRoot}/`,
    );
    assert.ok(!config.includes(auth.password), 'no password in the ConfigMap');
    const configFile = join(dir, 'config.yaml');
    await writeFile(configFile, config);
    assert.deepEqual((await readdir(mountRoot)).sort(), Object.keys(secrets).sort());
    assert.equal((parseYaml(config) as { clusters: unknown[] }).clusters.length, 1);

    const port = await freePort();
    const args = localArgs(containerOf(deployment).args, 'em-standalone', port).map((a) =>
      a.startsWith('--config=') ? `--config=${configFile}` : a,
    );
    const daemon = start(args, children);
    const series = `inspection_etcd_endpoint_healthy{clusterName="prod",endpoint="${hostPort(etcd.endpoints[0]!)}"}`;
    await eventually(
      async () => (await metrics(port)).get(series) === 1,
      `${series} = 1 (daemon logs: ${daemon.logs().slice(-2000)})`,
      60_000,
      200,
    );
    // The rendered readiness probe's path, on the rendered probe listener.
    const probes = probePortOf(daemon.logs());
    assert.ok(probes !== undefined, daemon.logs().slice(-2000));
    const res = await fetch(`http://127.0.0.1:${probes}/readyz`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(res.status, 200);
  });
});
