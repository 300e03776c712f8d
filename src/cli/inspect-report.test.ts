import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterSnapshot } from '../engine/snapshot.ts';
import { hashMismatchFinding, slowDiskFinding } from '../testing/findings.ts';
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
          { ...hashMismatchFinding, severity: 'warning' },
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
    [
      ['performance', '127.0.0.1:2381 (etcd-2)', 'slow disk', 0.18, 0.01],
      ['performance', '127.0.0.1:2381 (etcd-3)', 'divergent data', undefined, undefined],
    ],
  );
  const text = renderReport(snapshot, report, false);
  const lines = text.split('\n');
  const at = lines.indexOf('WHY (what is wrong, where, and what to do)');
  assert.ok(at > 0, text);
  assert.match(lines[at + 1] ?? '', /^MEMBER\s+CAUSE\s+FIGURE\s+THRESHOLD\s+SEVERITY\s+WHAT TO DO/);
  assert.match(
    lines[at + 2] ?? '',
    /^127\.0\.0\.1:2381 \(etcd-2\)\s+slow disk\s+WAL fsync p99 180 ms over the last 30 s\s+10 ms\s+critical\s+put the WAL on a dedicated SSD/,
  );
  // A fact has no threshold: the column says so.
  assert.match(
    lines[at + 3] ?? '',
    /^127\.0\.0\.1:2381 \(etcd-3\)\s+divergent data\s+hash at revision 120: 1a2b, the majority 3c4d\s+-\s+warning\s+replace the member/,
  );
  const json = JSON.parse(JSON.stringify(report)) as { why: Record<string, unknown>[] };
  assert.equal('value' in (json.why[1] ?? {}), false, 'a fact has no value in -o json');
  const quiet = { ...snapshot, features: {} };
  assert.doesNotMatch(renderReport(quiet, buildReport(quiet), false), /WHY/);
});
