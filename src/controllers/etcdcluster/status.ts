/**
 * The EtcdCluster's .status, computed (pure) from what the provider read
 * (membership), the statuses of the cluster's EtcdInspections, and the
 * previous status (so lastTransitionTime only moves on a transition). Also:
 * whether it differs enough to be written, and which transitions deserve
 * an Event.
 */
import {
  type ClusterConditionType,
  findCondition,
  setCondition,
  type Condition,
  type ConditionInput,
  type ConditionStatus,
  type EtcdClusterStatus,
  type EtcdInspection,
  type FeatureGateStatus,
  type Problem,
  type ResolvedFeature,
} from '../../k8s/api/index.ts';
import { formatProblems, kubeTime } from '../../k8s/api/index.ts';
import type { DeepReadonly } from '../../k8s/client/index.ts';
import type { EventType } from '../../k8s/events.ts';
import type { ProviderStatus } from '../../providers/index.ts';
import { clip } from '../../k8s/api/index.ts';
import { ageMs, canonical } from '../status-writes.ts';

type ConditionBody = Omit<ConditionInput, 'type' | 'observedGeneration'>;

/** How each feature-backed condition reads its inspection. */
interface ConditionSource {
  readonly type: Exclude<ClusterConditionType, 'Ready'>;
  readonly feature: string;
  readonly ok: string;
  readonly problems: string;
}

const SOURCES: readonly ConditionSource[] = [
  { type: 'Healthy', feature: 'healthy', ok: 'Healthy', problems: 'Unhealthy' },
  { type: 'Consistent', feature: 'consistency', ok: 'Consistent', problems: 'Inconsistent' },
  { type: 'AlarmsClear', feature: 'alarm', ok: 'NoAlarms', problems: 'AlarmsRaised' },
  { type: 'WithinQuota', feature: 'quota', ok: 'WithinQuota', problems: 'QuotaProblems' },
  { type: 'TopologyOk', feature: 'topology', ok: 'TopologyOk', problems: 'TopologyProblems' },
  {
    type: 'CertificatesValid',
    feature: 'certificates',
    ok: 'CertificatesValid',
    problems: 'CertificateProblems',
  },
  { type: 'PerformanceOk', feature: 'performance', ok: 'PerformanceOk', problems: 'PerformanceProblems' },
  { type: 'LatencyOk', feature: 'latency', ok: 'LatencyOk', problems: 'SlowProbes' },
];

const MESSAGE_MAX = 4096;

/**
 * A condition from an inspection's status, or undefined when the inspection
 * has no verdict yet (absent, pending, blocked).
 */
function fromInspection(
  source: ConditionSource,
  inspection: DeepReadonly<EtcdInspection> | undefined,
): ConditionBody | undefined {
  const status = inspection?.status;
  const result = status?.lastResult;
  switch (status?.phase) {
    case 'Ok':
      return {
        status: 'True',
        reason: source.ok,
        message: clip(result?.summary ?? status.message ?? '', MESSAGE_MAX),
      };
    case 'Problems': {
      const problems = result?.problems ?? [];
      return {
        status: 'False',
        reason: source.problems,
        message: clip(
          problems.length > 0 ? problems.join('; ') : (result?.summary ?? status.message ?? ''),
          MESSAGE_MAX,
        ),
      };
    }
    case 'Error':
      return {
        status: 'Unknown',
        reason: 'InspectionFailed',
        message: clip(result?.error ?? status.message ?? 'the inspection failed', MESSAGE_MAX),
      };
    default:
      return undefined;
  }
}

function featureCondition(
  source: ConditionSource,
  feature: ResolvedFeature | undefined,
  inspection: DeepReadonly<EtcdInspection> | undefined,
  provider: ProviderStatus,
): ConditionBody {
  const enabled = feature?.enabled === true;
  const verdict = enabled ? fromInspection(source, inspection) : undefined;
  if (verdict !== undefined) return verdict;
  // Health is also known from membership (every member's Status) when the healthy inspection has nothing yet.
  if (source.type === 'Healthy') return provider.membersHealth;
  if (!enabled)
    return {
      status: 'Unknown',
      reason: 'FeatureDisabled',
      message: `the ${source.feature} feature is not enabled`,
    };
  const why =
    inspection === undefined
      ? 'its EtcdInspection does not exist yet'
      : inspection.status?.phase === 'Blocked'
        ? `it is blocked: ${inspection.status.message ?? ''}`
        : 'it has not run yet';
  return {
    status: 'Unknown',
    reason: 'Pending',
    message: clip(`waiting for the ${source.feature} inspection: ${why}`, MESSAGE_MAX),
  };
}

export interface RunningStatusInput {
  readonly previous: DeepReadonly<EtcdClusterStatus> | undefined;
  readonly generation: number | undefined;
  readonly provider: ProviderStatus;
  /** Every feature the object names, as validation resolved them. */
  readonly features: Readonly<Record<string, ResolvedFeature>>;
  /** The cluster's own EtcdInspections, by feature. */
  readonly inspections: ReadonlyMap<string, DeepReadonly<EtcdInspection>>;
  /** Inspection names by feature (enabled ones). */
  readonly inspectionNames: ReadonlyMap<string, string>;
  /** Something to say about a feature (e.g. its inspection is someone else's). */
  readonly featureMessages: ReadonlyMap<string, string>;
  readonly now: Date;
}

function withConditions(
  previous: readonly Readonly<Condition>[] | undefined,
  bodies: readonly [string, ConditionBody][],
  generation: number | undefined,
  now: Date,
): Condition[] {
  let list = (previous ?? []).map((c) => ({ ...c }));
  for (const [type, body] of bodies) {
    list = setCondition(
      list,
      { type, ...body, ...(generation !== undefined && { observedGeneration: generation }) },
      now,
    );
  }
  return list;
}

