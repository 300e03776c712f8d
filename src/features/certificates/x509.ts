/** Certificates as the certificates inspection describes them, from PEM text or a TLS handshake. */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

export interface CertificateInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** "DNS:etcd-0", "IP Address:10.0.0.1" as OpenSSL prints them. */
  readonly sans: readonly string[];
  readonly isCa: boolean;
  readonly fingerprint256: string;
}

/** Every certificate of a PEM bundle, in order; a bundle that holds none is an error naming its source. */
export function parsePemBundle(pem: string, source: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${source}: no PEM certificate found`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new Error(
        `${source}: certificate ${i + 1} does not parse: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  });
}

/** The one-line form of an X.509 name: "CN=etcd-0, O=ops". */
function oneLine(name: string): string {
  return name
    .split('\n')
    .filter((part) => part !== '')
    .join(', ');
}

export function describe(cert: X509Certificate): CertificateInfo {
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    serial: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    sans: (cert.subjectAltName ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    isCa: cert.ca,
    fingerprint256: cert.fingerprint256,
  };
}

/** Whether the certificate's names cover `host` (an IP against IP SANs, a name against DNS SANs and wildcards). */
export function coversHost(cert: X509Certificate, host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return isIP(bare) !== 0 ? cert.checkIP(bare) !== undefined : cert.checkHost(bare) !== undefined;
}
