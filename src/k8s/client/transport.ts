/**
 * HTTP to the apiserver: credentials on every request (RequestCredentials),
 * one undici dispatcher per transport for the cluster's TLS settings
 * (kept-alive connections, closed by close(); dialled anew only when an
 * exec plugin hands out another client certificate), a deadline per
 * request, Status bodies turned into KubeApiError, and watch streams read
 * line by line as JSON. Nothing else is shared between transports.
 */
import { Agent, fetch, type Dispatcher } from 'undici';
import { CredentialError, RequestCredentials, type RequestAuth } from './credentials.ts';
import { apiErrorFrom, KubeTransportError } from './errors.ts';
import type { RestConfig } from './kubeconfig.ts';

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface KubeRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute path, e.g. /apis/etcdmonitor.dev/v1alpha1/namespaces/ops/etcdclusters */
  readonly path: string;
  readonly query?: Query;
  /** Sent as JSON (contentType defaults to application/json). */
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Overrides the transport's request timeout. */
  readonly timeoutMs?: number;
  /** For error messages, e.g. "get etcdclusters.etcdmonitor.dev ops/a"; default "METHOD path". */
  readonly what?: string;
}

export interface TransportOptions {
  /** Deadline of each request (not of watch streams); default 30 s. */
  readonly requestTimeoutMs?: number;
  readonly userAgent?: string;
}

