/**
 * Plain HTTP(S) access to one member (health, version, v2 API), shared by
 * the HTTP and v2 clients: one undici Agent per member with kept-alive
 * connections and the member's TLS material, a deadline per request combined
 * with the caller's signal, and failures mapped to EtcdError codes.
 */
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Agent as UndiciAgent } from 'undici';
import Agent from 'undici/lib/dispatcher/agent.js';
import dispatchRequest from 'undici/lib/api/api-request.js';
import type { Endpoint } from '../endpoint.ts';
import {
  cleanGrpcDetails,
  clientSecrets,
  friendlyNetworkText,
  isTlsErrorCode,
  isTlsText,
  memberError,
} from '../errors.ts';
import { EtcdError, type CallOptions, type ClientOptions, type EtcdErrorCode } from '../types.ts';
import { errorMessage } from '../../errors.ts';

// undici's index loads ~110 modules (fetch, WebSocket, caches, mocks, ...)
// for the two parts used here, which load 25: ~110 ms of CPU and ~13 MiB
// less at every start (docs/performance.md, "Start-up and memory"). undici
// has no "exports" map, so these paths are public; its version is pinned and
// the HTTP and v2 client tests run through them. Imported (not required at
// run time) so that the package's bundle holds them: 26 files fewer to
// resolve, read and compile at each start. Types: undici-parts.d.ts.

const KEEPALIVE_MS = 30_000;
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

/** The error and its causes, outermost first (undici wraps socket errors). */
function errorChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let cur: unknown = err;
  while (cur !== undefined && cur !== null && chain.length < 5) {
    chain.push(cur);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return chain;
}

/** Classifies a transport failure of undici (no HTTP status was received). */
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
  if (codes.includes('UND_ERR_CONNECT_TIMEOUT'))
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
  readonly #agent: UndiciAgent;
  #closed = false;

  constructor(endpoint: Endpoint, options: ClientOptions) {
    this.endpoint = endpoint;
    this.#options = options;
    const tls = options.tls;
    this.#agent = new Agent({
      keepAliveTimeout: KEEPALIVE_MS,
      connectTimeout: options.dialTimeoutMs,
      connect:
        endpoint.scheme === 'https'
          ? {
              timeout: options.dialTimeoutMs,
              ...(tls?.ca !== undefined && { ca: tls.ca }),
              ...(tls?.cert !== undefined && { cert: tls.cert }),
              ...(tls?.key !== undefined && { key: tls.key.reveal() }),
              ...(tls?.serverName !== undefined && tls.serverName !== '' && { servername: tls.serverName }),
              rejectUnauthorized: tls?.insecureSkipVerify !== true,
            }
          : { timeout: options.dialTimeoutMs },
    });
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
    if (opts.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    try {
      const url = new URL(`${this.endpoint.url}${path}`);
      const res = await dispatchRequest.call(this.#agent, {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: opts.method ?? 'GET',
        headers,
        ...(opts.form !== undefined && { body: opts.form.toString() }),
        signal: controller.signal,
      });
      const length = Number(res.headers['content-length'] ?? 0);
      if (length > maxBodyBytes) {
        await res.body.dump();
        throw this.error(
          'protocol',
          call,
          `response of ${length} bytes exceeds the ${maxBodyBytes} bytes limit`,
        );
      }
      const chunks: Buffer[] = [];
      let received = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > maxBodyBytes) {
          res.body.destroy();
          throw this.error('protocol', call, `response exceeds the ${maxBodyBytes} bytes limit`);
        }
        chunks.push(chunk);
      }
      const body = Buffer.concat(chunks).toString('utf8');
      return { status: res.statusCode, headers: res.headers, body, bytes: received };
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
      throw this.error(code, call, `${detail}${hint}`, err);
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onAbort);
    }
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
    await this.#agent.destroy();
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
