/**
 * The Helm chart without a cluster, with Helm 3 and Helm 4 (both built from
 * the Go module proxy): `helm lint --strict` and `helm template` with the
 * default values and every realistic values file of charts/etcd-monitor/ci/;
 * the objects each renders; values the schema or the chart must reject, with
 * the message a user sees; the two Helm versions render the same objects;
 * deploy/ and the chart are one source (hack/gen-deploy.ts --check).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import {
  CHART,
  CI_VALUES,
  find,
  HELM_MAJORS,
  type KubeObject,
  only,
  render,
  renderError,
  ROOT,
  runHelm,
} from './helm.ts';

const ciFiles = async (): Promise<string[]> =>
  (await readdir(CI_VALUES))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(CI_VALUES, f));

interface Container {
  args: string[];
  image: string;
  ports: { name: string; containerPort: number }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  securityContext: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken: boolean;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string }; configMap?: { name: string } }[];
  affinity?: unknown;
  topologySpreadConstraints?: unknown[];
}
interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}
const deploymentSpec = (o: KubeObject): DeploymentSpec => o['spec'] as DeploymentSpec;

/** Rules of a Role or ClusterRole as comparable strings. */
function rulesOf(o: KubeObject | undefined): string[] {
  const rules = (o?.['rules'] ?? []) as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  return rules.map((r) => `${r.apiGroups.join(',')}|${r.resources.join(',')}|${r.verbs.join(',')}`).sort();
}

/** Labels Helm adds that a hand-written manifest does not carry. */
function without<T extends Record<string, unknown>>(obj: T, keys: readonly string[]): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k))) as Partial<T>;
}

describe('chart files', () => {
  it('deploy/ and the chart are one source: gen-deploy --check finds nothing out of date', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(ROOT, 'hack', 'gen-deploy.ts'), '--check'],
        { timeout: 120_000 },
        (err, _stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code ?? 1), stderr }),
      );
    });
    assert.equal(r.code, 0, r.stderr);
  });

  it("the chart's version and appVersion are the package's version", async () => {
    const chart = parseYaml(await readFile(join(CHART, 'Chart.yaml'), 'utf8')) as Record<string, string>;
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart['version'], pkg.version);
    assert.equal(chart['appVersion'], pkg.version);
  });

  it("deploy/rbac.yaml grants exactly the chart's rules (split controllers and operator alike)", async () => {
    const objects = await render(3);
    const deployRbac = parseAllDocuments(await readFile(join(ROOT, 'deploy', 'rbac.yaml'), 'utf8')).map(
      (d) => d.toJS() as KubeObject,
    );
    for (const name of ['etcd-monitor-etcdcluster-controller', 'etcd-monitor-inspection-controller']) {
      const chartRole = find(objects, 'ClusterRole', name)[0];
      const deployRole = find(deployRbac, 'ClusterRole', name)[0];
      assert.ok(chartRole && deployRole, name);
      assert.deepEqual(rulesOf(deployRole), rulesOf(chartRole), name);
      // The operator's ServiceAccount is bound to both roles in both places.
      const subjects = (o: KubeObject | undefined) =>
        ((o?.['subjects'] ?? []) as { name: string }[]).map((s) => s.name);
      assert.ok(subjects(find(deployRbac, 'ClusterRoleBinding', name)[0]).includes('etcd-monitor-operator'));
      assert.deepEqual(subjects(find(objects, 'ClusterRoleBinding', name)[0]), ['etcd-monitor-operator']);
    }
    assert.deepEqual(
      rulesOf(find(deployRbac, 'Role', 'etcd-monitor-leader-election')[0]),
      rulesOf(find(objects, 'Role', 'etcd-monitor-leader-election')[0]),
    );
  });

  it("the split-controller manifests of deploy/ run the chart's image with its pod and container security", async () => {
    const chartPod = deploymentSpec(only(await render(3), 'Deployment')).template.spec;
    for (const file of ['etcdcluster-controller.yaml', 'inspection-controller.yaml']) {
      const objects = parseAllDocuments(await readFile(join(ROOT, 'deploy', file), 'utf8')).map(
        (d) => d.toJS() as KubeObject,
      );
      const pod = deploymentSpec(only(objects, 'Deployment')).template.spec;
      assert.equal(pod.containers[0]!.image, chartPod.containers[0]!.image, file);
      assert.deepEqual(pod.containers[0]!.securityContext, chartPod.containers[0]!.securityContext, file);
      // The probes on the probe listener, as the chart's.
      const c = pod.containers[0]!;
      assert.ok(c.args.includes('--probe-listen=0.0.0.0:8081'), file);
      assert.ok(
        c.ports.some((p) => p.name === 'probes' && p.containerPort === 8081),
        file,
      );
      assert.deepEqual(
        [c.livenessProbe.httpGet.port, c.readinessProbe.httpGet.port],
        ['probes', 'probes'],
        file,
      );
      // The chart also pins the group; everything deploy/ sets is the same.
      assert.deepEqual(
        pod.securityContext,
        without(chartPod.securityContext, ['runAsGroup', 'fsGroup']),
        file,
      );
    }
  });
});

