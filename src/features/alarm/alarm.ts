import type { MetricDefinition } from '../../metrics/catalogue.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import { memberIdHex, type AlarmMember } from '../../etcd/types.ts';
import type {
  ClusterHandle,
  Feature,
  FeatureSession,
  InspectionOutcome,
  MemberHandle,
} from '../../engine/contract.ts';
import { firstMemberAnswer } from '../members.ts';
import { NoOptions, parseOptions } from '../options.ts';

export const ALARM_METRICS = {
  alarm: {
    name: 'inspection_etcd_endpoint_alarm',
    type: 'gauge',
    help: '1 for each raised alarm. endpoint is the member the alarm is raised on; "cluster" for a cluster-wide alarm (member ID 0, e.g. CORRUPT); "member-<hex id>" for a member not in the membership.',
    labels: ['endpoint', 'alarmType'],
  },
  count: {
    name: 'inspection_etcd_alarms',
    type: 'gauge',
    help: 'Number of alarms raised in the cluster (0 when clear): alert on > 0 without relying on absent series.',
    labels: [],
  },
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

class AlarmSession implements FeatureSession {
  readonly #cluster: ClusterHandle;

  constructor(cluster: ClusterHandle) {
    this.#cluster = cluster;
  }

  async inspect(signal: AbortSignal): Promise<InspectionOutcome> {
    const members = this.#cluster.members();
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
    const problems = alarms.map((a) => `alarm ${a.type} raised on ${a.endpoint}`);
    return { ok: true, summary, problems, details, metrics };
  }

  async close(): Promise<void> {}
}

export class AlarmFeature implements Feature<Record<string, never>> {
  readonly name = 'alarm';
  readonly description = 'Every alarm of the cluster (NOSPACE, CORRUPT), cluster-wide ones included.';
  // v2-backed clusters on etcd 3.x serve the v3 maintenance API too.
  readonly backends = ['v3', 'v2'] as const;
  readonly defaultIntervalSeconds = 30;
  readonly metrics = Object.values(ALARM_METRICS);

  parseOptions(raw: Readonly<Record<string, unknown>> | undefined): Record<string, never> {
    return parseOptions(this.name, NoOptions, raw) as Record<string, never>;
  }

  open(cluster: ClusterHandle): FeatureSession {
    return new AlarmSession(cluster);
  }
}
