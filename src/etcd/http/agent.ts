/**
 * Plain HTTP(S) access to one member (health, version, metrics, v2 API),
 * shared by the HTTP and v2 clients: one node:http(s) Agent per member with
 * kept-alive connections and the member's TLS material, a connect timeout
 * (TCP and TLS handshake), a deadline per request combined with the
 * caller's signal, and failures mapped to EtcdError codes.
 *
 * node:http, not undici: Node loads its HTTP/1 client anyway (node:http2
 * needs it), while undici's agent was ~26 modules of JavaScript and a
 * WebAssembly HTTP parser compiled at every start of inspect and the daemon
 * (docs/performance.md, "Start-up and memory").
 */
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Endpoint } from '../endpoint.ts';
import {
  cleanGrpcDetails,
  clientSecrets,
  friendlyNetworkText,
  isTlsErrorCode,
  isTlsText,
  memberError,
  schemeHint,
} from '../errors.ts';
import { sniOption } from '../tls.ts';
import { EtcdError, type CallOptions, type ClientOptions, type EtcdErrorCode } from '../types.ts';
import { errorMessage } from '../../errors.ts';

/** Idle kept-alive connections are closed after this. */
const KEEPALIVE_MS = 30_000;
/** The error code of a connection not established within the dial timeout. */
export const CONNECT_TIMEOUT_CODE = 'ETCD_MONITOR_CONNECT_TIMEOUT';
/** Limit on a response body read into memory (a whole v2 store listing can be large, but not unbounded). */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  /** Bytes of the body as received. */
  readonly bytes: number;
}

export interface HttpRequestOptions extends CallOptions {
  readonly method?: 'GET' | 'HEAD' | 'PUT' | 'DELETE';
  /** application/x-www-form-urlencoded body. */
  readonly form?: URLSearchParams;
  /** Sends HTTP basic auth from options.auth (only the v2 API needs it). */
  readonly basicAuth?: boolean;
  /** Accept header; default application/json. */
  readonly accept?: string;
  /** Limit on the body, enforced while reading (a chunked answer has no content-length); default 256 MiB. */
  readonly maxBodyBytes?: number;
}

/** A function, not a property test: TypeScript would keep a narrowed `aborted` across awaits. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string')
    return err.code;
  return '';
}

/** The error and its causes, outermost first (fetch-style errors wrap socket errors). */
function errorChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let cur: unknown = err;
  while (cur !== undefined && cur !== null && chain.length < 5) {
    chain.push(cur);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return chain;
}

/** Classifies a transport failure (no HTTP status was received). */
export function classifyHttpError(err: unknown): { code: EtcdErrorCode; detail: string } {
  const chain = errorChain(err);
  const codes = chain.map(errorCode).filter((c) => c !== '');
  const messages = chain.map(errorMessage).filter((m) => m !== '');
  const text = cleanGrpcDetails([...new Set(messages)].join(': '));
  if (codes.some(isTlsErrorCode) || isTlsText(text)) {
    return {
      code: 'tls',
      detail: `TLS handshake failed: ${text}${codes.length > 0 ? ` (${codes[0]})` : ''}`,
    };
  }
  if (codes.includes(CONNECT_TIMEOUT_CODE) || codes.includes('UND_ERR_CONNECT_TIMEOUT'))
    return { code: 'unavailable', detail: `cannot connect: ${text}` };
  const friendly = friendlyNetworkText(`${codes.join(' ')} ${text}`);
  return {
    code: 'unavailable',
    detail: `${friendly !== '' ? `${friendly}: ` : ''}${text}${codes.length > 0 ? ` (${codes[0]})` : ''}`,
  };
}

export class MemberHttp {
  readonly endpoint: Endpoint;
  readonly #options: ClientOptions;
  readonly #agent: HttpAgent;
  #closed = false;

