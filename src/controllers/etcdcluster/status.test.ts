import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  EtcdClusterStatus,
  EtcdInspection,
  InspectionPhase,
  ResolvedFeature,
} from '../../k8s/api/index.ts';
import { deepFreeze, type DeepReadonly } from '../../k8s/client/index.ts';
import { importedStatus } from '../../providers/imported.ts';
import type { ProviderStatus } from '../../providers/index.ts';
import { spreadPeriod } from './controller.ts';
import {
  awaitsFirstRead,
  invalidStatus,
  needsWrite,
  runningStatus,
  transitionEvents,
  type RunningStatusInput,
} from './status.ts';

const T0 = new Date('2025-01-01T00:00:00Z');
const later = (ms: number) => new Date(T0.getTime() + ms);

const provider = (extra: Partial<ProviderStatus> = {}): ProviderStatus => ({
  phase: 'Running',
  members: [{ id: 'a0', name: 'm0', healthy: true }],
  membersReady: '1/1',
  leader: 'm0',
  version: '3.6.16',
  ready: { status: 'True', reason: 'MembersDiscovered', message: '1 member(s), leader m0' },
  membersHealth: { status: 'True', reason: 'Healthy', message: '1/1 members healthy' },
  checkedAt: T0,
  ...extra,
});

function inspection(
  type: string,
  phase: InspectionPhase | undefined,
  result: { summary?: string; problems?: string[]; error?: string } = {},
): DeepReadonly<EtcdInspection> {
  return deepFreeze({
    apiVersion: 'etcdmonitor.dev/v1alpha1',
    kind: 'EtcdInspection',
    metadata: { name: `prod-${type}`, namespace: 'ops' },
    spec: { clusterName: 'prod', inspectionType: type },
    ...(phase !== undefined && {
      status: {
        phase,
        lastResult: {
          ok: phase !== 'Error',
          summary: result.summary ?? '',
          ...(result.problems && { problems: result.problems }),
          ...(result.error && { error: result.error }),
        },
      },
    }),
  });
}

const on: ResolvedFeature = { enabled: true, source: 'spec' };
const off: ResolvedFeature = { enabled: false, source: 'spec' };

function input(extra: Partial<RunningStatusInput> = {}): RunningStatusInput {
  return {
    previous: undefined,
    generation: 2,
    provider: provider(),
    features: { healthy: on, alarm: on, consistency: off },
    inspections: new Map(),
    inspectionNames: new Map([
      ['healthy', 'prod-healthy'],
      ['alarm', 'prod-alarm'],
    ]),
    featureMessages: new Map(),
    now: T0,
    ...extra,
  };
}

const conditions = (s: EtcdClusterStatus) =>
  Object.fromEntries((s.conditions ?? []).map((c) => [c.type, `${c.status} ${c.reason}: ${c.message}`]));

