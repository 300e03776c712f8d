/**
 * Secrets never echoed through the Kubernetes paths (issue 13, point 4): the
 * operator reading passwords and TLS keys from Secrets whose content is
 * malformed or wrong, and the process started with a kubeconfig whose token,
 * client key, server URL or YAML is malformed. Each secret value is a marker
 * that must appear in no output: logs (at trace level), errors, EtcdCluster
 * status, Events, /metrics and /api/v1. Real kube-apiserver, real etcd.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { Manager } from '../../src/controllers/manager.ts';
import { featureRegistry } from '../../src/features/index.ts';
import { createLogger } from '../../src/log.ts';
import { ProviderRegistry, registerBuiltinProviders } from '../../src/providers/index.ts';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import {
  BIN,
  condition,
  getCluster,
  namespace,
  OPERATOR_NAMESPACE,
  startBed,
  type Bed,
} from '../e2e/helpers.ts';

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const pemOf = (label: string, body: string): string =>
  `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;

/** Every marker a test plants; none may come out anywhere. */
const MARKERS: string[] = [];
const marker = (name: string): string => {
  const m = `SEKRET${name}x${Math.random().toString(36).slice(2, 10)}`;
  MARKERS.push(m);
  return m;
};

function leaks(where: string, text: string): void {
  for (const m of MARKERS)
    assert.ok(
      !text.includes(m),
      `${where} shows the secret ${m}:\n${text.slice(Math.max(0, text.indexOf(m) - 300), text.indexOf(m) + 100)}`,
    );
}

/** The parts of a kubeconfig the tests change. */
interface Kubeconfig {
  clusters: { cluster: { server: string } }[];
  users: { user: Record<string, string> }[];
}

