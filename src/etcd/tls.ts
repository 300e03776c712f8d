/**
 * Reads TLS material from PEM files once, at configuration time, and checks
 * that it parses: a wrong path or a broken certificate is reported naming the
 * file instead of surfacing later as an opaque handshake failure.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Secret } from './secret.ts';
import type { TlsMaterial } from './types.ts';
import { errorMessage } from '../errors.ts';

export interface TlsFiles {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly serverName?: string;
  readonly insecureSkipVerify?: boolean;
}

export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function errnoText(err: unknown): string {
  if (err instanceof Error && 'code' in err) {
    switch (err.code) {
      case 'ENOENT':
        return 'no such file';
      case 'EACCES':
      case 'EPERM':
        return 'permission denied';
      case 'EISDIR':
        return 'is a directory';
      default:
        return String(err.code);
    }
  }
  return errorMessage(err);
}

async function readPem(kind: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new TlsConfigError(`cannot read ${kind} ${file}: ${errnoText(err)}`, { cause: err });
  }
}

/**
 * Checks that a PEM bundle holds at least one certificate and that each one
 * parses. `label` names the source (a file path, or a Secret key).
 */
export function checkCertificates(kind: string, label: string, pem: string): void {
  const blocks = pem.match(PEM_CERT);
  if (blocks === null) throw new TlsConfigError(`${kind} ${label}: no PEM certificate found`);
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      const which = blocks.length > 1 ? ` (certificate #${i + 1})` : '';
      throw new TlsConfigError(`${kind} ${label}${which}: not a valid certificate: ${errorMessage(err)}`);
    }
  }
}

/** Checks that a PEM private key parses; the message never includes key material. */
export function checkPrivateKey(kind: string, label: string, pem: string): void {
  try {
    createPrivateKey(pem);
  } catch (err) {
    // OpenSSL messages describe the failure, never the key's content.
    const reason = err instanceof Error && 'code' in err ? String(err.code) : 'unparsable';
    throw new TlsConfigError(`${kind} ${label}: not a valid private key (${reason})`);
  }
}

/**
 * Checks PEM material coming from any source (files, a Kubernetes Secret):
 * parts parse, a client certificate comes with its key and they match.
 * `labels` name where each part came from, for the error message.
 */
export function checkTlsMaterial(
  material: TlsMaterial,
  labels: { ca?: string; cert?: string; key?: string } = {},
): void {
  const certLabel = labels.cert ?? 'client certificate';
  const keyLabel = labels.key ?? 'client key';
  if (material.cert !== undefined && material.key === undefined) {
    throw new TlsConfigError(`certFile ${certLabel} given without keyFile`);
  }
  if (material.key !== undefined && material.cert === undefined) {
    throw new TlsConfigError(`keyFile ${keyLabel} given without certFile`);
  }
  if (material.ca !== undefined) checkCertificates('caFile', labels.ca ?? 'CA bundle', material.ca);
  if (material.cert !== undefined) checkCertificates('certFile', certLabel, material.cert);
  if (material.key !== undefined) checkPrivateKey('keyFile', keyLabel, material.key.reveal());
  if (material.cert !== undefined && material.key !== undefined) {
    const leaf = material.cert.match(PEM_CERT)?.[0];
    if (
      leaf !== undefined &&
      !new X509Certificate(leaf).checkPrivateKey(createPrivateKey(material.key.reveal()))
    ) {
      throw new TlsConfigError(
        `certFile ${certLabel} and keyFile ${keyLabel} do not belong together (the key does not match the certificate)`,
      );
    }
  }
}

export async function loadTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new TlsConfigError(
      files.certFile !== undefined
        ? `certFile ${files.certFile} given without keyFile`
        : `keyFile ${files.keyFile ?? ''} given without certFile`,
    );
  }
  const [ca, cert, key] = await Promise.all([
    files.caFile === undefined ? undefined : readPem('caFile', files.caFile),
    files.certFile === undefined ? undefined : readPem('certFile', files.certFile),
    files.keyFile === undefined ? undefined : readPem('keyFile', files.keyFile),
  ]);
  const material: TlsMaterial = {
    ...(ca !== undefined && { ca }),
    ...(cert !== undefined && { cert }),
    ...(key !== undefined && { key: new Secret(key) }),
    ...(files.serverName !== undefined && files.serverName !== '' && { serverName: files.serverName }),
    ...(files.insecureSkipVerify === true && { insecureSkipVerify: true }),
  };
  const labels = {
    ...(files.caFile !== undefined && { ca: files.caFile }),
    ...(files.certFile !== undefined && { cert: files.certFile }),
    ...(files.keyFile !== undefined && { key: files.keyFile }),
  };
  checkTlsMaterial(material, labels);
  return material;
}

/**
 * The TLS server name (SNI) a connection to `host` sends: the configured
 * serverName, else the host; none for an IP address, which SNI may not
 * carry (RFC 6066; Node warns, DEP0123). Node checks the certificate
 * against the servername when one is sent, else against the host.
 */
export function sniOption(host: string, serverName: string | undefined): { servername?: string } {
  const name = serverName !== undefined && serverName !== '' ? serverName : host;
  return isIP(name) === 0 ? { servername: name } : {};
}
