/**
 * HTTP to the apiserver on @kubernetes/client-node's machinery: its
 * KubeConfig authenticates every request (bearer tokens, token files that
 * rotate, exec plugins, client certificates) and builds the undici
 * dispatcher for the cluster's TLS settings. On top: one dispatcher per
 * transport (kept-alive connections, closed by close()), a deadline per
 * request, Status bodies turned into KubeApiError, and watch streams read
 * line by line as JSON. Nothing else is shared between transports.
 */
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { Agent, fetch, type Dispatcher } from 'undici';
import { apiErrorFrom, KubeTransportError } from './errors.ts';

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

const METHODS: Record<KubeRequest['method'], HttpMethod> = {
  GET: HttpMethod.GET,
  POST: HttpMethod.POST,
  PUT: HttpMethod.PUT,
  PATCH: HttpMethod.PATCH,
  DELETE: HttpMethod.DELETE,
};

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici wraps socket errors: "fetch failed" ← cause.
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
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
  readonly #kc: KubeConfig;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  #dispatcher: Dispatcher | undefined;
  #closed = false;

  constructor(kc: KubeConfig, opts: TransportOptions = {}) {
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error('the kubeconfig has no current cluster (check current-context)');
    this.server = cluster.server.replace(/\/+$/, '');
    this.#kc = kc;
    this.#timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.#userAgent = opts.userAgent ?? 'etcd-monitor';
  }

  private url(path: string, query: Query | undefined): string {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  /** Headers (credentials included) for one request, and the transport's dispatcher. */
  private async prepare(
    url: string,
    method: KubeRequest['method'],
  ): Promise<{ headers: Record<string, string>; dispatcher: Dispatcher }> {
    if (this.#closed) throw new KubeTransportError('the Kubernetes client has been closed');
    const ctx = new RequestContext(url, METHODS[method]);
    await this.#kc.applySecurityAuthentication(ctx);
    // The KubeConfig makes a new dispatcher on every call; the first one is
    // kept for the life of the transport, so connections are reused.
    this.#dispatcher ??= (ctx.getDispatcher() as Dispatcher | undefined) ?? new Agent();
    return {
      headers: { ...ctx.getHeaders(), 'user-agent': this.#userAgent, accept: 'application/json' },
      dispatcher: this.#dispatcher,
    };
  }

  /** One request; resolves to the parsed JSON body of a 2xx answer, throws KubeApiError otherwise. */
  async request(req: KubeRequest): Promise<unknown> {
    const url = this.url(req.path, req.query);
    const what = req.what ?? `${req.method} ${req.path}`;
    const { headers, dispatcher } = await this.prepare(url, req.method);
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
      throw new KubeTransportError(`${what}: ${errorText(err)}`, { cause: err });
    }
    const body = text === '' ? undefined : parseJson(text);
    if (status >= 200 && status < 300) return body;
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
    const url = this.url(req.path, req.query);
    const what = req.what ?? `watch ${req.path}`;
    const { headers, dispatcher } = await this.prepare(url, 'GET');
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
      throw new KubeTransportError(`${what}: ${errorText(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    if (res.status !== 200 || res.body === null) {
      const text = await res.text().catch(() => '');
      release();
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
          throw new KubeTransportError(`${what}: the stream broke: ${errorText(err)}`, { cause: err });
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
