/** Small helpers shared by the benchmarks: they print figures, they assert nothing. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeApiserver } from '../src/testbed/index.ts';

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function summary(values: readonly number[]): {
  p50: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
} {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return {
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    min: sorted[0] ?? NaN,
    max: sorted.at(-1) ?? NaN,
    mean,
  };
}

export const ms = (v: number): string => `${v.toFixed(2)} ms`;
export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Resident memory of a process, from /proc. */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? NaN : Number(kb) * 1024;
}

/**
 * Established TCP connections to the given ports, by local port, read from
 * /proc/net/tcp (IPv4 loopback is all the test bed uses). A connection that
 * appears between two reads is a new one.
 */
export async function connectionsTo(ports: ReadonlySet<number>): Promise<Set<string>> {
  const out = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== '01') continue; // 01 = ESTABLISHED
      const local = cols[1]!;
      const remotePort = parseInt(cols[2]!.split(':')[1]!, 16);
      if (ports.has(remotePort)) out.add(`${local}->${remotePort}`);
    }
  }
  return out;
}

export function table(rows: readonly (readonly (string | number)[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i]!)).join('  ')).join('\n');
}

/**
 * A FlowSchema of its own for the operator's ServiceAccount: the apiserver
 * counts the operator's requests in
 * apiserver_flowcontrol_dispatched_requests_total (apiserver_request_total
 * has no user label).
 */
export const OPERATOR_FLOW_SCHEMA = `apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: etcd-monitor-operator}
spec:
  priorityLevelConfiguration: {name: workload-low}
  matchingPrecedence: 500
  distinguisherMethod: {type: ByUser}
  rules:
    - subjects: [{kind: ServiceAccount, serviceAccount: {namespace: etcd-monitor, name: etcd-monitor-operator}}]
      resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"], clusterScope: true}]
      nonResourceRules: [{verbs: ["*"], nonResourceURLs: ["*"]}]
`;

/** Requests of the operator's ServiceAccount so far: OPERATOR_FLOW_SCHEMA's dispatched counter, from the apiserver's /metrics. */
export async function operatorRequests(server: KubeApiserver): Promise<number> {
  const res = await server.request('GET', '/metrics', undefined, { accept: 'text/plain' });
  let total = 0;
  for (const line of String(res.body).split('\n')) {
    if (
      line.startsWith('apiserver_flowcontrol_dispatched_requests_total{') &&
      line.includes('flow_schema="etcd-monitor-operator"')
    )
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** CPU time (user + system) of a process so far, in seconds. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
}

/** The operators' ServiceAccount (deploy/rbac.yaml), as the apiserver names its user. */
const OPERATOR_USER = 'system:serviceaccount:etcd-monitor:etcd-monitor-operator';

interface AuditEvent {
  readonly auditID: string;
  readonly verb: string;
  readonly objectRef?: { resource?: string; subresource?: string };
  readonly requestReceivedTimestamp: string;
  readonly user?: { username?: string };
}

/** Requests by "verb resource[/subresource]", and how many fell in each minute of the span. */
export type AuditedRequests = Map<string, number> & { readonly perMinute: number[] };

/**
 * The apiserver's audit log of the operators' requests (metadata only, that
 * user alone): apiserver_request_total has no user label, so the split by
 * verb and resource comes from here. Pass `apiserverArgs` to the apiserver.
 */
export async function operatorAudit(dir: string): Promise<{
  readonly apiserverArgs: readonly string[];
  requests(from: Date, to: Date): Promise<AuditedRequests>;
}> {
  const policy = join(dir, 'audit-policy.yaml');
  const log = join(dir, 'audit.log');
  await writeFile(
    policy,
    `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ["${OPERATOR_USER}"]
  - level: None
`,
  );
  return {
    apiserverArgs: [
      `--audit-policy-file=${policy}`,
      `--audit-log-path=${log}`,
      '--audit-log-format=json',
      '--audit-log-maxsize=0',
    ],
    async requests(from, to) {
      await sleep(2_000); // the audit log is written as requests complete
      const seen = new Set<string>();
      const counts = Object.assign(new Map<string, number>(), {
        perMinute: Array.from({ length: Math.ceil((to.getTime() - from.getTime()) / 60_000) }, () => 0),
      });
      const text = await readFile(log, 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const e = JSON.parse(line) as AuditEvent;
        if (e.user?.username !== OPERATOR_USER || seen.has(e.auditID)) continue;
        const at = Date.parse(e.requestReceivedTimestamp);
        if (at < from.getTime() || at >= to.getTime()) continue;
        seen.add(e.auditID);
        const { resource, subresource } = e.objectRef ?? {};
        const key = `${e.verb} ${resource === undefined ? '(non-resource)' : `${resource}${subresource !== undefined ? `/${subresource}` : ''}`}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        const minute = Math.floor((at - from.getTime()) / 60_000);
        counts.perMinute[minute] = (counts.perMinute[minute] ?? 0) + 1;
      }
      return counts;
    },
  };
}

/** The requests as a table, most first: counts, or per minute over `minutes`. */
export function requestTable(requests: AuditedRequests, minutes?: number): string {
  return table([
    ['request', minutes === undefined ? 'count' : 'per minute'],
    ...[...requests]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [k, minutes === undefined ? String(v) : (v / minutes).toFixed(1)]),
  ]);
}