describe('EtcdCluster status', () => {
  it('takes Healthy, AlarmsClear and Consistent from the inspections, Ready from membership', () => {
    const s = runningStatus(
      input({
        features: { healthy: on, alarm: on, consistency: on },
        inspections: new Map([
          ['healthy', inspection('healthy', 'Ok', { summary: '3/3 members healthy' })],
          [
            'alarm',
            inspection('alarm', 'Problems', {
              summary: 'alarms raised',
              problems: ['NOSPACE on 10.0.0.1:2379'],
            }),
          ],
          ['consistency', inspection('consistency', 'Error', { error: 'no member answered' })],
        ]),
      }),
    );
    assert.deepEqual(conditions(s), {
      Ready: 'True MembersDiscovered: 1 member(s), leader m0',
      Healthy: 'True Healthy: 3/3 members healthy',
      Consistent: 'Unknown InspectionFailed: no member answered',
      AlarmsClear: 'False AlarmsRaised: NOSPACE on 10.0.0.1:2379',
      WithinQuota: 'Unknown FeatureDisabled: the quota feature is not enabled',
      TopologyOk: 'Unknown FeatureDisabled: the topology feature is not enabled',
      CertificatesValid: 'Unknown FeatureDisabled: the certificates feature is not enabled',
      PerformanceOk: 'Unknown FeatureDisabled: the performance feature is not enabled',
      LatencyOk: 'Unknown FeatureDisabled: the latency feature is not enabled',
    });
    assert.ok(
      (s.conditions ?? []).every(
        (c) => c.observedGeneration === 2 && c.lastTransitionTime === '2025-01-01T00:00:00Z',
      ),
    );
    assert.equal(s.observedGeneration, 2);
    assert.equal(s.lastInspectionTime, '2025-01-01T00:00:00Z');
    assert.deepEqual([s.phase, s.membersReady, s.leader, s.version], ['Running', '1/1', 'm0', '3.6.16']);
  });

  it('falls back to the members for Healthy until the healthy inspection has a verdict; a disabled feature says so', () => {
    const unhealthy = provider({
      membersHealth: { status: 'False', reason: 'Unhealthy', message: '0/1 members healthy; m0: refused' },
    });
    const s = runningStatus(
      input({
        provider: unhealthy,
        inspections: new Map([
          ['healthy', inspection('healthy', 'Pending')],
          ['alarm', inspection('alarm', 'Blocked')],
        ]),
      }),
    );
    const c = conditions(s);
    assert.equal(c['Healthy'], 'False Unhealthy: 0/1 members healthy; m0: refused');
    assert.equal(c['Consistent'], 'Unknown FeatureDisabled: the consistency feature is not enabled');
    assert.match(c['AlarmsClear'] ?? '', /^Unknown Pending: waiting for the alarm inspection: it is blocked/);
    assert.deepEqual(s.featureGatesStatus, {
      healthy: { enabled: true, inspection: 'prod-healthy' },
      alarm: { enabled: true, inspection: 'prod-alarm' },
      consistency: { enabled: false },
    });
  });

  it('lastTransitionTime moves only when a condition changes status', () => {
    const first = runningStatus(input());
    const same = runningStatus(input({ previous: first, now: later(60_000) }));
    assert.deepEqual(same.conditions, first.conditions);
    const down = runningStatus(
      input({
        previous: first,
        now: later(120_000),
        provider: provider({
          ready: { status: 'False', reason: 'MembershipUnavailable', message: 'refused' },
        }),
      }),
    );
    const ready = down.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.lastTransitionTime, '2025-01-01T00:02:00Z');
    assert.equal(
      down.conditions?.find((c) => c.type === 'Healthy')?.lastTransitionTime,
      '2025-01-01T00:00:00Z',
    );
  });

  it('is written when it changes, and when only lastInspectionTime moved no more than every refresh period', () => {
    const refresh = 300_000;
    const written = runningStatus(input());
    assert.equal(needsWrite(undefined, written, T0, refresh), true);
    const nextRead = runningStatus(
      input({ previous: written, provider: provider({ checkedAt: later(30_000) }), now: later(30_000) }),
    );
    assert.equal(
      needsWrite(written, nextRead, later(30_000), refresh),
      false,
      'a new membership read alone is not worth a write',
    );
    const muchLater = runningStatus(
      input({ previous: written, provider: provider({ checkedAt: later(refresh) }), now: later(refresh) }),
    );
    assert.equal(
      needsWrite(written, muchLater, later(refresh), refresh),
      true,
      'but lastInspectionTime is refreshed every few minutes',
    );
    const changed = runningStatus(
      input({
        previous: written,
        provider: provider({ leader: 'm1', checkedAt: later(30_000) }),
        now: later(30_000),
      }),
    );
    assert.equal(needsWrite(written, changed, later(30_000), refresh), true);
    // The apiserver returns keys sorted: a status read back compares equal to the one computed.
    const readBack = JSON.parse(
      JSON.stringify(written, (_k, v: unknown) =>
        v !== null && typeof v === 'object' && !Array.isArray(v)
          ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
          : v,
      ),
    ) as EtcdClusterStatus;
    assert.equal(needsWrite(readBack, runningStatus(input({ previous: readBack })), T0, refresh), false);
  });

  it('Pending (no membership read here yet) is not written over nothing or over a read of the same generation', () => {
    // What the imported provider says before its first membership read.
    const unread = importedStatus(undefined);
    const pending = (previous?: EtcdClusterStatus, generation = 2) =>
      runningStatus(input({ previous, generation, provider: unread }));
    assert.equal(awaitsFirstRead(undefined, pending()), true, 'a new object: one write after the read');
    const running = runningStatus(input());
    assert.equal(awaitsFirstRead(running, pending(running)), true, 'adopted: the last state stays');
    for (const phase of ['Degraded', 'Unavailable'] as const) {
      const read = runningStatus(input({ provider: provider({ phase }) }));
      assert.equal(awaitsFirstRead(read, pending(read)), true, phase);
    }
    assert.equal(awaitsFirstRead(running, pending(running, 3)), false, 'a new generation is written');
    const invalid = invalidStatus(undefined, 2, [{ field: 'spec.endpoints', message: 'empty' }], T0);
    assert.equal(awaitsFirstRead(invalid, pending(invalid)), false, 'Invalid is not kept');
    assert.equal(awaitsFirstRead(running, runningStatus(input({ previous: running }))), false);
  });

  it('an invalid spec: phase Invalid, Ready False with the problems, no stale members', () => {
    const before = runningStatus(input());
    const s = invalidStatus(
      before,
      3,
      [{ field: 'spec.tls', message: 'Secret ops/x not found' }],
      later(1_000),
    );
    assert.equal(s.phase, 'Invalid');
    assert.equal(conditions(s)['Ready'], 'False InvalidSpec: spec.tls: Secret ops/x not found');
    assert.equal(
      conditions(s)['Healthy'],
      'Unknown InvalidSpec: the spec is invalid (see the Ready condition)',
    );
    assert.equal(s.members, undefined);
    assert.equal(s.observedGeneration, 3);
    assert.deepEqual(s.featureGatesStatus, before.featureGatesStatus);
  });

  it('Events for transitions: a Warning when a condition turns False or says something new, a Normal one on recovery', () => {
    const ok = runningStatus(input());
    assert.deepEqual(transitionEvents(undefined, ok.conditions ?? []), []);
    const sick = runningStatus(
      input({
        previous: ok,
        provider: provider({
          membersHealth: { status: 'False', reason: 'Unhealthy', message: '0/1 healthy' },
        }),
      }),
    );
    assert.deepEqual(transitionEvents(ok.conditions, sick.conditions ?? []), [
      { type: 'Warning', reason: 'Unhealthy', message: 'Healthy: 0/1 healthy' },
    ]);
    assert.deepEqual(transitionEvents(sick.conditions, sick.conditions ?? []), [], 'nothing new: no Event');
    const worse = runningStatus(
      input({
        previous: sick,
        provider: provider({
          membersHealth: { status: 'False', reason: 'Unhealthy', message: '0/3 healthy' },
        }),
      }),
    );
    assert.equal(transitionEvents(sick.conditions, worse.conditions ?? []).length, 1);
    const healed = runningStatus(input({ previous: worse }));
    assert.deepEqual(transitionEvents(worse.conditions, healed.conditions ?? []), [
      { type: 'Normal', reason: 'Healthy', message: 'Healthy: 1/1 members healthy' },
    ]);
  });
});

describe('refresh period per object', () => {
  it('is the base period plus up to half of it, fixed per object, and spread over objects', () => {
    const base = 300_000;
    const periods = Array.from({ length: 1000 }, (_, i) =>
      spreadPeriod(base, `6f1c2a0e-0000-4000-8000-${String(i).padStart(12, '0')}`),
    );
    assert.ok(periods.every((p) => p >= base && p < 1.5 * base));
    assert.equal(spreadPeriod(base, 'uid-a'), spreadPeriod(base, 'uid-a'));
    const minutes = new Set(periods.map((p) => Math.floor(p / 30_000)));
    assert.ok(minutes.size >= 5, `spread over ${minutes.size} half-minutes`);
  });
});
