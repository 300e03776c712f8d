/**
 * Reads a member's serving certificate chain as it presents it in the TLS
 * handshake: one short connection, closed as soon as the handshake is done.
 * Verification is done here rather than by refusing the connection, so that
 * an expired or mismatched certificate is described instead of hidden.
 */
import type { X509Certificate } from 'node:crypto';
import { connect, type PeerCertificate } from 'node:tls';
import { X509Certificate as X509 } from 'node:crypto';
import type { Endpoint } from './endpoint.ts';
import { schemeHint } from './errors.ts';
import { sniOption } from './tls.ts';
import type { TlsMaterial } from './types.ts';

export interface PresentedChain {
  /** Leaf first, then the issuers the server sent (and what Node could link from the CA bundle). */
  readonly chain: readonly X509Certificate[];
  /** Whether the chain verifies against the configured CA (or the system roots), host name included. */
  readonly verified: boolean;
  /** Why it does not ('' when verified), e.g. CERT_HAS_EXPIRED. */
  readonly verifyError: string;
}

/** One short TLS connection with the cluster's TLS settings; the key never leaves this module's caller (the engine). */
export function fetchPeerChain(
  endpoint: Endpoint,
  tls: TlsMaterial | undefined,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<PresentedChain> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const socket = connect({
      host: endpoint.host,
      port: endpoint.port,
      ...sniOption(endpoint.host, tls?.serverName),
      ...(tls?.ca !== undefined ? { ca: tls.ca } : {}),
      // etcd with --client-cert-auth ends a handshake without a client certificate.
      ...(tls?.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls?.key !== undefined ? { key: tls.key.reveal() } : {}),
      rejectUnauthorized: false,
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    const done = (err: Error | undefined, value?: PresentedChain): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    const onAbort = (): void => done(new Error(`TLS handshake with ${endpoint.hostPort}: aborted`));
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () => done(new Error(`TLS handshake with ${endpoint.hostPort}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('error', (err) =>
      done(
        new Error(`TLS handshake with ${endpoint.hostPort}: ${err.message}${schemeHint(err.message, true)}`),
      ),
    );
    socket.once('secureConnect', () => {
      const chain: X509Certificate[] = [];
      const seen = new Set<string>();
      let cert: PeerCertificate | undefined = socket.getPeerCertificate(true);
      while (cert?.raw !== undefined && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        chain.push(new X509(cert.raw));
        cert = (cert as { issuerCertificate?: PeerCertificate }).issuerCertificate;
      }
      if (chain.length === 0) {
        done(new Error(`TLS handshake with ${endpoint.hostPort}: the server presented no certificate`));
        return;
      }
      const authError = socket.authorizationError;
      done(undefined, {
        chain,
        verified: socket.authorized,
        verifyError: authError === null || authError === undefined ? '' : String(authError),
      });
    });
  });
}
