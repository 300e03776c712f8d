import { family, type MetricDefinition } from '../../metrics/catalogue.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import { accessError, accessProblem } from '../../etcd/access-error.ts';
import { memberIdHex } from '../../etcd/types.ts';
import {
  defineFeature,
  failedOutcome,
  type ClusterHandle,
  type InspectionOutcome,
  type MemberHandle,
} from '../../engine/contract.ts';
import type { Finding } from '../../findings.ts';
import { forEachMember } from '../members.ts';
import { memberLabel } from '../units.ts';
import { errorMessage } from '../../errors.ts';

export const HEALTHY_METRICS = {
  healthy: family.gauge(
    'inspection_etcd_endpoint_healthy',
    '1 when the member answers /health as healthy and answers a Status call, else 0.',
    ['endpoint'],
  ),
  accessError: family.gauge(
    'inspection_monitor_access_error',
    "1 when the monitor's own credentials are refused by the member (wrong user or password): the member's health is then unknown and inspection_etcd_endpoint_healthy has no series for it. 0 when the member accepted them (or needs none); no series while the member does not answer, and for v2 clusters (their health check carries no credentials). The monitor's problem, not etcd's.",
    ['endpoint', 'reason'],
  ),
  checkDuration: family.gauge(
    'inspection_etcd_endpoint_health_check_duration_seconds',
    'Time the last health check of the member took (/health and Status in parallel).',
    ['endpoint'],
  ),
} as const satisfies Record<string, MetricDefinition>;

export interface MemberHealth {
  readonly endpoint: string;
  readonly id: string | undefined;
  readonly name: string;
  readonly healthy: boolean;
  /** Why it is not healthy ('' when healthy). */
  readonly reason: string;
  /** The monitor could not authenticate: health unknown, and this says why. */
  readonly accessError?: string;
  /** The member answered the monitor's authenticated call (its credentials, if any, are accepted). */
  readonly accessOk: boolean;
  readonly durationMs: number;
}

export interface HealthyDetails {
  readonly members: readonly MemberHealth[];
}

/** A member is healthy when /health says so and it answers the status call of its API. */
async function checkMember(
  member: MemberHandle,
  backend: 'v3' | 'v2',
  signal: AbortSignal,
): Promise<{ healthy: boolean; reason: string; accessError?: string; accessOk: boolean }> {
  const [health, status] = await Promise.allSettled([
    member.http().health({ signal }),
    backend === 'v3' ? member.v3().status({ signal }) : member.v2().selfStats({ signal }),
  ]);
  const reasons: string[] = [];
  if (health.status === 'rejected') reasons.push(`/health: ${errorMessage(health.reason)}`);
  else if (!health.value.healthy)
    reasons.push(
      `/health: unhealthy${health.value.reason === '' ? ` (HTTP ${health.value.httpStatus})` : `: ${health.value.reason}`}`,
    );
  if (status.status === 'rejected') {
    const denied = accessError(status.reason);
    // Refused credentials say nothing about the member: unless /health already failed, its health is unknown.
    if (denied !== undefined && reasons.length === 0)
      return { healthy: false, reason: '', accessError: denied, accessOk: false };
    reasons.push(errorMessage(status.reason));
  }
  return {
    healthy: reasons.length === 0,
    reason: reasons.join('; '),
    // Only the v3 Status call carries the monitor's credentials; v2's /v2/stats/self needs none, so it says nothing about them.
    accessOk: backend === 'v3' && status.status === 'fulfilled',
  };
}

const UNHEALTHY_ACTION =
  "look at the member's process and log, its disk and its network to the others; the cluster keeps working while a majority is healthy, one more failure may cost it quorum";

/**
 * The finding of a member that is not healthy, or whose health is unknown
 * because its credentials are refused (the monitor's problem, said so).
 */
