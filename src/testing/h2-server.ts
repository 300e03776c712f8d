/**
 * A local HTTPS server that speaks HTTP/2 and HTTP/1.1 (as kube-apiserver
 * and etcd do, negotiated by ALPN) and records the protocol of each
 * request: to check which one a client chooses.
 */
import { once } from 'node:events';
import { createSecureServer } from 'node:http2';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCertificates } from '../testbed/certs.ts';

export interface DualProtocolServer {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** The CA that signed the server's certificate (PEM). */
  readonly ca: string;
  /** The HTTP version of every request answered, in order ('1.1', '2.0'). */
  readonly versions: readonly string[];
  close(): Promise<void>;
}

/** Answers every request with 200 and `body` (JSON). */
export async function startDualProtocolServer(body: unknown): Promise<DualProtocolServer> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-h2-'));
  try {
    const tls = await generateCertificates(dir);
    const versions: string[] = [];
    const server = createSecureServer(
      {
        key: await readFile(tls.serverKeyFile, 'utf8'),
        cert: await readFile(tls.serverCertFile, 'utf8'),
        allowHTTP1: true,
      },
      (req, res) => {
        versions.push(req.httpVersion);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(body));
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    return {
      url: `https://127.0.0.1:${port}`,
      ca: tls.ca,
      versions,
      close: async () => {
        server.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
