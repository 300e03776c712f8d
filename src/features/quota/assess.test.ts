import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findingFigure, findingThreshold } from '../../findings.ts';
import { assessMember, GrowthHistory, growthRate, type QuotaThresholds } from './assess.ts';
import { parseQuotaOptions } from './quota.ts';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const T: QuotaThresholds = {
  warningRatio: 0.75,
  criticalRatio: 0.9,
  fullWithinSeconds: 6 * 3600,
  defragFragmentationRatio: 0.45,
  defragMinReclaimableBytes: 100 * MiB,
};
const base = {
  where: '10.0.0.1:2379 (etcd-0)',
  reportedQuota: 0,
  configuredQuota: 2 * GiB,
  growthRate: undefined,
  isLeader: false,
};

test('a critical member names the figure, the quota, the threshold and what to do', () => {
  const v = assessMember({ ...base, dbSize: 1.9 * GiB, dbSizeInUse: 1.85 * GiB }, T);
  assert.equal(v.level, 'critical');
  assert.equal(v.quotaSource, 'configured');
  assert.equal(v.problems.length, 1);
  const p = v.problems[0]!;
  assert.match(p, /10\.0\.0\.1:2379 \(etcd-0\)/);
  assert.match(p, /db 1\.9 GiB is 95 % of the 2 GiB quota/);
  assert.match(p, /critical at 90 %/);
  assert.match(p, /compact.*defragment one member at a time, leader last/);
  assert.match(p, /docs\/runbooks\.md/);
});

test('a quota etcd reports wins over the configured one', () => {
  const v = assessMember({ ...base, dbSize: 700 * MiB, dbSizeInUse: 700 * MiB, reportedQuota: 1 * GiB }, T);
  assert.equal(v.quotaSource, 'reported');
  assert.equal(v.quotaBytes, GiB);
  assert.equal(v.level, 'ok');
  const w = assessMember({ ...base, dbSize: 800 * MiB, dbSizeInUse: 800 * MiB, reportedQuota: 1 * GiB }, T);
  assert.equal(w.level, 'warning');
  assert.match(w.problems[0]!, /warning at 75 %/);
});

test('time until full: finite when growing, absent when not, a warning when it is soon', () => {
  const growing = assessMember({ ...base, dbSize: 1 * GiB, dbSizeInUse: GiB, growthRate: MiB }, T);
  assert.equal(growing.secondsUntilFull, 1024);
  assert.equal(growing.level, 'warning');
  assert.match(growing.problems[0]!, /full in 17m/);
  const flat = assessMember({ ...base, dbSize: GiB, dbSizeInUse: GiB, growthRate: 0 }, T);
  assert.equal(flat.secondsUntilFull, undefined);
  assert.equal(flat.level, 'ok');
  const slow = assessMember({ ...base, dbSize: GiB, dbSizeInUse: GiB, growthRate: 1 }, T);
  assert.equal(slow.level, 'ok', 'a year away is not a warning');
});