describe('secrets through Kubernetes Secrets and kubeconfigs are never echoed', () => {
  let bed: Bed;
  let etcd: TestCluster;
  let manager: Manager;
  let address: string;
  let logs = '';
  let ns: string;
  let dir: string;

  before(async () => {
    [bed, etcd] = await Promise.all([
      startBed(),
      startEtcdCluster({ version: '3.6', members: 1, tls: true, auth: true, name: 'k8ssecrets' }),
    ]);
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-k8s-secrets-'));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs += chunk.toString();
        done();
      },
    });
    manager = new Manager({
      kubeConfig: bed.server.adminKubeConfig(),
      controllers: ['etcdcluster', 'inspection'],
      features: featureRegistry,
      providers: registerBuiltinProviders(new ProviderRegistry()),
      logger: createLogger({ level: 'trace', format: 'json', destination: sink }),
      workers: 2,
      jitter: false,
      timeouts: { dialTimeoutMs: 2_000, requestTimeoutMs: 2_000 },
    });
    address = await manager.start('127.0.0.1:0');
    ns = await namespace(bed.server, 'secrets');
  });

  after(async () => {
    await manager?.stop();
    await Promise.allSettled([bed?.stop(), etcd?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('malformed TLS keys and CAs, wrong and malformed passwords in Secrets: reported, never shown', async () => {
    const tls = etcd.tls!;
    const secrets: { name: string; data: Record<string, string>; tls?: boolean }[] = [
      // A private key that is PEM-armoured garbage.
      {
        name: 'bad-key',
        tls: true,
        data: {
          'ca.crt': b64(tls.ca),
          'tls.crt': b64(tls.cert),
          'tls.key': b64(pemOf('PRIVATE KEY', marker('KEY'))),
        },
      },
      // A key that is not PEM at all.
      {
        name: 'raw-key',
        tls: true,
        data: { 'ca.crt': b64(tls.ca), 'tls.crt': b64(tls.cert), 'tls.key': b64(marker('RAWKEY')) },
      },
      // The key of another certificate (does not match tls.crt).
      {
        name: 'bad-ca',
        tls: true,
        data: {
          'ca.crt': b64(pemOf('CERTIFICATE', marker('CA'))),
          'tls.crt': b64(tls.cert),
          'tls.key': b64(tls.key),
        },
      },
    ];
    const passwords = [
      { name: 'wrong-pw', password: marker('PW') },
      { name: 'multiline-pw', password: `${marker('PWA')}\n${marker('PWB')}\n` },
      { name: 'binary-pw', password: `${marker('PWBIN')}\u0000\u00ff` },
    ];
    for (const s of secrets)
      await bed.admin.secrets.create({ metadata: { name: s.name, namespace: ns }, data: s.data });
    const clientTls = 'client-tls';
    await bed.admin.secrets.create({
      metadata: { name: clientTls, namespace: ns },
      data: { 'ca.crt': b64(tls.ca), 'tls.crt': b64(tls.cert), 'tls.key': b64(tls.key) },
    });
    for (const p of passwords)
      await bed.admin.secrets.create({
        metadata: { name: p.name, namespace: ns },
        data: { username: b64('root'), password: b64(p.password) },
      });
    const features = { healthy: { intervalSeconds: 1 }, alarm: { intervalSeconds: 1 } };
    for (const s of secrets)
      await bed.admin.etcdClusters.create({
        metadata: { name: s.name, namespace: ns },
        spec: { endpoints: [...etcd.endpoints], tls: { secretName: s.name }, features },
      });
    for (const p of passwords)
      await bed.admin.etcdClusters.create({
        metadata: { name: p.name, namespace: ns },
        spec: {
          endpoints: [...etcd.endpoints],
          tls: { secretName: clientTls },
          auth: { secretName: p.name },
          features,
        },
      });

    // Each bad Secret is reported on its cluster, naming the Secret.
    for (const s of secrets) {
      const c = await eventually(
        async () => {
          const got = await getCluster(bed.admin, ns, s.name);
          return got?.status?.phase === 'Invalid' ? got : undefined;
        },
        `${s.name} Invalid`,
        60_000,
      );
      assert.match(condition(c, 'Ready')?.message ?? '', new RegExp(`Secret ${ns}/${s.name}`));
    }
    // Each refused password is the monitor's access problem.
    const answer = async (path: string): Promise<string> =>
      (await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(10_000) })).text();
    await eventually(
      async () => {
        const text = await answer('/metrics');
        return passwords.every((p) =>
          new RegExp(`inspection_monitor_access_error\\{[^}]*clusterName="${p.name}"[^}]*\\} 1`).test(text),
        );
      },
      'every refused password exported as the monitor access error',
      60_000,
      500,
    );

    // Nowhere: logs, status, events, metrics, API, status page.
    leaks('the operator log', logs);
    leaks('EtcdCluster objects', JSON.stringify((await bed.admin.etcdClusters.list(ns)).items));
    leaks('EtcdInspection objects', JSON.stringify((await bed.admin.etcdInspections.list(ns)).items));
    const events = await bed.server.request('GET', `/api/v1/namespaces/${ns}/events`);
    assert.ok(((events.body as { items?: unknown[] }).items ?? []).length > 0, 'events were recorded');
    leaks('Events', JSON.stringify(events.body));
    leaks('/metrics', await answer('/metrics'));
    leaks('/api/v1/clusters', await answer('/api/v1/clusters'));
    leaks('the status page', await answer('/'));
  });

  describe('a malformed kubeconfig', () => {
    /** The operator started with this kubeconfig: its whole output until it exits or has logged a while. */
    async function operatorWith(
      edit: (k: Kubeconfig) => void,
    ): Promise<{ code: number | null; output: string }> {
      const base = join(dir, 'base.kubeconfig');
      const admin = bed.server.adminKubeConfig().credentials;
      assert.equal(admin.type, 'token');
      await bed.server.writeKubeconfig(admin.type === 'token' ? admin.token : '', base);
      const k = parseYaml(await readFile(base, 'utf8')) as Kubeconfig;
      edit(k);
      const file = join(dir, `k-${Math.random().toString(36).slice(2)}.kubeconfig`);
      await writeFile(file, toYaml(k), { mode: 0o600 });
      const child = spawn(
        process.execPath,
        [
          BIN,
          'operator',
          '--kubeconfig',
          file,
          '--listen',
          '127.0.0.1:0',
          '--log-level',
          'trace',
          '--lease-lock-namespace',
          OPERATOR_NAMESPACE,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      // A config error ends the process; credentials the server or the HTTP layer refuses are logged as warnings.
      await eventually(
        () => child.exitCode !== null || /"level":(40|50)/.test(output),
        `the operator exits or warns (output: ${output.slice(-1500)})`,
        60_000,
        100,
      );
      if (child.exitCode === null) child.kill('SIGTERM');
      return { code: await exited, output };
    }

    it('a token with a line break: refused, named, not shown', async () => {
      const token = marker('TOKEN');
      const r = await operatorWith((k) => {
        k.users[0]!.user.token = `${token}\nX-Injected: 1`;
      });
      assert.match(r.output, /the kubeconfig user's token holds characters an HTTP header cannot carry/);
      leaks('operator output', r.output);
    });

    it('a wrong token: 401 from the server, not shown', async () => {
      const r = await operatorWith((k) => {
        k.users[0]!.user.token = marker('WRONGTOKEN');
      });
      assert.match(r.output, /401|Unauthorized|unauthorized/);
      leaks('operator output', r.output);
    });

    it('a client key that is not a key, and a YAML error on the token line: refused, not shown', async () => {
      const key = await operatorWith((k) => {
        k.users[0]!.user['client-certificate-data'] = b64(etcd.tls!.cert);
        k.users[0]!.user['client-key-data'] = b64(pemOf('PRIVATE KEY', marker('KCKEY')));
      });
      leaks('operator output (client key)', key.output);
      const yaml = join(dir, 'broken.kubeconfig');
      await bed.server.writeKubeconfig(marker('YAMLTOKEN'), yaml);
      const text = (await readFile(yaml, 'utf8')).replace(/token: (\S+)/, 'token: $1: {');
      await writeFile(yaml, text);
      const child = spawn(process.execPath, [BIN, 'operator', '--kubeconfig', yaml], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 2, output);
      assert.match(output, /not YAML \(line \d+, column \d+\)/);
      leaks('operator output (YAML)', output);
    });

    it('user info in the server URL: refused, redacted', async () => {
      const password = marker('URLPW');
      const r = await operatorWith((k) => {
        k.clusters[0]!.cluster.server = k.clusters[0]!.cluster.server.replace(
          'https://',
          `https://admin:${password}@`,
        );
      });
      assert.equal(r.code, 2, r.output);
      assert.match(r.output, /holds user info: put credentials in the user entry/);
      leaks('operator output', r.output);
    });
  });
});