  constructor(endpoint: Endpoint, options: ClientOptions) {
    this.endpoint = endpoint;
    this.#options = options;
    const tls = options.tls;
    // Idle connections time out (and are closed by the agent); a request's own deadline is ours.
    const pool = { keepAlive: true, timeout: KEEPALIVE_MS, scheduling: 'lifo' as const };
    if (endpoint.scheme === 'https') {
      this.#agent = new HttpsAgent({
        ...pool,
        ...(tls?.ca !== undefined && { ca: tls.ca }),
        ...(tls?.cert !== undefined && { cert: tls.cert }),
        ...(tls?.key !== undefined && { key: tls.key.reveal() }),
        ...sniOption(endpoint.host, tls?.serverName),
        ...(tls?.insecureSkipVerify === true && {
          rejectUnauthorized: false,
          checkServerIdentity: () => undefined,
        }),
      });
    } else {
      this.#agent = new HttpAgent(pool);
    }
  }

  error(code: EtcdErrorCode, call: string, detail: string, cause?: unknown): EtcdError {
    return memberError(this.endpoint.hostPort, clientSecrets(this.#options), code, call, detail, cause);
  }

  /**
   * One request with a deadline (opts.timeoutMs or requestTimeoutMs) and the
   * caller's signal. Resolves with any HTTP status; rejects with EtcdError
   * only when no answer was received.
   */
  async request(call: string, path: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
    if (this.#closed) throw this.error('canceled', call, 'client is closed');
    const callerSignal = opts.signal;
    if (callerSignal?.aborted === true) throw this.#aborted(call, callerSignal);
    const timeoutMs = opts.timeoutMs ?? this.#options.requestTimeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = (): void => controller.abort();
    callerSignal?.addEventListener('abort', onAbort, { once: true });
    const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' };
    const maxBodyBytes = opts.maxBodyBytes ?? MAX_BODY_BYTES;
    const auth = this.#options.auth;
    if (opts.basicAuth === true && auth !== undefined) {
      headers['authorization'] =
        `Basic ${Buffer.concat([Buffer.from(`${auth.username}:`), auth.password.revealBytes()]).toString('base64')}`;
    }
    const body = opts.form?.toString();
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const connection = { fresh: false };
    try {
      const res = await this.#send(path, opts.method ?? 'GET', headers, body, controller.signal, connection);
      const length = Number(res.headers['content-length'] ?? 0);
      if (length > maxBodyBytes) {
        res.destroy();
        throw this.error(
          'protocol',
          call,
          `response of ${length} bytes exceeds the ${maxBodyBytes} bytes limit`,
        );
      }
      const chunks: Buffer[] = [];
      let received = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > maxBodyBytes) {
          res.destroy();
          throw this.error('protocol', call, `response exceeds the ${maxBodyBytes} bytes limit`);
        }
        chunks.push(chunk);
      }
      return {
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        bytes: received,
      };
    } catch (err) {
      if (err instanceof EtcdError) throw err;
      if (timedOut) throw this.error('timeout', call, `no answer within ${timeoutMs} ms`, err);
      if (callerSignal !== undefined && isAborted(callerSignal)) throw this.#aborted(call, callerSignal);
      if (this.#closed) throw this.error('canceled', call, 'client is closed', err);
      const { code, detail } = classifyHttpError(err);
      const hint =
        code === 'tls' &&
        this.#options.tls?.cert === undefined &&
        /alert (bad certificate|certificate required|handshake failure)/i.test(detail)
          ? ' (the server probably requires a client certificate)'
          : '';
      // A kept-alive connection the member closed says nothing about its scheme; a fresh one ended at once may.
      const scheme = connection.fresh ? schemeHint(detail, this.endpoint.scheme === 'https') : '';
      throw this.error(code, call, `${detail}${hint}${scheme}`, err);
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onAbort);
    }
  }

  /** Sends the request; resolves with the response head (the body still to read). `connection.fresh`: on a new connection. */
  #send(
    path: string,
    method: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal,
    connection: { fresh: boolean },
  ): Promise<IncomingMessage> {
    const secure = this.endpoint.scheme === 'https';
    const dialTimeoutMs = this.#options.dialTimeoutMs;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)({
        host: this.endpoint.host,
        port: this.endpoint.port,
        path,
        method,
        headers,
        agent: this.#agent,
        signal,
      });
      req.once('response', resolve);
      req.once('error', reject);
      // The connection (TCP, and the TLS handshake) within the dial timeout:
      // a member that accepts and never finishes its handshake fails as
      // unavailable, not at the request deadline.
      req.once('socket', (socket: Socket) => {
        if (req.reusedSocket) return;
        connection.fresh = true;
        const ready = secure ? 'secureConnect' : 'connect';
        const guard = setTimeout(() => {
          const err = new Error(`connection not established within ${dialTimeoutMs} ms`);
          socket.destroy(Object.assign(err, { code: CONNECT_TIMEOUT_CODE }));
        }, dialTimeoutMs);
        socket.once(ready, () => clearTimeout(guard));
        socket.once('close', () => clearTimeout(guard));
      });
      req.end(body);
    });
  }

  #aborted(call: string, signal: AbortSignal): EtcdError {
    const reason: unknown = signal.reason;
    if (reason instanceof Error && reason.name === 'TimeoutError')
      return this.error('timeout', call, `caller's deadline expired (${reason.message})`);
    return this.error('canceled', call, 'aborted by the caller');
  }

  /** Closes the kept-alive connections; in-flight requests are aborted. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#agent.destroy();
  }
}

/** Parses a JSON body; a non-JSON answer is a protocol error naming the call. */
export function parseJson(http: MemberHttp, call: string, res: HttpResponse): unknown {
  try {
    return JSON.parse(res.body);
  } catch {
    const snippet = res.body.slice(0, 120).replace(/\s+/g, ' ').trim();
    throw http.error('protocol', call, `HTTP ${res.status}: expected JSON, got ${JSON.stringify(snippet)}`);
  }
}

export function headerValue(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** The first schema violation, for an error message ("/members/0/id: Expected string"). */
export function describeMismatch(schema: TSchema, value: unknown): string {
  const e = Value.Errors(schema, value).First();
  return e === undefined ? 'invalid' : `${e.path === '' ? '(root)' : e.path}: ${e.message}`;
}
