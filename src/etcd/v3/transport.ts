/**
 * A small gRPC client transport over node:http2: one channel = one HTTP/2
 * connection to one member, unary calls and bidirectional streams on it.
 * Only what the etcd client needs (no name resolution, load balancing,
 * retries, compression or service config); @grpc/grpc-js did all that and
 * cost ~100 ms of CPU and ~15 MiB at every start (docs/performance.md,
 * "Start-up and memory").
 *
 * The wire protocol (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * POST of `application/grpc` with `te: trailers`, messages framed as one
 * flag byte (compressed or not) and a 4-byte big-endian length, the status
 * in the trailers (`grpc-status`, percent-encoded `grpc-message`) or, when
 * the call fails before any message, in the only headers (trailers-only).
 *
 * The channel's life: IDLE until a call needs it, CONNECTING (TCP, TLS,
 * HTTP/2 settings exchange, all within the dial timeout: a member that
 * accepts TCP but never finishes its handshake is dropped, not waited on),
 * READY, then IDLE again when the connection closes or the server sends
 * GOAWAY (the next call reconnects). A failed attempt leaves the channel in
 * TRANSIENT_FAILURE for a backoff (growing 1.6x up to a cap, as grpc's), during which
 * calls fail at once with the attempt's error; then it tries again.
 * close() ends every call and connection; the channel's timers never keep the
 * process alive.
 */
import * as http2 from 'node:http2';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { Backoff } from '../../backoff.ts';
import { sniOption } from '../tls.ts';

/** gRPC status names by code (fixed by the gRPC spec). */
export const GRPC_STATUS_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

const OK = 0;
const CANCELLED = 1;
const UNKNOWN = 2;
const DEADLINE_EXCEEDED = 4;
const PERMISSION_DENIED = 7;
const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;

/** A call's final status other than OK: `code` is the gRPC status, `details` the server's (or our) text. */
export class GrpcStatusError extends Error {
  override name = 'GrpcStatusError';
  readonly code: number;
  readonly details: string;

  constructor(code: number, details: string) {
    super(`${code} ${GRPC_STATUS_NAMES[code] ?? 'UNKNOWN'}: ${details}`);
    this.code = code;
    this.details = details;
  }
}

export type ChannelState = 'IDLE' | 'CONNECTING' | 'READY' | 'TRANSIENT_FAILURE' | 'SHUTDOWN';

export interface ChannelTls {
  readonly ca?: string;
  readonly cert?: string;
  /** The PEM key, revealed only to build the secure context. */
  readonly key?: string;
  /** The name checked against the server's certificate and sent as SNI and :authority. */
  readonly serverName?: string;
  readonly insecureSkipVerify?: boolean;
}