export function runningStatus(input: RunningStatusInput): EtcdClusterStatus {
  const { provider, previous, generation, now } = input;
  const bodies: [string, ConditionBody][] = [['Ready', provider.ready]];
  for (const source of SOURCES)
    bodies.push([
      source.type,
      featureCondition(
        source,
        input.features[source.feature],
        input.inspections.get(source.feature),
        provider,
      ),
    ]);

  const gates: Record<string, FeatureGateStatus> = {};
  for (const [name, feature] of Object.entries(input.features)) {
    const inspection = input.inspectionNames.get(name);
    const message = input.featureMessages.get(name);
    gates[name] = {
      enabled: feature.enabled,
      ...(feature.enabled && inspection !== undefined && { inspection }),
      ...(message !== undefined && { message: clip(message, 1024) }),
    };
  }
  const lastInspectionTime =
    provider.checkedAt !== undefined ? kubeTime(provider.checkedAt) : previous?.lastInspectionTime;
  return {
    phase: provider.phase,
    conditions: withConditions(previous?.conditions, bodies, generation, now),
    ...(generation !== undefined && { observedGeneration: generation }),
    members: provider.members.map((m) => ({ ...m })),
    ...(provider.membersReady !== undefined && { membersReady: provider.membersReady }),
    ...(provider.leader !== undefined && { leader: provider.leader }),
    ...(provider.version !== undefined && { version: provider.version }),
    featureGatesStatus: gates,
    ...(lastInspectionTime !== undefined && { lastInspectionTime }),
  };
}

/** The status of an object whose spec cannot be acted on: why, and nothing stale. */
export function invalidStatus(
  previous: DeepReadonly<EtcdClusterStatus> | undefined,
  generation: number | undefined,
  problems: readonly Problem[],
  now: Date,
): EtcdClusterStatus {
  const message = clip(formatProblems(problems), MESSAGE_MAX);
  const unknown: ConditionBody = {
    status: 'Unknown',
    reason: 'InvalidSpec',
    message: 'the spec is invalid (see the Ready condition)',
  };
  const bodies: [string, ConditionBody][] = [
    ['Ready', { status: 'False', reason: 'InvalidSpec', message }],
    ...SOURCES.map((s): [string, ConditionBody] => [s.type, unknown]),
  ];
  return {
    phase: 'Invalid',
    conditions: withConditions(previous?.conditions, bodies, generation, now),
    ...(generation !== undefined && { observedGeneration: generation }),
    ...(previous?.featureGatesStatus !== undefined && {
      featureGatesStatus: structuredClone(previous.featureGatesStatus) as Record<string, FeatureGateStatus>,
    }),
    ...(previous?.lastInspectionTime !== undefined && { lastInspectionTime: previous.lastInspectionTime }),
  };
}

/**
 * Whether a Pending status (no membership read in this process yet) is
 * better not written: the object has no status yet (one write once the
 * membership was read, instead of Pending then Running), or its status is
 * a membership read's for the same generation — a cluster just given to
 * this process (a start, a hand-off from another replica) keeps the last
 * known state until its first read here, instead of flapping to Pending.
 * The membership read (a store event) brings the sync back.
 */
export function awaitsFirstRead(
  previous: DeepReadonly<EtcdClusterStatus> | undefined,
  next: EtcdClusterStatus,
): boolean {
  if (next.phase !== 'Pending') return false;
  if (previous === undefined) return true;
  return (
    previous.observedGeneration === next.observedGeneration &&
    (previous.phase === 'Running' || previous.phase === 'Degraded' || previous.phase === 'Unavailable')
  );
}

/**
 * Whether `next` must be written over `previous`: anything but
 * lastInspectionTime differs, or lastInspectionTime is older than
 * refreshMs (so a steady cluster costs one write per refreshMs, not one per
 * membership read).
 */
export function needsWrite(
  previous: DeepReadonly<EtcdClusterStatus> | undefined,
  next: EtcdClusterStatus,
  now: Date,
  refreshMs: number,
): boolean {
  if (previous === undefined) return true;
  const { lastInspectionTime: _p, ...prevRest } = previous;
  const { lastInspectionTime: nextTime, ...nextRest } = next;
  if (canonical(prevRest) !== canonical(nextRest)) return true;
  return (
    nextTime !== undefined &&
    nextTime !== previous.lastInspectionTime &&
    ageMs(previous.lastInspectionTime, now) >= refreshMs
  );
}

export interface StatusEvent {
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
}

/**
 * Events for condition transitions: a Warning (named by the condition's
 * reason) whenever a condition becomes False or says something new while
 * False, a Normal one when it recovers from False.
 */
export function transitionEvents(
  previous: readonly Readonly<Condition>[] | undefined,
  next: readonly Readonly<Condition>[],
): StatusEvent[] {
  const events: StatusEvent[] = [];
  for (const type of ['Ready', ...SOURCES.map((s) => s.type)]) {
    const now = findCondition(next, type);
    if (now === undefined) continue;
    const before = findCondition(previous, type);
    const was: ConditionStatus | undefined = before?.status;
    if (
      now.status === 'False' &&
      (was !== 'False' || before?.reason !== now.reason || before?.message !== now.message)
    ) {
      events.push({ type: 'Warning', reason: now.reason, message: `${type}: ${now.message}` });
    } else if (now.status === 'True' && was === 'False') {
      events.push({ type: 'Normal', reason: now.reason, message: `${type}: ${now.message}` });
    }
  }
  return events;
}
