import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificatesOptions } from './certificates.ts';

test('certificates options: 30 and 7 days by default; critical beyond warning is named', () => {
  assert.deepEqual(parseCertificatesOptions(undefined), { warningDays: 30, criticalDays: 7 });
  assert.throws(
    () => parseCertificatesOptions({ criticalDays: 40 }),
    /criticalDays \(40\) must not exceed warningDays \(30\)/,
  );
  assert.throws(() => parseCertificatesOptions({ warnDays: 1 }), /unknown field warnDays/);
});
