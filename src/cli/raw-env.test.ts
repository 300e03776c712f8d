import { test } from 'node:test';
import assert from 'node:assert/strict';
import { environmentValue } from './raw-env.ts';

const environ =
  (...entries: (string | Buffer)[]) =>
  () =>
    Buffer.concat(entries.flatMap((e) => [Buffer.isBuffer(e) ? e : Buffer.from(e), Buffer.from([0])]));

test('a value Node decoded without loss is used as it is (environ not read)', () => {
  assert.equal(
    environmentValue('P', 'pässwörd', () => assert.fail('read')),
    'pässwörd',
  );
});

test('a value with U+FFFD: the raw bytes of that variable, not of one whose name it starts', () => {
  const latin1 = Buffer.from('pässwörd', 'latin1');
  const decoded = latin1.toString('utf8');
  assert.ok(decoded.includes('\uFFFD'));
  const value = environmentValue(
    'ETCDCTL_PASSWORD',
    decoded,
    environ(
      'PATH=/bin',
      Buffer.concat([Buffer.from('ETCDCTL_PASSWORD_X='), Buffer.from([0xff])]),
      Buffer.concat([Buffer.from('ETCDCTL_PASSWORD='), latin1]),
    ),
  );
  assert.ok(Buffer.isBuffer(value));
  assert.deepEqual(value, latin1);
});

test('no /proc, no such entry, or an entry changed since start: the decoded text', () => {
  const decoded = Buffer.from([0x70, 0xe4]).toString('utf8');
  assert.equal(
    environmentValue('P', decoded, () => {
      throw new Error('ENOENT');
    }),
    decoded,
  );
  assert.equal(environmentValue('P', decoded, environ('Q=1')), decoded);
  assert.equal(environmentValue('P', decoded, environ(Buffer.from([0x50, 0x3d, 0x71, 0xe4]))), decoded);
});

test('a genuine U+FFFD written as UTF-8 stays that text', () => {
  assert.equal(environmentValue('P', 'a\uFFFDb', environ('P=a\uFFFDb')).toString(), 'a\uFFFDb');
});
