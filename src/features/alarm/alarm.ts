import { family, type MetricDefinition } from '../../metrics/catalogue.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import { memberIdHex, type AlarmMember } from '../../etcd/types.ts';
import {
  defineFeature,
  type ClusterHandle,
  type InspectionOutcome,
  type MemberHandle,
} from '../../engine/contract.ts';
import type { Finding } from '../../findings.ts';
import { firstMemberAnswer } from '../members.ts';
import { memberLabel } from '../units.ts';

export const ALARM_METRICS = {
  alarm: family.gauge(
    'inspection_etcd_endpoint_alarm',
    '1 for each raised alarm. endpoint is the member the alarm is raised on; "cluster" for a cluster-wide alarm (member ID 0, e.g. CORRUPT); "member-<hex id>" for a member not in the membership.',
    ['endpoint', 'alarmType'],
  ),
  count: family.gauge(
    'inspection_etcd_alarms',
    'Number of alarms raised in the cluster (0 when clear): alert on > 0 without relying on absent series.',
  ),
} as const satisfies Record<string, MetricDefinition>;

/** The endpoint label of a cluster-wide alarm (member ID 0). */
export const CLUSTER_WIDE = 'cluster';

export interface RaisedAlarm {
  readonly type: string;
  /** Hex member ID; "0" for a cluster-wide alarm. */
  readonly memberId: string;
  readonly endpoint: string;
}

export interface AlarmDetails {
  readonly alarms: readonly RaisedAlarm[];
  /** The member that answered the alarm list. */
  readonly answeredBy: string;
}

export function alarmEndpoint(alarm: AlarmMember, members: readonly MemberHandle[]): string {
  if (alarm.memberId === 0n) return CLUSTER_WIDE;
  const member = members.find((m) => m.snapshot.id === alarm.memberId);
  return member !== undefined && member.snapshot.endpoint !== ''
    ? member.snapshot.endpoint
    : `member-${memberIdHex(alarm.memberId)}`;
}

/** What each alarm means for the cluster and what to do, with its runbook section (the alert's). */
const ALARM_ADVICE: Readonly<Record<string, Pick<Finding, 'cause' | 'severity' | 'action' | 'runbook'>>> = {
  NOSPACE: {
    cause: 'backend quota reached',
    severity: 'critical',
    action:
      'the cluster accepts only reads and deletes: compact, defragment every member (leader last), then disarm the alarm (etcdctl alarm disarm)',
    runbook: 'EtcdNoSpaceAlarm',
  },
  CORRUPT: {
    cause: 'members hold different data',
    severity: 'critical',
    action:
      'do not disarm yet: find the divergent member (the consistency inspection names it), replace it from a snapshot of a good one, then disarm',
    runbook: 'EtcdCorruptAlarm',
  },
};

/** The finding of one raised alarm; `where` names the member ("cluster" for a cluster-wide alarm). */
export function alarmFinding(alarm: RaisedAlarm, where: string): Finding {
  return {
    member: where,
    measure: `alarm ${alarm.type} raised`,
    ...(ALARM_ADVICE[alarm.type] ?? {
      cause: `alarm ${alarm.type}`,
      severity: 'warning',
      action:
        "any raised alarm fails /health: find its cause in the member's log, then disarm it (etcdctl alarm disarm)",
      runbook: 'EtcdAlarmRaised',
    }),
  };
}

/** "alarm NOSPACE raised on 10.0.0.1:2379: <what to do>; see docs/runbooks.md (EtcdNoSpaceAlarm)". */
function alarmProblem(alarm: RaisedAlarm, finding: Finding): string {
  return `alarm ${alarm.type} raised on ${alarm.endpoint}: ${finding.action}; see docs/runbooks.md (${finding.runbook})`;
}

async function inspectAlarms(cluster: ClusterHandle, signal: AbortSignal): Promise<InspectionOutcome> {
  const members = cluster.members();
  // The alarm list goes through raft: one member's answer is the cluster's.
  const { member, result } = await firstMemberAnswer(
    members,
    'alarm list',
    (m) => m.v3().alarmList({ signal }),
    signal,
  );
  const alarms: RaisedAlarm[] = result.map((a) => ({
    type: a.alarm,
    memberId: memberIdHex(a.memberId),
    endpoint: alarmEndpoint(a, members),
  }));
  const metrics: MetricSample[] = alarms.map((a) => ({
    name: ALARM_METRICS.alarm.name,
    labels: { endpoint: a.endpoint, alarmType: a.type },
    value: 1,
  }));
  metrics.push({ name: ALARM_METRICS.count.name, labels: {}, value: alarms.length });
  const summary =
    alarms.length === 0
      ? 'no alarms'
      : `alarms raised: ${alarms.map((a) => `${a.type} on ${a.endpoint}`).join(', ')}`;
  const details: AlarmDetails = { alarms, answeredBy: member.snapshot.endpoint };
  const findings = alarms.map((a) => {
    const member = members.find((m) => m.snapshot.endpoint === a.endpoint);
    return alarmFinding(a, member !== undefined ? memberLabel(a.endpoint, member.snapshot.name) : a.endpoint);
  });
  const problems = alarms.map((a, i) => alarmProblem(a, findings[i]!));
  return { ok: true, summary, problems, findings, details, metrics };
}

export const alarmFeature = defineFeature({
  name: 'alarm',
  description: 'Every alarm of the cluster (NOSPACE, CORRUPT), cluster-wide ones included.',
  defaultIntervalSeconds: 30,
  metrics: ALARM_METRICS,
  inspect: inspectAlarms,
});
