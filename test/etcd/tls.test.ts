/** loadTlsMaterial on real PEM files made by the test bed's openssl helper. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { TlsConfigError, loadTlsMaterial } from '../../src/etcd/tls.ts';
import { suiteCertificates } from '../../src/testing/certificates.ts';

describe('loadTlsMaterial', () => {
  const certs = suiteCertificates('etcd-monitor-tls-');

  async function fails(files: Parameters<typeof loadTlsMaterial>[0], message: RegExp): Promise<void> {
    await assert.rejects(loadTlsMaterial(files), (err: unknown) => {
      assert.ok(err instanceof TlsConfigError, String(err));
      assert.match(err.message, message);
      return true;
    });
  }

  it('reads a CA, a client certificate and its key; the key stays secret', async () => {
    const m = await loadTlsMaterial({
      caFile: certs.caFile,
      certFile: certs.certFile,
      keyFile: certs.keyFile,
      serverName: 'localhost',
    });
    assert.equal(m.ca, certs.ca);
    assert.equal(m.cert, certs.cert);
    assert.equal(m.key?.reveal(), certs.key);
    assert.equal(m.serverName, 'localhost');
    assert.equal(m.insecureSkipVerify, undefined);
    assert.ok(!inspect(m).includes('PRIVATE KEY'));
    assert.ok(!JSON.stringify(m).includes('PRIVATE KEY'));
    assert.deepEqual(await loadTlsMaterial({}), {});
    assert.deepEqual(await loadTlsMaterial({ insecureSkipVerify: true }), { insecureSkipVerify: true });
  });

  it('names the file that cannot be read', async () => {
    await fails({ caFile: '/x/ca.pem' }, /^cannot read caFile \/x\/ca\.pem: no such file$/);
    await fails({ caFile: certs.dir }, /^cannot read caFile .*: is a directory$/);
  });

  it('refuses a certificate without its key and the reverse', async () => {
    await fails({ certFile: certs.certFile }, /^certFile .* given without keyFile$/);
    await fails({ keyFile: certs.keyFile }, /^keyFile .* given without certFile$/);
  });

  it('reports unparsable PEM at load time, naming the file and never the key', async () => {
    const garbage = join(certs.dir, 'garbage.pem');
    await writeFile(garbage, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
    await fails({ caFile: garbage }, new RegExp(`^caFile ${garbage}: not a valid certificate`));
    await fails({ caFile: certs.keyFile }, new RegExp(`^caFile ${certs.keyFile}: no PEM certificate found$`));
    const badKey = join(certs.dir, 'bad-key.pem');
    await writeFile(badKey, '-----BEGIN PRIVATE KEY-----\nAAAA-secret-bytes\n-----END PRIVATE KEY-----\n');
    await assert.rejects(loadTlsMaterial({ certFile: certs.certFile, keyFile: badKey }), (err: unknown) => {
      assert.ok(err instanceof TlsConfigError);
      assert.match(err.message, new RegExp(`^keyFile ${badKey}: not a valid private key`));
      assert.ok(!err.message.includes('secret-bytes'));
      return true;
    });
    await fails({ certFile: certs.certFile, keyFile: certs.otherKeyFile }, /do not belong together/);
  });
});