export interface ChannelOptions {
  readonly host: string;
  readonly port: number;
  /** TLS when given (https endpoints), plain HTTP/2 otherwise. */
  readonly tls?: ChannelTls;
  /** TCP + TLS + HTTP/2 settings exchange must be done within this. */
  readonly dialTimeoutMs: number;
  /** Ping interval while calls are open (etcd refuses pings without streams, and faster than its min-time). */
  readonly keepaliveTimeMs: number;
  /** A ping not acknowledged within this ends the connection. */
  readonly keepaliveTimeoutMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/**
 * Why the dial timer ended a connection. Not a TLS failure even on a TLS
 * channel (nothing was wrong with a certificate), so the text avoids the
 * words that classifyGrpcStatus reads as one ("handshake").
 */
export function unansweredDialText(dialTimeoutMs: number): string {
  return `connection accepted but the member did not answer within ${dialTimeoutMs} ms (member frozen or overloaded, or a proxy that holds connections)`;
}

/** How the text of a call that failed because the channel cannot connect starts. */
export const NO_CONNECTION = 'No connection established';

/** The text calls fail with while the channel cannot connect (grpc-js's wording, which errors.ts shortens). */
function noConnectionText(lastError: string): string {
  return `${NO_CONNECTION}. Last error: ${lastError}`;
}

/** gRPC's mapping of HTTP statuses for answers that are not gRPC (a proxy, an HTTP server). */
function httpStatusToGrpc(status: number): number {
  switch (status) {
    case 400:
      return INTERNAL;
    case 401:
      return UNAUTHENTICATED;
    case 403:
      return PERMISSION_DENIED;
    case 404:
      return UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return UNAVAILABLE;
    default:
      return UNKNOWN;
  }
}

function rstCodeToStatus(rstCode: number): [number, string] {
  const c = http2.constants;
  switch (rstCode) {
    case c.NGHTTP2_REFUSED_STREAM:
      return [UNAVAILABLE, 'stream refused by the server (RST_STREAM REFUSED_STREAM)'];
    case c.NGHTTP2_CANCEL:
      return [CANCELLED, 'call cancelled (RST_STREAM CANCEL)'];
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      return [RESOURCE_EXHAUSTED, 'bandwidth exhausted (RST_STREAM ENHANCE_YOUR_CALM)'];
    case c.NGHTTP2_INADEQUATE_SECURITY:
      return [PERMISSION_DENIED, 'protocol not secure enough (RST_STREAM INADEQUATE_SECURITY)'];
    default:
      return [INTERNAL, `stream reset by the server with code ${rstCode}`];
  }
}

function decodeGrpcMessage(raw: unknown): string {
  if (typeof raw !== 'string') return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The grpc-timeout header: at most 8 digits, in the finest unit that fits. */
function grpcTimeout(ms: number): string {
  const m = Math.max(0, Math.ceil(ms));
  if (m < 1e8) return `${m}m`;
  const s = Math.ceil(m / 1000);
  if (s < 1e8) return `${s}S`;
  return `${Math.ceil(s / 3600)}H`;
}

/** One message in gRPC's length-prefixed framing. */
export function frameMessage(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/** Splits a byte stream into gRPC messages (any size: the limit is the server's). */
export class MessageReader {
  #chunks: Buffer[] = [];
  #buffered = 0;

  /** Returns the messages completed by this chunk; throws on a compressed message (never asked for). */
  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.#buffered < 5) return out;
      const head = this.#peek(5);
      const length = head.readUInt32BE(1);
      if (this.#buffered < 5 + length) return out;
      if (head[0] !== 0)
        throw new GrpcStatusError(INTERNAL, 'compressed message received, none was accepted');
      const all = this.#take(5 + length);
      out.push(all.subarray(5));
    }
  }

  get pending(): number {
    return this.#buffered;
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!;
  }

  #take(n: number): Buffer {
    if (this.#chunks[0]!.length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    const first = this.#chunks[0]!;
    this.#buffered -= n;
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    this.#chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }
}

/** One HTTP/2 connection of a channel, with its keepalive. */
interface Connection {
  readonly session: http2.ClientHttp2Session;
  ready: boolean;
  /** Calls open on it: pings only while there are some. */
  calls: number;
  pingTimer: NodeJS.Timeout | undefined;
  /** Records why the connection is being ended (the first reason wins), reported as the channel's lastError. */
  readonly noteFailure: (reason: string) => void;
}

export type Metadata = Readonly<Record<string, string>>;

export class GrpcChannel {
  readonly #options: ChannelOptions;
  readonly #authority: string;
  readonly #secureContext: SecureContext | undefined;
  #state: ChannelState = 'IDLE';
  #lastError = '';
  /** The connection new calls use (CONNECTING or READY). */
  #current: Connection | undefined;
  /** Every connection still open, including ones draining after GOAWAY: close() ends them all. */
  readonly #connections = new Set<Connection>();
  readonly #calls = new Set<GrpcCall>();
  readonly #listeners = new Set<(state: ChannelState) => void>();
  /** Between failed attempts: 1.6x more each time, up to maxBackoffMs, 20% jitter (grpc's connection backoff). */
  readonly #backoff: Backoff;
  #backoffTimer: NodeJS.Timeout | undefined;

  /** Throws when the TLS material is not usable (the message names the problem, never key bytes). */
  constructor(options: ChannelOptions) {
    this.#options = options;
    const tls = options.tls;
    const serverName = tls?.serverName !== undefined && tls.serverName !== '' ? tls.serverName : undefined;
    const host = isIP(options.host) === 6 ? `[${options.host}]` : options.host;
    this.#authority = serverName ?? `${host}:${options.port}`;
    this.#backoff = new Backoff({
      initialMs: options.initialBackoffMs,
      maxMs: options.maxBackoffMs,
      factor: 1.6,
      jitter: 0.2,
    });
    this.#secureContext =
      tls === undefined
        ? undefined
        : createSecureContext({
            ...(tls.ca !== undefined && { ca: tls.ca }),
            ...(tls.cert !== undefined && { cert: tls.cert }),
            ...(tls.key !== undefined && { key: tls.key }),
          });
  }

  get state(): ChannelState {
    return this.#state;
  }

  /** The last connection failure, as Node reported it ('' if none). */
  get lastError(): string {
    return this.#lastError;
  }

  /** Connections still open (for tests and shutdown reports). */
  get openConnections(): number {
    return this.#connections.size;
  }

  /** The state; starts connecting when IDLE and `connect` is true (as grpc's getConnectivityState(true)). */
  getState(connect: boolean): ChannelState {
    if (connect && this.#state === 'IDLE') this.#connect();
    return this.#state;
  }

  /** Called at every state change until the returned function is called. */
  onStateChange(listener: (state: ChannelState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #setState(state: ChannelState): void {
    if (this.#state === state || this.#state === 'SHUTDOWN') return;
    this.#state = state;
    for (const l of [...this.#listeners]) l(state);
  }

  #connect(): void {
    const o = this.#options;
    const tls = o.tls;
    this.#setState('CONNECTING');
    let failure = '';
    let conn: Connection | undefined;
    let dialTimer: NodeJS.Timeout | undefined;
    let closed = false;
    const onClosed = (): void => {
      if (closed) return;
      closed = true;
      clearTimeout(dialTimer);
      if (conn === undefined) return;
      clearTimeout(conn.pingTimer);
      if (!conn.session.destroyed) conn.session.destroy();
      this.#connections.delete(conn);
      if (!conn.ready) {
        this.#lastError = failure !== '' ? failure : 'connection closed before it was established';
        if (this.#current === conn) this.#fail();
      } else {
        if (failure !== '') this.#lastError = failure;
        this.#detach(conn, 'IDLE');
      }
    };
    let socket: Socket | undefined;
    const createConnection = (): Socket => {
      const s = tls === undefined ? netConnect({ host: o.host, port: o.port }) : this.#tlsSocket(tls);
      socket = s;
      // The socket's own failure is the reason (a TLS alert after the
      // handshake, say), and its error or close ends the session: Node's
      // session reports neither when the socket fails as HTTP/2 starts.
      s.on('error', (err: Error) => {
        if (failure === '') failure = err.message;
        onClosed();
      });
      s.once('close', onClosed);
      return s;
    };
    let session: http2.ClientHttp2Session;
    try {
      session = http2.connect(`${tls === undefined ? 'http' : 'https'}://${this.#authority}`, {
        createConnection,
        settings: { enablePush: false, initialWindowSize: 1 << 20 },
        // etcd may answer a range with hundreds of MiB: room for large answers in flight.
        maxSessionMemory: 64,
      });
    } catch (err) {
      this.#lastError = err instanceof Error ? err.message : String(err);
      this.#fail();
      return;
    }
    const c: Connection = {
      session,
      ready: false,
      calls: 0,
      pingTimer: undefined,
      noteFailure: (reason) => {
        if (failure === '') failure = reason;
      },
    };
    conn = c;
    this.#current = c;
    this.#connections.add(c);
    dialTimer = setTimeout(() => {
      if (!c.ready) {
        failure = unansweredDialText(o.dialTimeoutMs);
        session.destroy();
        socket?.destroy();
      }
    }, o.dialTimeoutMs);
    dialTimer.unref();
    session.on('error', (err: Error) => {
      if (failure === '') failure = err.message;
    });
    session.once('remoteSettings', () => {
      clearTimeout(dialTimer);
      if (session.destroyed || this.#current !== c) return;
      c.ready = true;
      session.setLocalWindowSize(4 << 20);
      this.#backoff.reset();
      this.#lastError = '';
      this.#setState('READY');
      this.#schedulePing(c);
    });
    session.on('goaway', () => this.#detach(c, 'IDLE'));
    session.once('close', onClosed);
    // Calls keep the process alive, not an idle connection.
    session.unref();
  }

  #tlsSocket(tls: ChannelTls): Socket {
    const o = this.#options;
    return tlsConnect({
      host: o.host,
      port: o.port,
      secureContext: this.#secureContext,
      ALPNProtocols: ['h2'],
      ...sniOption(o.host, tls.serverName),
      ...(tls.insecureSkipVerify === true && {
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      }),
    });
  }

  /** The connection no longer takes new calls (closed or going away); its open calls finish on their own. */
  #detach(conn: Connection, next: ChannelState): void {
    if (this.#current !== conn) return;
    this.#current = undefined;
    this.#setState(next);
  }

  #fail(): void {
    this.#current = undefined;
    this.#setState('TRANSIENT_FAILURE');
    const wait = this.#backoff.next();
    // Then tries again by itself (as grpc does), so that the next call finds
    // a member that came back READY; a member still down costs one attempt
    // per backoff (at most maxBackoffMs apart) until close().
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = undefined;
      if (this.#state === 'TRANSIENT_FAILURE') this.#connect();
    }, wait);
    this.#backoffTimer.unref();
  }

  #schedulePing(conn: Connection): void {
    const o = this.#options;
    conn.pingTimer = setTimeout(() => {
      if (conn.session.destroyed) return;
      if (conn.calls === 0) {
        this.#schedulePing(conn);
        return;
      }
      const timeout = setTimeout(() => {
        conn.noteFailure(`keepalive ping not acknowledged within ${o.keepaliveTimeoutMs} ms`);
        conn.session.destroy();
      }, o.keepaliveTimeoutMs);
      timeout.unref();
      const sent = conn.session.ping((err) => {
        clearTimeout(timeout);
        if (err === null && !conn.session.destroyed) this.#schedulePing(conn);
      });
      if (!sent) clearTimeout(timeout);
    }, o.keepaliveTimeMs);
    conn.pingTimer.unref();
  }

  /**
   * Opens a call on the READY connection. The caller waited for READY
   * (the client bounds that wait by the dial timeout); if the channel is
   * not READY now the call fails at once as UNAVAILABLE.
   */
  call(path: string, metadata: Metadata, deadline: number | undefined): GrpcCall {
    const call = new GrpcCall(path, deadline, () => this.#calls.delete(call));
    this.#calls.add(call);
    if (this.#state === 'SHUTDOWN') {
      call.finish(CANCELLED, 'channel closed');
      return call;
    }
    const conn = this.#current;
    if (conn === undefined || !conn.ready) {
      const text =
        this.#state === 'TRANSIENT_FAILURE' || this.#lastError !== ''
          ? noConnectionText(this.#lastError)
          : 'no connection established';
      call.finish(UNAVAILABLE, text);
      return call;
    }
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      ':authority': this.#authority,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'etcd-monitor (node:http2)',
      ...metadata,
    };
    if (deadline !== undefined) headers['grpc-timeout'] = grpcTimeout(deadline - Date.now());
    let stream: http2.ClientHttp2Stream;
    try {
      stream = conn.session.request(headers);
    } catch (err) {
      call.finish(UNAVAILABLE, err instanceof Error ? err.message : String(err));
      return call;
    }
    // An open call keeps the process alive (an idle connection does not).
    if (conn.calls++ === 0) conn.session.ref();
    call.attach(stream, conn.session, () => {
      if (--conn.calls === 0 && !conn.session.destroyed) conn.session.unref();
    });
    return call;
  }

  /** One request, one answer. */
  unary(
    path: string,
    request: Uint8Array,
    metadata: Metadata,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    const call = this.call(path, metadata, deadline);
    if (signal?.aborted === true) call.cancel();
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    call.write(request);
    call.end();
    return call.collect().finally(() => signal?.removeEventListener('abort', onAbort));
  }

  /** Ends every call (CANCELLED) and connection; the channel is unusable afterwards. */
  close(): void {
    if (this.#state === 'SHUTDOWN') return;
    this.#setState('SHUTDOWN');
    this.#listeners.clear();
    clearTimeout(this.#backoffTimer);
    for (const call of [...this.#calls]) call.cancel('channel closed');
    for (const conn of this.#connections) {
      clearTimeout(conn.pingTimer);
      conn.session.destroy();
    }
    this.#connections.clear();
    this.#current = undefined;
  }
}

/**
 * One call: messages out (write), messages in (async iteration, one at a
 * time: while the consumer is busy the stream is paused and HTTP/2 flow
 * control holds the server back), then the status. Iteration ends after an
 * OK status and throws a GrpcStatusError otherwise.
 */
export class GrpcCall implements AsyncIterable<Buffer> {
  readonly path: string;
  readonly #deadline: number | undefined;
  readonly #onDone: () => void;
  #stream: http2.ClientHttp2Stream | undefined;
  #release: (() => void) | undefined;
  readonly #reader = new MessageReader();
  readonly #queue: Buffer[] = [];
  #status: GrpcStatusError | null | undefined;
  #wake: (() => void) | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  /** Set when the answer is not gRPC at all (an HTTP error, another content type). */
  #notGrpc: [number, string] | undefined;
  /** From the trailers, or from the only headers of a trailers-only answer. */
  #trailerStatus: [number, string] | undefined;

  constructor(path: string, deadline: number | undefined, onDone: () => void) {
    this.path = path;
    this.#deadline = deadline;
    this.#onDone = onDone;
  }

  /** @internal */
  attach(stream: http2.ClientHttp2Stream, session: http2.ClientHttp2Session, release: () => void): void {
    this.#stream = stream;
    this.#release = release;
    if (this.#deadline !== undefined) {
      this.#deadlineTimer = setTimeout(
        () => this.finish(DEADLINE_EXCEEDED, 'Deadline exceeded'),
        Math.max(0, this.#deadline - Date.now()),
      );
    }
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      const contentType = String(headers['content-type'] ?? '');
      if (status !== 200) {
        this.#notGrpc = [httpStatusToGrpc(status), `received HTTP status ${status} (not a gRPC answer)`];
      } else if (!contentType.startsWith('application/grpc')) {
        this.#notGrpc = [UNKNOWN, `received content-type "${contentType}" (not a gRPC answer)`];
      } else if (headers['grpc-status'] !== undefined) {
        // Trailers-only: the call failed (or ended) before any message.
        this.#trailerStatus = [Number(headers['grpc-status']), decodeGrpcMessage(headers['grpc-message'])];
      }
    });
    // The status is applied at 'close', after every message was read: data
    // still buffered in a paused stream comes before its trailers.
    stream.on('trailers', (trailers) => {
      this.#trailerStatus = [Number(trailers['grpc-status']), decodeGrpcMessage(trailers['grpc-message'])];
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.#status !== undefined) return;
      let messages: Buffer[];
      try {
        messages = this.#reader.push(chunk);
      } catch (err) {
        const e = err instanceof GrpcStatusError ? err : new GrpcStatusError(INTERNAL, String(err));
        this.finish(e.code, e.details);
        return;
      }
      if (messages.length === 0) return;
      this.#queue.push(...messages);
      // Backpressure: read no more until the consumer took what it has.
      stream.pause();
      this.#notify();
    });
    stream.on('error', () => {
      // Read at 'close' (rstCode, the session's state).
    });
    stream.once('close', () => {
      if (this.#status !== undefined) return;
      const trailer = this.#trailerStatus;
      // A member ends a call at the deadline we sent it (grpc-timeout) — by RST_STREAM CANCEL or a status
      // such as CANCELLED or UNKNOWN "context deadline exceeded" (etcd 3.4) — and that can arrive before
      // our own timer fires: at the deadline, any end but OK is the deadline.
      if (this.#deadlineReached() && !(trailer !== undefined && trailer[0] === OK)) {
        this.finish(DEADLINE_EXCEEDED, 'Deadline exceeded');
      } else if (this.#notGrpc !== undefined) {
        this.finish(...this.#notGrpc);
      } else if (trailer !== undefined) {
        if (Number.isInteger(trailer[0])) this.finish(...trailer);
        else this.finish(UNKNOWN, 'the answer ended with an invalid grpc-status');
      } else if (session.destroyed || session.closed) {
        this.finish(UNAVAILABLE, 'connection to the member closed');
      } else if (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
        this.finish(...rstCodeToStatus(stream.rstCode));
      } else {
        this.finish(UNKNOWN, 'the answer ended without a grpc-status');
      }
    });
  }

  write(message: Uint8Array): void {
    const s = this.#stream;
    if (s === undefined || this.#status !== undefined || s.destroyed || s.writableEnded) return;
    s.write(frameMessage(message));
  }

  /** Half-closes: no more requests. */
  end(): void {
    const s = this.#stream;
    if (s === undefined || s.destroyed || s.writableEnded) return;
    s.end();
  }

  /** Ends the call (RST_STREAM CANCEL); iteration throws CANCELLED. A no-op once the status is known. */
  cancel(details = 'Cancelled on client'): void {
    this.finish(CANCELLED, details);
  }

  /** The deadline has come, give or take Date.now()'s 1 ms tick (the member's timer ran from a later start). */
  #deadlineReached(): boolean {
    return this.#deadline !== undefined && Date.now() >= this.#deadline - 1;
  }

  /** @internal Sets the final status (the first one wins) and releases the stream. */
  finish(code: number, details: string): void {
    if (this.#status !== undefined) return;
    this.#status = code === OK ? null : new GrpcStatusError(code, details);
    clearTimeout(this.#deadlineTimer);
    const s = this.#stream;
    if (s !== undefined && !s.destroyed) s.close(http2.constants.NGHTTP2_CANCEL);
    this.#release?.();
    this.#release = undefined;
    this.#onDone();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The next message, or undefined after an OK status; throws the status otherwise. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const message = this.#queue.shift();
      if (message !== undefined) {
        if (this.#queue.length === 0 && this.#status === undefined) this.#stream?.resume();
        return message;
      }
      if (this.#status !== undefined) {
        if (this.#status === null) return undefined;
        throw this.#status;
      }
      this.#stream?.resume();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    try {
      for (;;) {
        const message = await this.next();
        if (message === undefined) return;
        yield message;
      }
    } finally {
      this.cancel();
    }
  }

  /** A unary answer: exactly one message and an OK status. */
  async collect(): Promise<Buffer> {
    let answer: Buffer | undefined;
    for (;;) {
      const message = await this.next();
      if (message === undefined) break;
      answer ??= message;
    }
    if (answer === undefined) throw new GrpcStatusError(INTERNAL, 'the server sent no message');
    return answer;
  }
}