for (const major of HELM_MAJORS) {
  describe(`Helm ${major}`, () => {
    it('lints the chart strictly with the default values and every ci/ values file', async () => {
      for (const file of [undefined, ...(await ciFiles())]) {
        const r = await runHelm(major, ['lint', '--strict', CHART, ...(file ? ['--values', file] : [])]);
        assert.equal(r.code, 0, `${file ?? 'default values'}:\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      }
    });

    it('default values: the operator, one replica, least-privilege RBAC, no monitoring objects', async () => {
      const objects = await render(major);
      assert.deepEqual(objects.map((o) => o.kind).sort(), [
        'ClusterRole',
        'ClusterRole',
        'ClusterRoleBinding',
        'ClusterRoleBinding',
        'Deployment',
        'Role',
        'RoleBinding',
        'Service',
        'ServiceAccount',
      ]);
      const spec = deploymentSpec(only(objects, 'Deployment'));
      assert.equal(spec.replicas, 1);
      const pod = spec.template.spec;
      assert.equal(pod.serviceAccountName, 'etcd-monitor-operator');
      assert.equal(pod.automountServiceAccountToken, true);
      const c = pod.containers[0]!;
      assert.equal(c.image, 'etcd-monitor:0.1.0');
      assert.deepEqual(c.args.slice(0, 3), [
        'operator',
        '--leader-elect=true',
        '--lease-lock-name=etcd-monitor-operator',
      ]);
      assert.ok(c.args.includes('--listen=0.0.0.0:8080'));
      assert.ok(!c.args.some((a) => a.startsWith('--metric-prefix') || a.startsWith('--secret-namespaces')));
      assert.equal(c.readinessProbe.httpGet.path, '/healthz', 'a standby must be ready');
      // Both probes go to the probe listener, never behind the scrapes of the metrics port.
      assert.ok(c.args.includes('--probe-listen=0.0.0.0:8081'));
      assert.ok(c.ports.some((p) => p.name === 'probes' && p.containerPort === 8081));
      assert.equal(c.livenessProbe.httpGet.port, 'probes');
      assert.equal(c.readinessProbe.httpGet.port, 'probes');
      assert.deepEqual(c.securityContext, {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      assert.equal(pod.securityContext['runAsNonRoot'], true);
      assert.equal(pod.affinity, undefined, 'no anti-affinity for one replica');
      // No wildcard anywhere; Secrets are read-only.
      for (const role of [...find(objects, 'ClusterRole'), ...find(objects, 'Role')]) {
        for (const rule of rulesOf(role)) assert.doesNotMatch(rule, /\*/, `${role.metadata.name}: ${rule}`);
        for (const rule of rulesOf(role).filter((r) => r.includes('|secrets|')))
          assert.equal(rule, '|secrets|list,watch');
      }
    });

    it('operator-ha-values: 2 replicas with PDB, spread, and PodMonitor, PrometheusRule, dashboard under kstone names', async () => {
      const objects = await render(major, { valuesFiles: [join(CI_VALUES, 'operator-ha-values.yaml')] });
      const deployment = only(objects, 'Deployment');
      const spec = deploymentSpec(deployment);
      assert.equal(spec.replicas, 2);
      assert.ok(spec.template.spec.affinity, 'anti-affinity');
      assert.equal(spec.template.spec.topologySpreadConstraints?.length, 1);
      const args = spec.template.spec.containers[0]!.args;
      assert.ok(args.includes('--metric-prefix=kstone_'));
      assert.ok(args.includes('--label-selector=team=db'));
      assert.ok(args.includes('--workers=8'));

      const pdb = only(objects, 'PodDisruptionBudget');
      const selectorOf = (o: KubeObject) =>
        (o['spec'] as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      // PDB and PodMonitor select exactly the Deployment's pods, and the PodMonitor scrapes the named port.
      assert.deepEqual(selectorOf(pdb), spec.selector.matchLabels);
      const podMonitor = only(objects, 'PodMonitor');
      assert.deepEqual(selectorOf(podMonitor), spec.selector.matchLabels);
      for (const [k, v] of Object.entries(spec.selector.matchLabels))
        assert.equal(spec.template.metadata.labels[k], v);
      const endpoints = (
        podMonitor['spec'] as { podMetricsEndpoints: { port: string; path: string; honorLabels: boolean }[] }
      ).podMetricsEndpoints;
      // honorLabels: the series' own namespace label (the EtcdCluster's) must not become exported_namespace.
      assert.deepEqual(
        endpoints.map((e) => [e.port, e.path, e.honorLabels]),
        [['metrics', '/metrics', true]],
      );
      assert.ok(spec.template.spec.containers[0]!.ports.some((p) => p.name === 'metrics'));
      assert.equal(podMonitor.metadata.labels?.['release'], 'prometheus');

      // The PrometheusRule holds every rule of deploy/prometheus, with the metric names prefixed.
      const source = parseYaml(
        await readFile(join(ROOT, 'deploy', 'prometheus', 'etcd-monitor.rules.yaml'), 'utf8'),
      ) as { groups: { name: string; rules: { alert?: string; expr: string }[] }[] };
      const rule = only(objects, 'PrometheusRule');
      const groups = (rule['spec'] as typeof source).groups;
      assert.deepEqual(
        groups.map((g) => [g.name, g.rules.map((r) => r.alert)]),
        source.groups.map((g) => [g.name, g.rules.map((r) => r.alert)]),
      );
      const rendered = groups.flatMap((g) => g.rules);
      const original = source.groups.flatMap((g) => g.rules);
      for (const [i, r] of rendered.entries()) {
        assert.doesNotMatch(r.expr, /(^|[^_a-zA-Z0-9:])inspection_/, `${r.alert}: an unprefixed name`);
        assert.equal(r.expr.replaceAll('kstone_inspection_', 'inspection_'), original[i]!.expr, r.alert);
      }

      // The dashboard ConfigMap carries the sidecar label and the dashboard, its queries prefixed.
      const dashboard = only(objects, 'ConfigMap');
      assert.equal(dashboard.metadata.labels?.['grafana_dashboard'], '1');
      const json = (dashboard['data'] as Record<string, string>)['etcd-monitor.json']!;
      const sourceJson = await readFile(join(ROOT, 'deploy', 'grafana', 'etcd-monitor.json'), 'utf8');
      assert.deepEqual(
        JSON.parse(json.replaceAll('kstone_inspection_', 'inspection_')),
        JSON.parse(sourceJson),
      );
      assert.ok(json.includes('kstone_inspection_etcd_endpoint_healthy'));
    });

    it('operator-sharded-values: 3 replicas with --sharding (no leader election), Lease rights to list, watch and delete, every pod scraped', async () => {
      const objects = await render(major, { valuesFiles: [join(CI_VALUES, 'operator-sharded-values.yaml')] });
      const spec = deploymentSpec(only(objects, 'Deployment'));
      assert.equal(spec.replicas, 3);
      const args = spec.template.spec.containers[0]!.args;
      assert.ok(args.includes('--sharding'));
      assert.ok(!args.some((a) => a.startsWith('--leader-elect=')), 'no leader election');
      assert.ok(args.includes('--leader-elect-lease-duration=30s'));
      assert.ok(args.some((a) => a.startsWith('--lease-lock-name=')));
      const role = objects.find((o) => o.kind === 'Role' && o.metadata.name.endsWith('-leader-election'));
      assert.deepEqual(rulesOf(role), ['coordination.k8s.io|leases|get,list,watch,create,update,delete']);
      const podMonitor = only(objects, 'PodMonitor');
      assert.deepEqual(
        (podMonitor['spec'] as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels,
        spec.selector.matchLabels,
      );
      assert.match(
        await renderError(major, { setJson: { mode: 'standalone', 'operator.sharding.enabled': true } }),
        /operator.sharding is for mode=operator/,
      );
    });

    it('operator-secret-namespaces-values: Secrets through Roles in the listed namespaces only, and a ServiceMonitor', async () => {
      const objects = await render(major, {
        valuesFiles: [join(CI_VALUES, 'operator-secret-namespaces-values.yaml')],
      });
      for (const role of find(objects, 'ClusterRole'))
        assert.ok(
          !rulesOf(role).some((r) => r.includes('|secrets|')),
          `${role.metadata.name} reads no Secret`,
        );
      const secretRoles = find(objects, 'Role', 'etcd-monitor-secrets');
      assert.deepEqual(secretRoles.map((r) => r.metadata.namespace).sort(), ['etcd-prod', 'etcd-staging']);
      for (const r of secretRoles) assert.deepEqual(rulesOf(r), ['|secrets|list,watch']);
      assert.deepEqual(
        find(objects, 'RoleBinding', 'etcd-monitor-secrets')
          .map((r) => r.metadata.namespace)
          .sort(),
        ['etcd-prod', 'etcd-staging'],
      );
      const args = deploymentSpec(only(objects, 'Deployment')).template.spec.containers[0]!.args;
      assert.ok(args.includes('--secret-namespaces=etcd-prod,etcd-staging'));
      const sm = only(objects, 'ServiceMonitor');
      const service = only(objects, 'Service');
      assert.deepEqual(
        (sm['spec'] as { selector: { matchLabels: unknown } }).selector.matchLabels,
        (service['spec'] as { selector: unknown }).selector,
      );
    });

    it('standalone-tls-values: the daemon, config from values, TLS and password Secrets mounted, no API access', async () => {
      const objects = await render(major, { valuesFiles: [join(CI_VALUES, 'standalone-tls-values.yaml')] });
      assert.deepEqual(objects.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'ServiceAccount']);
      const pod = deploymentSpec(only(objects, 'Deployment')).template.spec;
      assert.equal(pod.automountServiceAccountToken, false);
      assert.equal(only(objects, 'ServiceAccount')['automountServiceAccountToken'], false);
      const c = pod.containers[0]!;
      assert.deepEqual(c.args.slice(0, 2), ['run', '--config=/etc/etcd-monitor/config/config.yaml']);
      assert.equal(c.readinessProbe.httpGet.path, '/readyz');
      const config = parseYaml(
        (only(objects, 'ConfigMap')['data'] as Record<string, string>)['config.yaml']!,
      ) as { clusters: { name: string; tls: Record<string, string>; auth?: Record<string, string> }[] };
      assert.deepEqual(
        config.clusters.map((cl) => [cl.name, cl.tls, cl.auth]),
        [
          [
            'prod',
            {
              caFile: '/etc/etcd-monitor/secrets/prod-etcd-client/ca.crt',
              certFile: '/etc/etcd-monitor/secrets/prod-etcd-client/tls.crt',
              keyFile: '/etc/etcd-monitor/secrets/prod-etcd-client/tls.key',
            },
            { username: 'monitor', passwordFile: '/etc/etcd-monitor/secrets/prod-etcd-monitor/password' },
          ],
          [
            'events',
            {
              caFile: '/etc/etcd-monitor/secrets/events-etcd/ca.pem',
              certFile: '/etc/etcd-monitor/secrets/events-etcd/client.pem',
              keyFile: '/etc/etcd-monitor/secrets/events-etcd/client-key.pem',
              serverName: 'etcd-events',
            },
            undefined,
          ],
        ],
      );
      // Every Secret is mounted where the config expects its files, read-only.
      const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.name, m.mountPath]));
      const secrets = (pod.volumes ?? [])
        .filter((v) => v.secret !== undefined)
        .map((v) => [v.secret!.secretName, mounts.get(v.name)]);
      assert.deepEqual(secrets, [
        ['events-etcd', '/etc/etcd-monitor/secrets/events-etcd'],
        ['prod-etcd-client', '/etc/etcd-monitor/secrets/prod-etcd-client'],
        ['prod-etcd-monitor', '/etc/etcd-monitor/secrets/prod-etcd-monitor'],
      ]);
    });

    it('monitoring objects off and on: each of the four is rendered only when enabled', async () => {
      const kinds = ['PodMonitor', 'ServiceMonitor', 'PrometheusRule', 'ConfigMap'];
      const toggles: [string, Record<string, unknown>][] = [
        ['PodMonitor', { 'monitoring.podMonitor.enabled': true }],
        ['ServiceMonitor', { 'monitoring.serviceMonitor.enabled': true }],
        ['PrometheusRule', { 'monitoring.prometheusRule.enabled': true }],
        ['ConfigMap', { 'monitoring.dashboard.enabled': true }],
      ];
      for (const [kind, setJson] of toggles) {
        const objects = await render(major, { setJson });
        assert.deepEqual(
          kinds.filter((k) => find(objects, k).length > 0),
          [kind],
          JSON.stringify(setJson),
        );
      }
      const none = await render(major, { setJson: { 'service.enabled': false } });
      assert.deepEqual(
        none.filter((o) => [...kinds, 'Service'].includes(o.kind)),
        [],
      );
    });

    it('rejects bad values with a message that names the value', async () => {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ replicas: 2 }, /replicas/],
        [{ mode: 'daemon' }, /mode/],
        [{ metricPrefix: 'kstone' }, /metricPrefix/],
        [{ operator: { leaderElection: { leaseDuration: '4500ms' } } }, /leaseDuration/],
        [{ rbac: { secretNamespaces: ['Not_A_Namespace'] } }, /secretNamespaces/],
        [
          { replicaCount: 2, operator: { leaderElection: { enabled: false } } },
          /leaderElection\.enabled=false with replicaCount > 1/,
        ],
        [
          { monitoring: { podMonitor: { enabled: true }, serviceMonitor: { enabled: true } } },
          /podMonitor and monitoring\.serviceMonitor are both enabled/,
        ],
        [
          { mode: 'standalone', standalone: { clusters: [{ name: 'a', endpoints: ['10.0.0.1:2379'] }] } },
          /endpoints/,
        ],
        [
          {
            mode: 'standalone',
            standalone: {
              clusters: [
                { name: 'a', endpoints: ['https://10.0.0.1:2379'] },
                { name: 'a', endpoints: ['https://10.0.0.2:2379'] },
              ],
            },
          },
          /standalone\.clusters\[1\]\.name: duplicate cluster name "a"/,
        ],
        [{ port: 9000, probePort: 9000 }, /probePort 9000 is the port of port \(\/metrics\)/],
        [
          {
            mode: 'standalone',
            standalone: {
              clusters: [{ name: 'a', endpoints: ['https://10.0.0.1:2379'], tls: { caFile: '/x' } }],
            },
          },
          /tls/,
        ],
      ];
      for (const [values, message] of cases) {
        const setJson = Object.fromEntries(Object.entries(values));
        assert.match(await renderError(major, { setJson }), message, JSON.stringify(values));
      }
    });
  });
}

it('Helm 3 and Helm 4 render the same objects for every values file', async () => {
  for (const file of [undefined, ...(await ciFiles())]) {
    const opts = file === undefined ? {} : { valuesFiles: [file] };
    assert.deepEqual(await render(4, opts), await render(3, opts), file ?? 'default values');
  }
});
