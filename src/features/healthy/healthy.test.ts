import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthFinding, type MemberHealth } from './healthy.ts';

const base: MemberHealth = {
  endpoint: '10.0.0.2:2379',
  id: 'b2',
  name: 'etcd-1',
  healthy: true,
  reason: '',
  accessOk: true,
  durationMs: 3,
};

test('a healthy member has no finding; an unhealthy one names the member, why, and what to do', () => {
  assert.equal(healthFinding(base), undefined);
  const f = healthFinding({ ...base, healthy: false, reason: '/health: unhealthy: ALARM NOSPACE' });
  assert.deepEqual(
    [f?.member, f?.cause, f?.measure, f?.severity, f?.runbook],
    [
      '10.0.0.2:2379 (etcd-1)',
      'member unhealthy',
      '/health: unhealthy: ALARM NOSPACE',
      'warning',
      'EtcdMemberUnhealthy',
    ],
  );
  assert.match(f?.action ?? '', /process and log, its disk and its network/);
});

test("refused credentials are the monitor's problem, said so, never an unhealthy member", () => {
  const f = healthFinding({
    ...base,
    healthy: false,
    accessOk: false,
    accessError: 'authentication failed',
  });
  assert.equal(f?.cause, "the monitor's credentials are refused");
  assert.match(f?.measure ?? '', /health unknown \(etcd itself may be fine\)/);
  assert.equal(f?.runbook, 'EtcdMonitorCredentialsRefused');
});
