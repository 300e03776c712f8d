/**
 * Shared set-up of the end-to-end tests: a real kube-apiserver with the
 * project's own manifests applied (namespace, RBAC, CRDs), tokens of the
 * ServiceAccounts of deploy/rbac.yaml (the controllers never run as admin),
 * and small helpers to create objects and read what the controllers did.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { EtcdCluster, EtcdInspection } from '../../src/k8s/api/index.ts';
import { createClients, type Clients } from '../../src/k8s/client/index.ts';
import type { KubeApiserver, TestCluster } from '../../src/testbed/index.ts';
import { startKubeApiserver } from '../../src/testbed/index.ts';
import { freePort } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { parseExposition } from '../support/scrape.ts';

const DEPLOY = resolve(import.meta.dirname, '..', '..', 'deploy');
export const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'etcd-monitor.js');

export const OPERATOR_NAMESPACE = 'etcd-monitor';
export const SERVICE_ACCOUNTS = {
  etcdcluster: 'etcd-monitor-etcdcluster',
  inspection: 'etcd-monitor-inspection',
  operator: 'etcd-monitor-operator',
} as const;

export interface Bed {
  readonly server: KubeApiserver;
  /** Admin clients, for what a user would do (create clusters, Secrets) and to read what the controllers wrote. */
  readonly admin: Clients;
  /** A ServiceAccount token of deploy/rbac.yaml. */
  token(sa: keyof typeof SERVICE_ACCOUNTS): Promise<string>;
  stop(): Promise<void>;
}

/** An apiserver with deploy/namespace.yaml, deploy/rbac.yaml and deploy/crds/ applied, as an installation would. */
export async function startBed(): Promise<Bed> {
  const server = await startKubeApiserver();
  try {
    await server.applyManifests([
      resolve(DEPLOY, 'namespace.yaml'),
      resolve(DEPLOY, 'rbac.yaml'),
      resolve(DEPLOY, 'crds'),
    ]);
  } catch (err) {
    await server.stop();
    throw err;
  }
  const admin = createClients(server.adminKubeConfig());
  return {
    server,
    admin,
    token: (sa) => server.serviceAccountToken(OPERATOR_NAMESPACE, SERVICE_ACCOUNTS[sa]),
    stop: async () => {
      await admin.close();
      await server.stop();
    },
  };
}

/** A fresh namespace, one per test: the same helper as the Kubernetes tests'. */
export { createNamespace as namespace } from '../k8s/helpers.ts';

/** A Secret with a test-bed cluster's CA and client certificate, under the standard keys. */
export async function createTlsSecret(
  admin: Clients,
  ns: string,
  name: string,
  cluster: TestCluster,
): Promise<void> {
  const tls = cluster.tls;
  if (tls === undefined) throw new Error('the cluster has no TLS');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  await admin.secrets.create({
    metadata: { name, namespace: ns },
    type: 'kubernetes.io/tls',
    data: { 'ca.crt': b64(tls.ca), 'tls.crt': b64(tls.cert), 'tls.key': b64(tls.key) },
  });
}

export type Features = Record<
  string,
  { enabled?: boolean; intervalSeconds?: number; options?: Record<string, unknown> }
>;

export async function createCluster(
  admin: Clients,
  ns: string,
  name: string,
  spec: { endpoints: readonly string[]; features?: Features; tlsSecret?: string },
  labels: Record<string, string> = {},
): Promise<EtcdCluster> {
  return admin.etcdClusters.create({
    metadata: { name, namespace: ns, labels },
    spec: {
      endpoints: [...spec.endpoints],
      ...(spec.tlsSecret !== undefined && { tls: { secretName: spec.tlsSecret } }),
      ...(spec.features !== undefined && { features: spec.features }),
    },
  });
}

export async function getCluster(admin: Clients, ns: string, name: string): Promise<EtcdCluster | undefined> {
  try {
    return await admin.etcdClusters.get(ns, name);
  } catch (err) {
    if (err instanceof Error && /404/.test(err.message)) return undefined;
    throw err;
  }
}

