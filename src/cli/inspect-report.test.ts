import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterSnapshot } from '../engine/snapshot.ts';
import { slowDiskFinding } from '../testing/findings.ts';
import { buildReport, renderReport } from './inspect.ts';

const snapshot: ClusterSnapshot = {
  id: 'c',
  name: 'c',
  labels: {},
  endpoints: ['http://127.0.0.1:2379'],
  storageBackend: 'v3',
  configErrors: [],
  features: {
    performance: {
      name: 'performance',
      intervalSeconds: 30,
      runs: 1,
      failures: 0,
      consecutiveFailures: 0,
      last: {
        ok: true,
        summary: '1 figure(s) out of bounds',
        problems: ['member etcd-2: slow disk — ...'],
        findings: [
          { ...slowDiskFinding, member: '127.0.0.1:2381 (etcd-2)', action: 'put the WAL on a dedicated SSD' },
        ],
        details: null,
        metrics: [],
        startedAt: new Date(0),
        durationMs: 3,
      },
    },
  },
};

test('inspect shows a why section: member, cause, figure, threshold, what to do; -o json has it as why', () => {
  const report = buildReport(snapshot);
  assert.equal(report.ok, false);
  assert.deepEqual(
    report.why.map((w) => [w.feature, w.member, w.cause, w.value, w.threshold]),
    [['performance', '127.0.0.1:2381 (etcd-2)', 'slow disk', 0.18, 0.01]],
  );
  const text = renderReport(snapshot, report, false);
  const lines = text.split('\n');
  const at = lines.indexOf('WHY (figures out of bounds)');
  assert.ok(at > 0, text);
  assert.match(lines[at + 1] ?? '', /^MEMBER\s+CAUSE\s+FIGURE\s+THRESHOLD\s+SEVERITY\s+WHAT TO DO/);
  assert.match(
    lines[at + 2] ?? '',
    /^127\.0\.0\.1:2381 \(etcd-2\)\s+slow disk\s+WAL fsync p99 180 ms over the last 30 s\s+10 ms\s+critical\s+put the WAL on a dedicated SSD/,
  );
  const quiet = { ...snapshot, features: {} };
  assert.doesNotMatch(renderReport(quiet, buildReport(quiet), false), /WHY/);
});