test('defragmentation is advised only above both the ratio and the reclaimable bytes', () => {
  const small = assessMember({ ...base, dbSize: 100 * MiB, dbSizeInUse: 10 * MiB }, T);
  assert.equal(small.defragmentAdvised, false, '90 MiB reclaimable is under 100 MiB');
  const big = assessMember({ ...base, dbSize: 1000 * MiB, dbSizeInUse: 400 * MiB, isLeader: true }, T);
  assert.ok(Math.abs(big.fragmentationRatio - 0.6) < 1e-9);
  assert.equal(big.reclaimableBytes, 600 * MiB);
  assert.equal(big.defragmentAdvised, true);
  assert.match(big.problems.at(-1)!, /60 % of the 1000 MiB db is free space \(600 MiB reclaimable/);
  assert.match(big.problems.at(-1)!, /the leader: do it last/);
});

test('each quota problem is a finding: the member, the figure against its threshold, severity, action, runbook', () => {
  const critical = assessMember({ ...base, dbSize: 1.9 * GiB, dbSizeInUse: 1.85 * GiB }, T);
  assert.equal(critical.findings.length, 1);
  const c = critical.findings[0]!;
  assert.equal(c.member, '10.0.0.1:2379 (etcd-0)');
  assert.equal(c.severity, 'critical');
  assert.equal(c.unit, 'ratio');
  assert.ok(Math.abs(c.value! - 0.95) < 1e-9);
  assert.equal(c.threshold, 0.9);
  assert.equal(c.runbook, 'EtcdDatabaseQuotaCritical');
  assert.equal(findingFigure(c), 'db size 1.9 GiB of the 2 GiB quota (option quotaBytes) 95 %');
  assert.equal(findingThreshold(c), '90 %');
  assert.match(c.action, /compact.*defragment one member at a time, leader last.*NOSPACE/);

  // 3.6 reports its quota: no word about the option; the warning's threshold is the warning ratio.
  const w = assessMember({ ...base, dbSize: 800 * MiB, dbSizeInUse: 500 * MiB, reportedQuota: GiB }, T);
  assert.deepEqual(
    w.findings.map((f) => [f.severity, f.cause, f.threshold, f.runbook]),
    [['warning', 'database filling up', 0.75, 'EtcdDatabaseQuotaWarning']],
  );
  assert.equal(w.findings[0]!.measure, 'db size 800 MiB of the 1 GiB quota');
  assert.match(w.findings[0]!.action, /^defragment to reclaim 300 MiB/);

  // Below the warning ratio but full within fullWithinSeconds: the time is the figure.
  const growing = assessMember({ ...base, dbSize: GiB, dbSizeInUse: GiB, growthRate: MiB }, T);
  assert.deepEqual(
    growing.findings.map((f) => [f.cause, f.value, f.threshold, f.unit, f.severity]),
    [['database growing toward its quota', 1024, 6 * 3600, 'seconds', 'warning']],
  );
  assert.equal(
    findingFigure(growing.findings[0]!),
    'time until the 2 GiB quota (option quotaBytes) is full at 1 MiB/s 17m',
  );
  assert.equal(findingThreshold(growing.findings[0]!), '6.0h');

  // Fragmentation: its own finding, the leader told to go last.
  const frag = assessMember({ ...base, dbSize: 1000 * MiB, dbSizeInUse: 400 * MiB, isLeader: true }, T);
  assert.deepEqual(
    frag.findings.map((f) => [f.cause, f.threshold, f.runbook]),
    [['fragmented database', 0.45, 'EtcdDatabaseDefragmentAdvised']],
  );
  assert.match(frag.findings[0]!.measure, /free space in the 1000 MiB db \(600 MiB reclaimable\)/);
  assert.match(frag.findings[0]!.action, /the leader: last/);

  // Past the quota (NOSPACE): full.
  const over = assessMember({ ...base, dbSize: 2.2 * GiB, dbSizeInUse: 2.2 * GiB }, T);
  assert.equal(over.findings[0]!.cause, 'database full');
  // A healthy member has none.
  const ok = assessMember({ ...base, dbSize: 100 * MiB, dbSizeInUse: 100 * MiB }, T);
  assert.deepEqual(ok.findings, []);
  // Every problem has at least one finding.
  for (const v of [critical, w, growing, frag, ok]) assert.ok(v.findings.length >= v.problems.length);
});

test('growth: least-squares slope; a shrink starts a new history', () => {
  assert.equal(growthRate([{ atMs: 0, bytes: 5 }]), undefined);
  assert.equal(
    growthRate([
      { atMs: 0, bytes: 0 },
      { atMs: 1000, bytes: 10 },
      { atMs: 2000, bytes: 20 },
    ]),
    10,
  );
  const h = new GrowthHistory(60);
  h.add({ atMs: 0, bytes: 100 });
  h.add({ atMs: 10_000, bytes: 200 });
  assert.equal(h.rate(), 10);
  h.add({ atMs: 20_000, bytes: 50 });
  assert.equal(h.rate(), undefined, 'defragmented: no rate across the drop');
  h.add({ atMs: 90_000, bytes: 50 });
  h.add({ atMs: 200_000, bytes: 160 });
  assert.equal(h.samples.length, 2, 'samples older than the window go, the last two stay');
  assert.equal(h.rate(), 1);
});

test('options: defaults, and thresholds in the wrong order are named', () => {
  const o = parseQuotaOptions(undefined);
  assert.equal(o.quotaBytes, 2 * GiB);
  assert.equal(o.warningRatio, 0.75);
  assert.throws(
    () => parseQuotaOptions({ warningRatio: 0.95 }),
    /warningRatio \(0\.95\) must be below criticalRatio/,
  );
  assert.throws(() => parseQuotaOptions({ quotaBytes: 0 }), /quotaBytes/);
  assert.throws(() => parseQuotaOptions({ quota: 1 }), /unknown field quota/);
});
