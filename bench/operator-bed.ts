/**
 * What the operator benchmarks (operator-scale, sharding) stand on: a real
 * kube-apiserver with deploy/'s namespace, RBAC and CRDs and the operator's
 * own FlowSchema, a few etcd clusters of the test bed, the namespaces the
 * EtcdClusters go to, and `etcd-monitor operator` processes with the
 * etcd-monitor-operator ServiceAccount (RBAC of deploy/rbac.yaml).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { type Clients, createClients } from '../src/k8s/client/index.ts';
import {
  startEtcdCluster,
  startKubeApiserver,
  type KubeApiserver,
  type StartClusterOptions,
  type TestCluster,
} from '../src/testbed/index.ts';
import { OPERATOR_FLOW_SCHEMA, rssBytes } from './support.ts';

const ROOT = resolve(import.meta.dirname, '..');

export interface OperatorBed {
  readonly server: KubeApiserver;
  readonly etcds: readonly TestCluster[];
  /** Clients of the apiserver's admin. */
  readonly admin: Clients;
  readonly namespaces: readonly string[];
  /**
   * `etcd-monitor operator <flags>` as the ServiceAccount, logging warnings
   * as JSON; its stderr goes to ours, each line prefixed with `[name]`.
   */
  spawnOperator(
    name: string,
    flags: readonly string[],
    opts?: { nodeArgs?: readonly string[]; env?: NodeJS.ProcessEnv },
  ): ChildProcess;
  /** Stops the operators still running (SIGTERM, waited for), then the apiserver and the etcd clusters. */
  stop(): Promise<void>;
}

export interface OperatorBedOptions {
  /** Where the kubeconfig goes (the caller removes it). */
  readonly dir: string;
  /** The etcd clusters, started together with the apiserver. */
  readonly etcds: readonly StartClusterOptions[];
  readonly apiserverArgs?: readonly string[];
  readonly namespaces: readonly string[];
}

export async function startOperatorBed(opts: OperatorBedOptions): Promise<OperatorBed> {
  const started = await Promise.allSettled([
    startKubeApiserver({ extraArgs: opts.apiserverArgs ?? [] }),
    ...opts.etcds.map((o) => startEtcdCluster(o)),
  ]);
  const [first, ...rest] = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
  const server = first as KubeApiserver | undefined;
  const etcds = rest.filter((e): e is TestCluster => e !== undefined);
  const stop = async (): Promise<void> => {
    await server?.stop();
    await Promise.all(etcds.map((e) => e.stop()));
  };
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    await server!.applyManifests([
      join(ROOT, 'deploy', 'namespace.yaml'),
      join(ROOT, 'deploy', 'rbac.yaml'),
      join(ROOT, 'deploy', 'crds'),
    ]);
    await server!.applyManifests(OPERATOR_FLOW_SCHEMA);
    await server!.applyManifests(
      opts.namespaces.map((n) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${n}\n`).join('---\n'),
    );
    const kubeconfig = join(opts.dir, 'kubeconfig');
    await server!.writeKubeconfig(
      await server!.serviceAccountToken('etcd-monitor', 'etcd-monitor-operator', { expirationSeconds: 7200 }),
      kubeconfig,
    );
    const admin = createClients(server!.adminKubeConfig());
    const operators: ChildProcess[] = [];
    // The test bed stops its own processes however Node exits; the operators are ours.
    const killOperators = (): void => {
      for (const o of operators) if (o.exitCode === null && o.signalCode === null) o.kill('SIGKILL');
    };
    process.on('exit', killOperators);
    return {
      server: server!,
      etcds,
      admin,
      namespaces: opts.namespaces,
      spawnOperator: (name, flags, spawnOpts = {}) => {
        const child = spawnOperator(name, kubeconfig, flags, spawnOpts);
        operators.push(child);
        return child;
      },
      stop: async () => {
        await Promise.all(operators.map((o) => terminate(o)));
        process.off('exit', killOperators);
        await admin.close();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function spawnOperator(
  name: string,
  kubeconfig: string,
  flags: readonly string[],
  opts: { nodeArgs?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      join(ROOT, 'bin', 'etcd-monitor.js'),
      'operator',
      '--kubeconfig',
      kubeconfig,
      ...flags,
      '--log-level',
      'warn',
      '--log-format',
      'json',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: opts.env ?? process.env },
  );
  child.stderr!.on('data', (d: Buffer) =>
    process.stderr.write(d.toString().replace(/^(?=.)/gm, `[${name}] `)),
  );
  return child;
}

/** SIGTERM to a process still running; resolves with how it exited (undefined when it already had). */
export async function terminate(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  child.kill('SIGTERM');
  return exited;
}

/** The highest RSS of each process, read every `everyMs` until stop(); a read that fails is skipped. */
export function sampleRssPeaks(pids: readonly number[], everyMs: number): { peaks: number[]; stop(): void } {
  const peaks = pids.map(() => 0);
  const timer = setInterval(() => {
    pids.forEach((pid, i) => {
      void rssBytes(pid).then(
        (b) => (peaks[i] = Math.max(peaks[i]!, b)),
        () => undefined,
      );
    });
  }, everyMs);
  return { peaks, stop: () => clearInterval(timer) };
}

/**
 * Creates `count` EtcdClusters `cluster-NNNNN`, spread over the bed's
 * namespaces and etcd clusters (round robin), healthy and alarm enabled with
 * `feature` (e.g. an interval), 50 at a time.
 */
export async function createBenchClusters(
  bed: Pick<OperatorBed, 'admin' | 'etcds' | 'namespaces'>,
  count: number,
  feature: { readonly intervalSeconds?: number } = {},
): Promise<void> {
  const { admin, etcds, namespaces } = bed;
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) => {
        const n = i + j;
        return admin.etcdClusters.create({
          metadata: {
            name: `cluster-${String(n).padStart(5, '0')}`,
            namespace: namespaces[n % namespaces.length]!,
          },
          spec: {
            endpoints: [etcds[n % etcds.length]!.endpoints[0]!],
            features: { healthy: feature, alarm: feature },
          },
        });
      }),
    );
  }
}