/** Waits until EtcdCluster ns/name reports `phase` in its status, and returns it. */
export function clusterInPhase(
  admin: Clients,
  ns: string,
  name: string,
  phase: string,
): Promise<EtcdCluster> {
  return eventually(async () => {
    const c = await getCluster(admin, ns, name);
    return c?.status?.phase === phase ? c : undefined;
  }, `${name} ${phase}`);
}

export async function inspectionsOf(admin: Clients, ns: string): Promise<EtcdInspection[]> {
  return (await admin.etcdInspections.list(ns)).items.sort((a, b) =>
    a.metadata.name.localeCompare(b.metadata.name),
  );
}

export function condition(
  cluster: EtcdCluster | undefined,
  type: string,
): { status: string; reason: string; message: string } | undefined {
  return cluster?.status?.conditions?.find((c) => c.type === type);
}

/** core/v1 Events about an object, as "Type Reason: message". */
export async function eventsAbout(server: KubeApiserver, ns: string, name: string): Promise<string[]> {
  const res = await server.request(
    'GET',
    `/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name=${encodeURIComponent(name)}`,
  );
  const items = (res.body as { items?: { type: string; reason: string; message: string }[] }).items ?? [];
  return items.map((e) => `${e.type} ${e.reason}: ${e.message}`);
}

/** /metrics of an operator as series → value. */
export async function scrapeAt(address: string): Promise<Map<string, number>> {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseExposition(await res.text());
}

/** The series whose labels include every given label="value". */
export function seriesWith(
  series: Map<string, number>,
  labels: Record<string, string>,
  family?: string,
): string[] {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return [...series.keys()].filter(
    (s) => (family === undefined || s.startsWith(`${family}{`)) && parts.every((p) => s.includes(p)),
  );
}

export async function httpStatus(address: string, path: string): Promise<number> {
  const res = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(5_000) });
  await res.text();
  return res.status;
}

/** Lease timings of the e2e operators: short, so that a standby takes over within seconds. */
export const LEASE_MS = 4_000;
export const RETRY_MS = 500;

/** The flags of an operator campaigning for `lease` with the e2e timings. */
export function leaseFlags(lease: string): string[] {
  return [
    '--lease-lock-name',
    lease,
    '--lease-lock-namespace',
    OPERATOR_NAMESPACE,
    '--leader-elect-lease-duration',
    `${LEASE_MS / 1000}s`,
    '--leader-elect-renew-deadline',
    '2s',
    '--leader-elect-retry-period',
    `${RETRY_MS}ms`,
  ];
}

/** An `etcd-monitor operator` process of a test, its JSON log lines parsed as they come. */
export interface OperatorProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** host:port of its HTTP server. */
  readonly address: string;
  readonly logs: Record<string, unknown>[];
  readonly exited: Promise<number | null>;
  /** Epoch ms of the exit, once it exited. */
  endedAt: number | undefined;
}

/**
 * Starts `etcd-monitor operator ARGS` (args gets the host:port to serve on)
 * and resolves once it answers /healthz; a process that never does is killed.
 */
export async function startOperator(
  name: string,
  args: (address: string) => readonly string[],
  opts: { readonly env?: NodeJS.ProcessEnv } = {},
): Promise<OperatorProcess> {
  const address = `127.0.0.1:${await freePort()}`;
  const child = spawn(process.execPath, [BIN, 'operator', ...args(address)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(opts.env !== undefined && { env: opts.env }),
  });
  const logs: Record<string, unknown>[] = [];
  let buffered = '';
  child.stderr!.on('data', (d: Buffer) => {
    buffered += d.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // Node's own warnings.
      }
    }
  });
  const op: OperatorProcess = {
    name,
    child,
    address,
    logs,
    exited: new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        op.endedAt = Date.now();
        resolve(code);
      }),
    ),
    endedAt: undefined,
  };
  try {
    // The deadline only guards against a hang (a loaded machine starts Node slowly).
    await eventually(
      async () => ((await httpStatus(address, '/healthz')) === 200 ? true : undefined),
      `${name} serving /healthz`,
      60_000,
      100,
    );
  } catch (err) {
    child.kill('SIGKILL');
    await op.exited;
    throw err;
  }
  return op;
}
