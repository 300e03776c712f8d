/**
 * Test certificates for a whole suite, made by the test bed's openssl helper.
 * Several suites need the same CA, client and server certificates and only
 * read them, so they are made once per suite rather than once per test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { generateCertificates, type TestClusterTls } from '../testbed/certs.ts';

/**
 * Registers, on the enclosing `describe`, a `before` hook that makes the
 * certificates in a new temporary directory (named after `prefix`) and an
 * `after` hook that removes it. The returned object is filled in by the
 * `before` hook: read it inside tests, not while the suite is being defined.
 * `certs.dir` is a directory the suite may also write its own files into.
 */
export function suiteCertificates(prefix: string): TestClusterTls {
  const certs = {} as TestClusterTls;
  let dir: string | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    Object.assign(certs, await generateCertificates(join(dir, 'certs')));
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return certs;
}
