import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFinding } from '../../findings.ts';
import { alarmFinding } from './alarm.ts';

test('NOSPACE and CORRUPT are critical findings that say what to do; CORRUPT says not to disarm first', () => {
  const nospace = alarmFinding(
    { type: 'NOSPACE', memberId: 'a1', endpoint: '10.0.0.1:2379' },
    '10.0.0.1:2379 (m1)',
  );
  assert.deepEqual(
    [nospace.member, nospace.cause, nospace.measure, nospace.severity, nospace.runbook, nospace.value],
    [
      '10.0.0.1:2379 (m1)',
      'backend quota reached',
      'alarm NOSPACE raised',
      'critical',
      'EtcdNoSpaceAlarm',
      undefined,
    ],
  );
  assert.match(nospace.action, /compact, defragment every member \(leader last\), then disarm/);
  const corrupt = alarmFinding({ type: 'CORRUPT', memberId: '0', endpoint: 'cluster' }, 'cluster');
  assert.deepEqual(
    [corrupt.member, corrupt.severity, corrupt.runbook],
    ['cluster', 'critical', 'EtcdCorruptAlarm'],
  );
  assert.match(corrupt.action, /^do not disarm yet/);
  assert.equal(
    formatFinding(corrupt),
    'member cluster: members hold different data — alarm CORRUPT raised; do not disarm yet: find the divergent member (the consistency inspection names it), replace it from a snapshot of a good one, then disarm (runbook: docs/runbooks.md#etcdcorruptalarm)',
  );
});

test('an alarm type etcd may add later is a warning with the general advice', () => {
  const other = alarmFinding({ type: 'FUTURE', memberId: 'a1', endpoint: '10.0.0.1:2379' }, '10.0.0.1:2379');
  assert.deepEqual(
    [other.cause, other.severity, other.runbook],
    ['alarm FUTURE', 'warning', 'EtcdAlarmRaised'],
  );
  assert.match(other.action, /disarm/);
});
