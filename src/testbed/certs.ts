/**
 * Test certificates made with the openssl CLI: a CA, a server certificate
 * used by every member for client and peer traffic, a client certificate,
 * and an unrelated CA (plus a client certificate it signed) for negative
 * tests. EC P-256 keys: fast to generate, accepted by Go and Node alike.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface TestClusterTls {
  readonly dir: string;
  readonly caFile: string;
  /** Client certificate (clientAuth) for etcdctl and the code under test. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** Server certificate used by the members (serverAuth + clientAuth, for peers). */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** a CA that did NOT sign the server certs, for wrong-CA tests */
  readonly otherCaFile: string;
  readonly otherCa: string;
  /** A client certificate signed by the other CA: the cluster must reject it. */
  readonly otherCertFile: string;
  readonly otherKeyFile: string;
  readonly otherCert: string;
  readonly otherKey: string;
  /**
   * Per member index, a serving certificate for client traffic only (peers
   * keep serverCertFile), when asked for with `serving`.
   */
  readonly serving: readonly { readonly certFile: string; readonly keyFile: string }[];
}

/** A serving certificate of its own for one member's client URL (certificate inspection tests). */
export interface ServingCertOptions {
  /** Validity in days from now; negative: already expired (notAfter before now). Default 365. */
  readonly days?: number;
  /** SANs; default the cluster's hosts. */
  readonly hosts?: readonly string[];
}

/**
 * CN of the client certificate. Deliberately not an etcd user: with
 * --client-cert-auth and auth enabled, etcd takes the CN as the user name,
 * and a CN of "root" would make every TLS client root without a password.
 */
export const CLIENT_CERT_CN = 'etcd-monitor-test-client';

const DAYS = '365';

function openssl(args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'openssl',
      args,
      { cwd, timeout: 30_000, env: { ...process.env, OPENSSL_CONF: '/dev/null' } },
      (error, _stdout, stderr) => {
        if (error) reject(new Error(`openssl ${args[0] ?? ''} failed: ${stderr.trim() || error.message}`));
        else resolve();
      },
    );
  });
}

// A private config so the result does not depend on the system openssl.cnf.
const REQ_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
`;

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function serial(): string {
  // Positive 63-bit serial; unique enough for throwaway certificates.
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return `0x${bytes.toString('hex')}`;
}

async function makeCa(dir: string, base: string, cn: string, days = DAYS): Promise<void> {
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      ...KEY_ARGS,
      '-config',
      'openssl.cnf',
      '-extensions',
      'v3_ca',
      '-subj',
      `/CN=${cn}`,
      '-days',
      days,
      '-sha256',
      '-keyout',
      `${base}-key.pem`,
      '-out',
      `${base}.pem`,
    ],
    dir,
  );
}

async function makeLeaf(
  dir: string,
  base: string,
  ca: string,
  cn: string,
  extensions: string,
  days = DAYS,
): Promise<void> {
  await writeFile(join(dir, `${base}.ext`), extensions);
  await openssl(
    [
      'req',
      '-new',
      ...KEY_ARGS,
      '-config',
      'openssl.cnf',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      `${base}-key.pem`,
      '-out',
      `${base}.csr`,
    ],
    dir,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}-key.pem`,
      '-set_serial',
      serial(),
      '-days',
      days,
      '-sha256',
      '-extfile',
      `${base}.ext`,
      '-out',
      `${base}.pem`,
    ],
    dir,
  );
  await Promise.all([
    rm(join(dir, `${base}.csr`), { force: true }),
    rm(join(dir, `${base}.ext`), { force: true }),
  ]);
}

/**
 * Generates the certificates into `dir` (created if needed). `hosts` are the
 * server certificate's subject alternative names (IPs or DNS names);
 * default 127.0.0.1 and localhost.
 */
export async function generateCertificates(
  dir: string,
  opts: {
    hosts?: string[];
    /** Validity of the CA in days (default 365): shorter than a leaf's to test a CA expiring first. */
    caDays?: number;
    serving?: readonly ServingCertOptions[];
  } = {},
): Promise<TestClusterTls> {
  const hosts = opts.hosts && opts.hosts.length > 0 ? opts.hosts : ['127.0.0.1', 'localhost'];
  const sanOf = (list: readonly string[]): string => {
    for (const host of list) {
      if (!/^[A-Za-z0-9.:*-]+$/.test(host))
        throw new Error(`invalid host for a certificate: ${JSON.stringify(host)}`);
    }
    return list.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  };
  const san = sanOf(hosts);
  const serving = (opts.serving ?? []).map((o, i) => {
    if (o.days !== undefined && !Number.isInteger(o.days))
      throw new Error(`serving[${i}].days must be an integer, got ${o.days}`);
    return { base: `serving-${i}`, days: String(o.days ?? DAYS), san: sanOf(o.hosts ?? hosts) };
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'openssl.cnf'), REQ_CONFIG);

  const leaf = (usage: string, extra = ''): string =>
    `basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = ${usage}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
${extra}`;

  await Promise.all([
    makeCa(dir, 'ca', 'etcd-monitor-test-ca', opts.caDays === undefined ? DAYS : String(opts.caDays)),
    makeCa(dir, 'other-ca', 'etcd-monitor-test-other-ca'),
  ]);
  await Promise.all([
    // clientAuth too: members present it when dialing peers, and the
    // grpc-gateway of etcd 3.5+ uses it to call its own gRPC server.
    makeLeaf(
      dir,
      'server',
      'ca',
      'etcd-monitor-test-server',
      leaf('serverAuth,clientAuth', `subjectAltName = ${san}\n`),
    ),
    makeLeaf(dir, 'client', 'ca', CLIENT_CERT_CN, leaf('clientAuth')),
    makeLeaf(dir, 'other-client', 'other-ca', CLIENT_CERT_CN, leaf('clientAuth')),
    ...serving.map((s) =>
      makeLeaf(
        dir,
        s.base,
        'ca',
        `etcd-monitor-test-${s.base}`,
        leaf('serverAuth,clientAuth', `subjectAltName = ${s.san}\n`),
        s.days,
      ),
    ),
  ]);

  const names = ['ca', 'other-ca', 'server', 'client', 'other-client', ...serving.map((s) => s.base)];
  await Promise.all(names.map((n) => chmod(join(dir, `${n}-key.pem`), 0o600)));
  const read = (file: string): Promise<string> => readFile(join(dir, file), 'utf8');
  const [ca, cert, key, otherCa, otherCert, otherKey] = await Promise.all([
    read('ca.pem'),
    read('client.pem'),
    read('client-key.pem'),
    read('other-ca.pem'),
    read('other-client.pem'),
    read('other-client-key.pem'),
  ]);
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'client.pem'),
    keyFile: join(dir, 'client-key.pem'),
    ca,
    cert,
    key,
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server-key.pem'),
    otherCaFile: join(dir, 'other-ca.pem'),
    otherCa,
    otherCertFile: join(dir, 'other-client.pem'),
    otherKeyFile: join(dir, 'other-client-key.pem'),
    otherCert,
    otherKey,
    serving: serving.map((s) => ({
      certFile: join(dir, `${s.base}.pem`),
      keyFile: join(dir, `${s.base}-key.pem`),
    })),
  };
}