function errorText(err: unknown, headers: Readonly<Record<string, string>>): string {
  // undici wraps socket errors: "fetch failed" ← cause.
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  const text = err instanceof Error ? `${err.message}${cause}` : String(err);
  // Whatever the HTTP layer quotes, never the credentials it was given.
  const authorization = headers['authorization'];
  if (authorization === undefined || authorization === '') return text;
  const secret = authorization.slice(authorization.indexOf(' ') + 1);
  return text.replaceAll(authorization, '[REDACTED]').replaceAll(secret, '[REDACTED]');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class KubeTransport {
  readonly server: string;
  readonly #config: RestConfig;
  readonly #credentials: RequestCredentials;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  #dispatcher: Dispatcher | undefined;
  /** The client certificate the dispatcher dials with (an exec plugin's may change). */
  #dispatcherCert: string | undefined;
  #closed = false;

  constructor(config: RestConfig, opts: TransportOptions = {}) {
    this.server = config.server.replace(/\/+$/, '');
    this.#config = config;
    this.#credentials = new RequestCredentials(config);
    this.#timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.#userAgent = opts.userAgent ?? 'etcd-monitor';
  }

  #url(path: string, query: Query | undefined): string {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  /** Headers (credentials included) for one request, and the transport's dispatcher. */
  async #prepare(): Promise<{ headers: Record<string, string>; dispatcher: Dispatcher }> {
    if (this.#closed) throw new KubeTransportError('the Kubernetes client has been closed');
    let auth: RequestAuth;
    try {
      auth = await this.#credentials.get();
    } catch (err) {
      if (err instanceof CredentialError) throw new KubeTransportError(err.message, { cause: err });
      throw err;
    }
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, accept: 'application/json' };
    if (auth.authorization !== undefined) headers['authorization'] = auth.authorization;
    return { headers, dispatcher: this.#dispatcherFor(auth.clientCert) };
  }

  #dispatcherFor(execCert: RequestAuth['clientCert']): Dispatcher {
    const certKey = execCert?.cert;
    if (this.#dispatcher !== undefined && this.#dispatcherCert === certKey) return this.#dispatcher;
    const old = this.#dispatcher;
    // Requests in flight on the old one finish; it closes once idle.
    if (old !== undefined) void old.close().catch(() => undefined);
    const tls = this.#config.tls;
    const cert = execCert?.cert ?? tls.cert;
    const key = execCert?.key ?? tls.key;
    this.#dispatcher = new Agent({
      // HTTP/1.1 only: undici negotiates HTTP/2 with the apiserver by default, and
      // Node's HTTP/2 session can, after a request is aborted mid-flight (a renewal
      // cut short by the renew deadline), spin in its native send loop until the
      // process dies of std::bad_alloc (docs/development.md, "HTTP clients").
      allowH2: false,
      connect: {
        ...(tls.ca !== undefined && { ca: tls.ca }),
        ...(cert !== undefined && key !== undefined && { cert, key }),
        ...(tls.serverName !== undefined && { servername: tls.serverName }),
        rejectUnauthorized: tls.insecureSkipTLSVerify !== true,
      },
    });
    this.#dispatcherCert = certKey;
    return this.#dispatcher;
  }

  /** A 401 means the credentials were refused: fetch them anew for the next request. */
  #refused(status: number): void {
    if (status === 401) this.#credentials.invalidate();
  }

  /** One request; resolves to the parsed JSON body of a 2xx answer, throws KubeApiError otherwise. */
  async request(req: KubeRequest): Promise<unknown> {
    const url = this.#url(req.path, req.query);
    const what = req.what ?? `${req.method} ${req.path}`;
    const { headers, dispatcher } = await this.#prepare();
    if (req.body !== undefined) headers['content-type'] = req.contentType ?? 'application/json';
    const timeoutMs = req.timeoutMs ?? this.#timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = req.signal !== undefined ? AbortSignal.any([req.signal, timeout]) : timeout;
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const res = await fetch(url, {
        method: req.method,
        headers,
        ...(req.body !== undefined && { body: JSON.stringify(req.body) }),
        dispatcher,
        signal,
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      if (timeout.aborted)
        throw new KubeTransportError(`${what}: no answer within ${timeoutMs} ms`, { cause: err });
      throw new KubeTransportError(`${what}: ${errorText(err, headers)}`, { cause: err });
    }
    const body = text === '' ? undefined : parseJson(text);
    if (status >= 200 && status < 300) return body;
    this.#refused(status);
    throw apiErrorFrom(what, status, body, retryAfter);
  }

  /**
   * A streaming GET (a watch): resolves once the server answered 200 (within
   * connectTimeoutMs), then yields one parsed JSON value per line until the
   * server ends the stream, the signal aborts, or the consumer stops
   * iterating (which closes the connection).
   */
  async stream(req: {
    path: string;
    query?: Query;
    signal: AbortSignal;
    connectTimeoutMs?: number;
    what?: string;
  }): Promise<AsyncIterable<unknown>> {
    const url = this.#url(req.path, req.query);
    const what = req.what ?? `watch ${req.path}`;
    const { headers, dispatcher } = await this.#prepare();
    // Aborting this controller ends the stream whoever asked for it.
    const own = new AbortController();
    const onAbort = (): void => own.abort(req.signal.reason);
    if (req.signal.aborted) throw req.signal.reason;
    req.signal.addEventListener('abort', onAbort, { once: true });
    const connectTimeoutMs = req.connectTimeoutMs ?? this.#timeoutMs;
    const timer = setTimeout(
      () => own.abort(new KubeTransportError(`${what}: no answer within ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    const release = (): void => {
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onAbort);
      if (!own.signal.aborted) own.abort();
    };
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      res = await fetch(url, { method: 'GET', headers, dispatcher, signal: own.signal });
    } catch (err) {
      release();
      if (req.signal.aborted) throw req.signal.reason;
      if (own.signal.reason instanceof KubeTransportError) throw own.signal.reason;
      throw new KubeTransportError(`${what}: ${errorText(err, headers)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    if (res.status !== 200 || res.body === null) {
      const text = await res.text().catch(() => '');
      release();
      this.#refused(res.status);
      throw apiErrorFrom(
        what,
        res.status,
        text === '' ? undefined : parseJson(text),
        res.headers.get('retry-after'),
      );
    }
    const body = res.body;
    return {
      async *[Symbol.asyncIterator]() {
        const decoder = new TextDecoder();
        let buffered = '';
        try {
          for await (const chunk of body) {
            buffered += decoder.decode(chunk, { stream: true });
            for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
              const line = buffered.slice(0, newline).trim();
              buffered = buffered.slice(newline + 1);
              if (line === '') continue;
              let value: unknown;
              try {
                value = JSON.parse(line);
              } catch {
                throw new KubeTransportError(
                  `${what}: the server sent a line that is not JSON: ${line.slice(0, 200)}`,
                );
              }
              yield value;
            }
          }
        } catch (err) {
          if (req.signal.aborted) throw req.signal.reason;
          if (err instanceof KubeTransportError) throw err;
          throw new KubeTransportError(`${what}: the stream broke: ${errorText(err, headers)}`, {
            cause: err,
          });
        } finally {
          release();
        }
      },
    };
  }

  /** Closes the connections; requests after this fail. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const dispatcher = this.#dispatcher;
    this.#dispatcher = undefined;
    if (dispatcher !== undefined) await dispatcher.destroy().catch(() => undefined);
  }
}
