import assert from 'node:assert/strict';
import { test } from 'node:test';
import { humanBytes } from './units.ts';

test('humanBytes: binary units, one decimal, none for round figures', () => {
  assert.equal(humanBytes(0), '0 B');
  assert.equal(humanBytes(1023), '1023 B');
  assert.equal(humanBytes(1536), '1.5 KiB');
  assert.equal(humanBytes(2n * 1024n ** 3n), '2 GiB');
  assert.equal(humanBytes(20_480_123n), '19.5 MiB');
  assert.equal(humanBytes(8 * 1024 ** 6), '8192 PiB');
});
