import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Finding } from '../findings.ts';
import { hashMismatchFinding } from '../testing/findings.ts';
import { statusPage } from '../server/status-page.ts';
import { clusterToJson } from './json.ts';
import type { ClusterSnapshot, FeatureSnapshot } from './snapshot.ts';
import { collectWhy } from './why.ts';

function finding(member: string, cause: string, severity: Finding['severity']): Finding {
  return {
    member,
    cause,
    measure: 'WAL fsync p99',
    value: 0.05,
    threshold: 0.01,
    unit: 'seconds',
    severity,
    action: 'check the disk',
  };
}

function feature(name: string, ok: boolean, findings: Finding[] | undefined): FeatureSnapshot {
  return {
    name,
    intervalSeconds: 30,
    runs: 1,
    failures: ok ? 0 : 1,
    consecutiveFailures: ok ? 0 : 1,
    last: {
      ok,
      summary: 's',
      problems: [],
      ...(findings !== undefined && { findings }),
      details: null,
      metrics: [],
      startedAt: new Date(0),
      durationMs: 1,
    },
  };
}

const cluster: ClusterSnapshot = {
  id: 'c1',
  name: 'c1',
  labels: {},
  endpoints: [],
  storageBackend: 'v3',
  configErrors: [],
  features: {
    performance: feature('performance', true, [finding('etcd-2', 'slow disk', 'warning')]),
    latency: feature('latency', true, [finding('etcd-1 <x>', 'slow read', 'critical')]),
    // A failed round has no verdict: whatever it carries is not a reason.
    quota: feature('quota', false, [finding('etcd-3', 'stale', 'critical')]),
    healthy: feature('healthy', true, undefined),
    consistency: feature('consistency', true, [hashMismatchFinding]),
  },
};

test('the why section lists the findings of every successful round, critical first, with their feature', () => {
  const why = collectWhy(cluster);
  assert.deepEqual(
    why.map((w) => [w.feature, w.member, w.cause]),
    [
      ['consistency', '127.0.0.1:2381 (etcd-3)', 'divergent data'],
      ['latency', 'etcd-1 <x>', 'slow read'],
      ['performance', 'etcd-2', 'slow disk'],
    ],
  );
});

test('the API carries the why section and each round its findings', () => {
  const json = clusterToJson(cluster) as {
    why: { feature: string }[];
    features: Record<string, { last: { findings: unknown[] } }>;
  };
  assert.deepEqual(
    json.why.map((w) => w.feature),
    ['consistency', 'latency', 'performance'],
  );
  assert.equal(json.features['performance']?.last.findings.length, 1);
  assert.deepEqual(json.features['healthy']?.last.findings, []);
});

test('the status page shows the why section, escaped, only when something is out of bounds', () => {
  const page = statusPage([cluster]);
  assert.match(page, /<h3>Why<\/h3>/);
  assert.match(page, /etcd-1 &#60;x&#62;<\/td><td class="err">slow read/);
  assert.match(page, /WAL fsync p99 50 ms<\/td><td>10 ms<\/td>/);
  // A fact: what was seen, and no threshold.
  assert.match(page, /hash at revision 120: 1a2b, the majority 3c4d<\/td><td><\/td><td>replace the member/);
  const quiet = statusPage([{ ...cluster, features: { healthy: feature('healthy', true, undefined) } }]);
  assert.doesNotMatch(quiet, /<h3>Why<\/h3>/);
});
