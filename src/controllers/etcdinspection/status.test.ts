import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FeatureRun, FeatureSnapshot } from '../../engine/snapshot.ts';
import type { EtcdInspectionStatus } from '../../k8s/api/index.ts';
import { nextInspectionStatus, pendingDeferral } from './status.ts';

const T0 = new Date('2025-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const REFRESH = 300_000;

function feature(startedAtS: number, run: Partial<FeatureRun> = {}): FeatureSnapshot {
  return {
    name: 'healthy',
    intervalSeconds: 10,
    runs: 1,
    failures: 0,
    consecutiveFailures: 0,
    last: {
      ok: true,
      summary: '3/3 members healthy',
      problems: [],
      details: null,
      metrics: [],
      startedAt: at(startedAtS),
      durationMs: 4.4,
      ...run,
    },
  };
}

const running = (f: FeatureSnapshot | undefined, configErrors: string[] = []) => ({
  kind: 'running' as const,
  feature: f,
  configErrors,
});

/** A feature that has not run yet. */
const noRound = running({
  name: 'healthy',
  intervalSeconds: 10,
  runs: 0,
  failures: 0,
  consecutiveFailures: 0,
});

/** The status after a first successful round at T0+1 s, which later rounds compare against. */
const firstOkStatus = () =>
  nextInspectionStatus(undefined, 1, running(feature(1)), at(1), REFRESH) as EtcdInspectionStatus;

describe('EtcdInspection status', () => {
  it('Pending before the first round, then Ok with the result and when the round ended', () => {
    const pending = nextInspectionStatus(
      undefined,
      1,
      running({ name: 'healthy', intervalSeconds: 10, runs: 0, failures: 0, consecutiveFailures: 0 }),
      T0,
      REFRESH,
    );
    assert.deepEqual(pending, {
      phase: 'Pending',
      observedGeneration: 1,
      message: 'waiting for the first round',
    });
    const ok = nextInspectionStatus(pending, 1, running(feature(1)), at(2), REFRESH);
    assert.deepEqual(ok, {
      phase: 'Ok',
      observedGeneration: 1,
      message: '3/3 members healthy',
      lastResult: { ok: true, summary: '3/3 members healthy', durationMilliseconds: 4 },
      lastUpdatedTime: '2025-01-01T00:00:01Z',
    });
  });

  it('Problems and Error carry what was found and why there is no verdict', () => {
    const problems = nextInspectionStatus(
      undefined,
      1,
      running(feature(1, { summary: '2/3 healthy', problems: ['member m2 is unhealthy'] })),
      T0,
      REFRESH,
    );
    assert.equal(problems?.phase, 'Problems');
    assert.equal(problems?.message, 'member m2 is unhealthy');
    assert.deepEqual(problems?.lastResult?.problems, ['member m2 is unhealthy']);
    const error = nextInspectionStatus(
      problems,
      1,
      running(feature(2, { ok: false, error: 'no members known', summary: 'failed' })),
      T0,
      REFRESH,
    );
    assert.equal(error?.phase, 'Error');
    assert.equal(error?.message, 'no members known');
    assert.equal(error?.lastResult?.error, 'no members known');
    const config = nextInspectionStatus(
      undefined,
      1,
      running(undefined, ['feature healthy does not support the v2 storage backend']),
      T0,
      REFRESH,
    );
    assert.deepEqual(
      [config?.phase, config?.message],
      ['Error', 'feature healthy does not support the v2 storage backend'],
    );
  });

  it('a steady result is not written again; a moving summary only every refresh period; a new verdict at once', () => {
    const first = firstOkStatus();
    assert.equal(
      nextInspectionStatus(first, 1, running(feature(11, { durationMs: 7 })), at(12), REFRESH),
      undefined,
      'same verdict, other duration',
    );
    assert.equal(
      nextInspectionStatus(first, 1, running(feature(401, { durationMs: 9 })), at(402), REFRESH),
      undefined,
      'the duration alone is never worth a write',
    );
    const moved = feature(21, { summary: 'at revision 42' });
    assert.equal(
      nextInspectionStatus(first, 1, running(moved), at(22), REFRESH),
      undefined,
      'a summary that moves is not worth a write yet',
    );
    const refreshed = nextInspectionStatus(first, 1, running(moved), at(301), REFRESH);
    assert.equal(refreshed?.lastResult?.summary, 'at revision 42');
    assert.equal(refreshed?.lastUpdatedTime, '2025-01-01T00:00:21Z');
    const problem = nextInspectionStatus(
      first,
      1,
      running(feature(31, { problems: ['member m1 is unhealthy'] })),
      at(32),
      REFRESH,
    );
    assert.equal(problem?.phase, 'Problems', 'a new verdict is written at once');
    assert.equal(
      nextInspectionStatus(first, 2, running(feature(41)), at(42), REFRESH)?.observedGeneration,
      2,
      'a new generation is written',
    );
  });

  it('Blocked and invalid keep the last result for reference', () => {
    const first = firstOkStatus();
    const blocked = nextInspectionStatus(
      first,
      1,
      { kind: 'blocked', message: 'EtcdCluster ops/prod not found' },
      at(5),
      REFRESH,
    );
    assert.deepEqual([blocked?.phase, blocked?.message], ['Blocked', 'EtcdCluster ops/prod not found']);
    assert.deepEqual(blocked?.lastResult, first.lastResult);
    assert.equal(blocked?.lastUpdatedTime, first.lastUpdatedTime);
    assert.equal(
      nextInspectionStatus(
        blocked,
        1,
        { kind: 'blocked', message: 'EtcdCluster ops/prod not found' },
        at(9),
        REFRESH,
      ),
      undefined,
    );
    const invalid = nextInspectionStatus(
      undefined,
      1,
      { kind: 'invalid', message: 'spec.inspectionType: unknown feature "x"' },
      at(5),
      REFRESH,
    );
    assert.deepEqual(
      [invalid?.phase, invalid?.message],
      ['Error', 'invalid: spec.inspectionType: unknown feature "x"'],
    );
  });
});

describe('Pending of a new inspection', () => {
  it('is put off for a grace period after creation, then written', () => {
    assert.equal(pendingDeferral(undefined, noRound, '2025-01-01T00:00:00Z', at(3), 10_000), 7_000);
    assert.equal(pendingDeferral(undefined, noRound, '2025-01-01T00:00:00Z', at(10), 10_000), undefined);
  });
  it('is never put off for an inspection that has a status, a result or a problem', () => {
    const pending = nextInspectionStatus(undefined, 1, noRound, T0, REFRESH);
    assert.equal(pendingDeferral(pending, noRound, '2025-01-01T00:00:00Z', at(1), 10_000), undefined);
    assert.equal(
      pendingDeferral(undefined, running(feature(0)), '2025-01-01T00:00:00Z', at(1), 10_000),
      undefined,
    );
    assert.equal(
      pendingDeferral(undefined, running(undefined, ['bad options']), '2025-01-01T00:00:00Z', at(1), 10_000),
      undefined,
    );
    assert.equal(
      pendingDeferral(
        undefined,
        { kind: 'blocked', message: 'no cluster' },
        '2025-01-01T00:00:00Z',
        at(1),
        10_000,
      ),
      undefined,
    );
  });
});

describe('a cluster this process was just given (start, hand-off): no round here yet', () => {
  it('keeps the previous round’s verdict of the same generation: no Pending write', () => {
    const ok = firstOkStatus();
    assert.equal(nextInspectionStatus(ok, 1, noRound, at(60), REFRESH), undefined, 'Ok stays');
    const problems = nextInspectionStatus(
      undefined,
      1,
      running(feature(1, { problems: ['member m2 is unhealthy'] })),
      at(1),
      REFRESH,
    );
    assert.equal(nextInspectionStatus(problems, 1, noRound, at(60), REFRESH), undefined, 'Problems stays');
    const failed = nextInspectionStatus(
      undefined,
      1,
      running(feature(1, { ok: false, error: 'context deadline exceeded' })),
      at(1),
      REFRESH,
    );
    assert.equal(failed?.phase, 'Error');
    assert.equal(
      nextInspectionStatus(failed, 1, noRound, at(60), REFRESH),
      undefined,
      'a failed round stays',
    );
    // Its first round here then writes only what changed.
    assert.equal(nextInspectionStatus(ok, 1, running(feature(61)), at(62), REFRESH), undefined);
  });
  it('writes Pending over a verdict that is not a round’s of this generation', () => {
    const ok = firstOkStatus();
    assert.equal(nextInspectionStatus(ok, 2, noRound, at(60), REFRESH)?.phase, 'Pending', 'a new generation');
    const blocked = nextInspectionStatus(ok, 1, { kind: 'blocked', message: 'no cluster' }, at(5), REFRESH);
    assert.equal(nextInspectionStatus(blocked, 1, noRound, at(60), REFRESH)?.phase, 'Pending', 'Blocked');
    const invalid = nextInspectionStatus(ok, 1, { kind: 'invalid', message: 'bad' }, at(5), REFRESH);
    assert.equal(nextInspectionStatus(invalid, 1, noRound, at(60), REFRESH)?.phase, 'Pending', 'invalid');
    const config = nextInspectionStatus(ok, 1, running(undefined, ['no TLS']), at(5), REFRESH);
    assert.equal(config?.phase, 'Error');
    assert.equal(
      nextInspectionStatus(config, 1, noRound, at(60), REFRESH)?.phase,
      'Pending',
      'config errors',
    );
  });
});