export function healthFinding(h: MemberHealth): Finding | undefined {
  const where = memberLabel(h.endpoint, h.name);
  if (h.accessError !== undefined)
    return {
      member: where,
      cause: "the monitor's credentials are refused",
      measure: `${h.accessError}: health unknown (etcd itself may be fine)`,
      severity: 'warning',
      action: "fix the monitor's user or password file",
      runbook: 'EtcdMonitorCredentialsRefused',
    };
  if (h.healthy) return undefined;
  return {
    member: where,
    cause: 'member unhealthy',
    measure: h.reason || 'no answer',
    severity: 'warning',
    action: UNHEALTHY_ACTION,
    runbook: 'EtcdMemberUnhealthy',
  };
}

async function inspectHealth(cluster: ClusterHandle, signal: AbortSignal): Promise<InspectionOutcome> {
  const members = cluster.members();
  if (members.length === 0) {
    return failedOutcome('no members known', { summary: 'no members known', details: { members: [] } });
  }
  const backend = cluster.identity.storageBackend;
  const results = await forEachMember(members, (m) => checkMember(m, backend, signal));
  const health: MemberHealth[] = results.map((r) => ({
    endpoint: r.member.snapshot.endpoint,
    id: r.member.snapshot.id === undefined ? undefined : memberIdHex(r.member.snapshot.id),
    name: r.member.snapshot.name,
    healthy: r.result?.healthy ?? false,
    reason: r.result?.reason ?? r.error ?? '',
    ...(r.result?.accessError !== undefined && { accessError: r.result.accessError }),
    accessOk: r.result?.accessOk ?? false,
    durationMs: r.durationMs,
  }));
  const metrics: MetricSample[] = [];
  for (const h of health) {
    if (h.endpoint === '') continue;
    if (h.accessError !== undefined) {
      metrics.push({
        name: HEALTHY_METRICS.accessError.name,
        labels: { endpoint: h.endpoint, reason: 'auth' },
        value: 1,
      });
      continue;
    }
    // 0 while the credentials work: an alert on 1 resolves to a value, not to an absent series.
    if (h.accessOk)
      metrics.push({
        name: HEALTHY_METRICS.accessError.name,
        labels: { endpoint: h.endpoint, reason: 'auth' },
        value: 0,
      });
    metrics.push({
      name: HEALTHY_METRICS.healthy.name,
      labels: { endpoint: h.endpoint },
      value: h.healthy ? 1 : 0,
    });
    metrics.push({
      name: HEALTHY_METRICS.checkDuration.name,
      labels: { endpoint: h.endpoint },
      value: h.durationMs / 1000,
    });
  }
  const healthyCount = health.filter((h) => h.healthy).length;
  const unhealthy = health
    .filter((h) => !h.healthy && h.accessError === undefined)
    .map((h) => `${h.endpoint || h.name || '?'} (${h.reason})`);
  const denied = health.filter((h) => h.accessError !== undefined);
  const summary =
    `${healthyCount}/${health.length} members healthy` +
    (unhealthy.length > 0 ? `; unhealthy: ${unhealthy.join(', ')}` : '') +
    (denied.length > 0
      ? `; unknown (the monitor cannot authenticate): ${denied.map((h) => h.endpoint).join(', ')}`
      : '');
  const details: HealthyDetails = { members: health };
  const problems = [
    ...unhealthy.map(
      (u) => `member ${u} is unhealthy: ${UNHEALTHY_ACTION}; see docs/runbooks.md (EtcdMemberUnhealthy)`,
    ),
    ...denied.map((h) => accessProblem(h.accessError ?? '', h.endpoint, "this member's health")),
  ];
  const findings = health.flatMap((h) => healthFinding(h) ?? []);
  return { ok: true, summary, problems, findings, details, metrics };
}

export const healthyFeature = defineFeature({
  name: 'healthy',
  description: 'Per member: /health and a Status call; a member that does not answer is unhealthy.',
  defaultIntervalSeconds: 30,
  metrics: HEALTHY_METRICS,
  inspect: inspectHealth,
});
