/** Minimal HTTP(S) GET for health polling; no keep-alive, bounded by a timeout. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /**
   * Skip verifying the server certificate: only for test-bed members that
   * serve a deliberately expired or mismatched certificate.
   */
  readonly insecureSkipVerify?: boolean;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
}

export function httpGet(
  url: string,
  opts: { tls?: HttpTls; timeoutMs: number; signal?: AbortSignal },
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const common = { method: 'GET', agent: false as const, timeout: opts.timeoutMs, signal: opts.signal };
    const req =
      target.protocol === 'https:'
        ? httpsRequest(target, {
            ...common,
            ca: opts.tls?.ca,
            cert: opts.tls?.cert,
            key: opts.tls?.key,
            rejectUnauthorized: opts.tls?.insecureSkipVerify !== true,
          })
        : httpRequest(target, common);
    req.once('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${opts.timeoutMs} ms`)));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('error', reject);
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.end();
  });
}
