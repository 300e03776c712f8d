import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { suiteCertificates } from '../../testing/certificates.ts';
import { authFromSecret, tlsFromSecret } from './secrets.ts';
import type { AuthRef, TlsRef } from './validate.ts';

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const secret = (data: Record<string, string>) => ({
  metadata: { name: 'etcd-tls', namespace: 'ops' },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});
const ref: TlsRef = { secretNamespace: 'ops', secretName: 'etcd-tls', field: 'spec.tls' };

describe('tlsFromSecret', () => {
  const certs = suiteCertificates('etcd-monitor-k8s-tls-');
  /** The TLS material read from a Secret holding `data`; reading it must succeed. */
  const tlsOf = (data: Record<string, string>, tlsRef: TlsRef = ref) => {
    const result = tlsFromSecret(tlsRef, secret(data));
    assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.problems));
    return result.value;
  };

  it('reads the standard keys ca.crt / tls.crt / tls.key; the key stays secret', () => {
    const tls = tlsOf({ 'ca.crt': certs.ca, 'tls.crt': certs.cert, 'tls.key': certs.key });
    assert.equal(tls.ca, certs.ca);
    assert.equal(tls.cert, certs.cert);
    assert.equal(tls.key?.reveal(), certs.key);
    assert.ok(!inspect(tls).includes('PRIVATE KEY'));
  });

  it("reads kstone's ca.pem / client.pem / client-key.pem", () => {
    const tls = tlsOf({ 'ca.pem': certs.ca, 'client.pem': certs.cert, 'client-key.pem': certs.key });
    assert.equal(tls.cert, certs.cert);
  });

  it('prefers the standard names when both are present, and explicit keys over both', () => {
    const both = tlsOf({ 'ca.crt': certs.ca, 'ca.pem': certs.otherCa });
    assert.equal(both.ca, certs.ca);
    const explicit = tlsOf({ 'ca.crt': certs.ca, 'ca.pem': certs.otherCa }, { ...ref, caKey: 'ca.pem' });
    assert.equal(explicit.ca, certs.otherCa);
  });

  it('accepts a CA alone (server verification without a client certificate)', () => {
    const tls = tlsOf({ 'ca.crt': certs.ca });
    assert.deepEqual(Object.keys(tls), ['ca']);
  });

  it('names the missing Secret, a missing explicit key, half a key pair and an empty Secret', () => {
    assert.deepEqual(tlsFromSecret(ref, undefined), {
      ok: false,
      problems: [{ field: 'spec.tls', message: 'Secret ops/etcd-tls not found' }],
    });
    assert.deepEqual(tlsFromSecret({ ...ref, certKey: 'crt' }, secret({ 'tls.key': certs.key })), {
      ok: false,
      problems: [{ field: 'spec.tls.certKey', message: 'Secret ops/etcd-tls has no key "crt"' }],
    });
    assert.deepEqual(tlsFromSecret(ref, secret({ 'client.pem': certs.cert })), {
      ok: false,
      problems: [
        {
          field: 'spec.tls',
          message:
            'Secret ops/etcd-tls has a client certificate ("client.pem") but no key ("tls.key" or "client-key.pem")',
        },
      ],
    });
    const empty = tlsFromSecret(ref, secret({ other: 'x' }));
    assert.ok(!empty.ok);
    assert.match(empty.problems[0]!.message, /holds none of the TLS keys/);
  });

  it('checks the PEM: garbage, and a key that does not belong to the certificate', () => {
    const garbage = tlsFromSecret(ref, secret({ 'ca.crt': 'not a certificate' }));
    assert.ok(!garbage.ok);
    assert.match(garbage.problems[0]!.message, /ca\.crt" of Secret ops\/etcd-tls/);
    const mismatch = tlsFromSecret(ref, secret({ 'tls.crt': certs.cert, 'tls.key': certs.otherKey }));
    assert.ok(!mismatch.ok);
    assert.match(mismatch.problems[0]!.message, /do not belong together/);
    assert.ok(!mismatch.problems[0]!.message.includes('PRIVATE KEY'));
  });
});

describe('authFromSecret', () => {
  const auth: AuthRef = {
    secretNamespace: 'ops',
    secretName: 'etcd-auth',
    usernameKey: 'username',
    passwordKey: 'password',
    field: 'spec.auth',
  };

  it('reads username and password; one trailing newline of the password is dropped', () => {
    const result = authFromSecret(auth, secret({ username: 'monitor\n', password: 's3cret\n' }));
    assert.ok(result.ok);
    assert.equal(result.value.username, 'monitor');
    assert.equal(result.value.password.reveal(), 's3cret');
    assert.ok(!inspect(result.value).includes('s3cret'));
  });

  it('a password that is not UTF-8 is kept byte for byte (etcd compares bytes)', () => {
    const latin1 = Buffer.from('pässwörd', 'latin1');
    const result = authFromSecret(auth, {
      metadata: { name: 'etcd-auth', namespace: 'ops' },
      data: {
        username: b64('monitor'),
        password: Buffer.concat([latin1, Buffer.from('\r\n')]).toString('base64'),
      },
    });
    assert.ok(result.ok);
    assert.deepEqual(result.value.password.revealBytes(), latin1);
    assert.equal(result.value.password.isBinary, true);
    assert.equal(inspect(result.value), "{ username: 'monitor', password: [REDACTED] }");
  });

  it('names missing or empty keys, never the values', () => {
    const result = authFromSecret(
      { ...auth, passwordKey: 'pw' },
      secret({ username: '', password: 'hunter2' }),
    );
    assert.deepEqual(result, {
      ok: false,
      problems: [
        {
          field: 'spec.auth.usernameKey',
          message: 'Secret ops/etcd-auth has no (or an empty) key "username"',
        },
        { field: 'spec.auth.passwordKey', message: 'Secret ops/etcd-auth has no (or an empty) key "pw"' },
      ],
    });
    assert.deepEqual(authFromSecret(auth, undefined), {
      ok: false,
      problems: [{ field: 'spec.auth', message: 'Secret ops/etcd-auth not found' }],
    });
  });
});
