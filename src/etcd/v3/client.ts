/**
 * The v3 (gRPC) client of ONE etcd member. One channel (transport.ts) =
 * one HTTP/2 connection, reused by every call and watch until close(). No
 * load balancing and no retries across members: an answer or a failure
 * always belongs to `endpoint` (a load-balanced client would hide which member failed). Dialing is bounded by
 * dialTimeoutMs and every unary call by a deadline.
 */
import type { Endpoint } from '../endpoint.ts';
import {
  GrpcCode,
  classifyGrpcStatus,
  cleanGrpcDetails,
  friendlyNetworkText,
  isAuthText,
  isTokenInvalidText,
  clientSecrets,
  memberError,
  schemeHint,
} from '../errors.ts';
import {
  DecodeError,
  alarmTypeToWire,
  decodeAlarms,
  decodeDeleteRange,
  decodeHashKV,
  decodeHeaderOnly,
  decodeLeaseGrant,
  decodeLeaseKeepAlive,
  decodeMemberList,
  decodeRange,
  decodeStatus,
  decodeToken,
  decodeWatchResponse,
  etcdMethods,
  type MethodDef,
} from './codec.ts';
import {
  GRPC_STATUS_NAMES,
  GrpcChannel,
  GrpcStatusError,
  NO_CONNECTION,
  type ChannelState,
  type Metadata,
} from './transport.ts';
import {
  EtcdError,
  type AlarmMember,
  type CallOptions,
  type ClientOptions,
  type EtcdV3MemberClient,
  type HashKVResult,
  type LeaseGrantResult,
  type LeaseKeepAliveResult,
  type MemberListResult,
  type RangeRequest,
  type RangeResult,
  type ResponseHeader,
  type StatusResult,
  type WatchMessage,
  type WatchRequest,
  type EtcdErrorCode,
} from '../types.ts';
import { errorMessage } from '../../errors.ts';

const DEFAULT_KEEPALIVE_MS = 30_000;
/** etcd's default --grpc-keepalive-min-time: faster pings get the connection closed with "too_many_pings". */
const MIN_KEEPALIVE_MS = 5_000;
const KEEPALIVE_TIMEOUT_MS = 10_000;
/** Defragment rewrites the whole database: seconds to minutes. */
const DEFAULT_DEFRAGMENT_TIMEOUT_MS = 60_000;
/**
 * Reconnect backoff. grpc's default maximum (120 s) would keep a restarted
 * member looking down for minutes; a monitor wants to see it back quickly,
 * and one connection attempt every few seconds to a down member is cheap.
 */
const INITIAL_RECONNECT_BACKOFF_MS = 500;
const MAX_RECONNECT_BACKOFF_MS = 5_000;

type Token = { readonly value: string; readonly generation: number };

/** A failure that already carries its final EtcdError (not to be mapped again). */
function isEtcdError(err: unknown): err is EtcdError {
  return err instanceof EtcdError;
}

function isGrpcStatusError(err: unknown): err is GrpcStatusError {
  return err instanceof GrpcStatusError;
}

/** A function, not a property test: TypeScript would keep a narrowed `aborted` across awaits. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function toBuffer(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : v;
}

export function createV3MemberClient(endpoint: Endpoint, options: ClientOptions): EtcdV3MemberClient {
  return new V3MemberClient(endpoint, options);
}

class V3MemberClient implements EtcdV3MemberClient {
  readonly endpoint: Endpoint;
  readonly #options: ClientOptions;
  /** Owns the connection, its attempts and every call on it: close() ends them all. */
  readonly #channel: GrpcChannel;
  readonly #methods = etcdMethods();
  #closed = false;
  /** Serialises authentication: concurrent callers share one Authenticate. */
  #token: Promise<Token> | undefined;
  #tokenGeneration = 0;
  #lastToken = '';

  constructor(endpoint: Endpoint, options: ClientOptions) {
    this.endpoint = endpoint;
    this.#options = options;
    const keepalive = Math.max(MIN_KEEPALIVE_MS, options.keepaliveTimeMs ?? DEFAULT_KEEPALIVE_MS);
    const tls = endpoint.scheme === 'https' ? (options.tls ?? {}) : undefined;
    try {
      this.#channel = new GrpcChannel({
        host: endpoint.host,
        port: endpoint.port,
        ...(tls !== undefined && {
          tls: {
            ...(tls.ca !== undefined && { ca: tls.ca }),
            ...(tls.cert !== undefined && { cert: tls.cert }),
            ...(tls.key !== undefined && { key: tls.key.reveal() }),
            ...(tls.serverName !== undefined && { serverName: tls.serverName }),
            ...(tls.insecureSkipVerify === true && { insecureSkipVerify: true }),
          },
        }),
        dialTimeoutMs: options.dialTimeoutMs,
        keepaliveTimeMs: keepalive,
        keepaliveTimeoutMs: KEEPALIVE_TIMEOUT_MS,
        initialBackoffMs: INITIAL_RECONNECT_BACKOFF_MS,
        maxBackoffMs: MAX_RECONNECT_BACKOFF_MS,
      });
    } catch (err) {
      // Node's secure-context errors name the problem (e.g. "PEM routines"), never key bytes.
      const detail = errorMessage(err);
      throw this.#error('tls', 'Dial', `invalid TLS material: ${detail}`);
    }
  }

  // ---- plumbing -------------------------------------------------------------------

  /** The password, the TLS key and the current auth token. */
  #secrets(): string[] {
    return [...clientSecrets(this.#options), this.#lastToken];
  }

  #error(code: EtcdErrorCode, call: string, detail: string, cause?: unknown): EtcdError {
    return memberError(this.endpoint.hostPort, this.#secrets(), code, call, detail, cause);
  }

  #assertOpen(call: string): void {
    if (this.#closed) throw this.#error('canceled', call, 'client is closed');
  }

  #canceled(call: string, signal: AbortSignal | undefined): EtcdError {
    const reason: unknown = signal?.reason;
    if (reason instanceof Error && reason.name === 'TimeoutError') {
      return this.#error('timeout', call, `caller's deadline expired (${reason.message})`);
    }
    return this.#error('canceled', call, 'aborted by the caller');
  }

  /** A wrong scheme's hint, for a connection the member ended before it was established only. */
  #schemeHint(details: string): string {
    if (!details.startsWith(NO_CONNECTION)) return '';
    return schemeHint(details, this.endpoint.scheme === 'https');
  }

  /** Maps any failure of a call to an EtcdError naming this member and the call. */
  #mapError(err: unknown, call: string, signal: AbortSignal | undefined, timeoutMs?: number): EtcdError {
    if (isEtcdError(err)) return err;
    if (aborted(signal)) return this.#canceled(call, signal);
    if (this.#closed) return this.#error('canceled', call, 'client is closed', err);
    if (err instanceof DecodeError)
      return this.#error('protocol', call, `unexpected response: ${err.message}`, err);
    if (isGrpcStatusError(err)) {
      const code = classifyGrpcStatus(err.code, err.details);
      const statusName = GRPC_STATUS_NAMES[err.code] ?? String(err.code);
      const details = cleanGrpcDetails(err.details);
      let detail: string;
      if (code === 'timeout') {
        detail = `no answer within ${timeoutMs ?? this.#options.requestTimeoutMs} ms (${statusName})`;
      } else if (code === 'tls') {
        const hint =
          this.#options.tls?.cert === undefined &&
          /alert (bad certificate|certificate required|handshake failure)/i.test(details)
            ? ' (the server probably requires a client certificate)'
            : '';
        detail = `TLS handshake failed: ${details}${hint}${this.#schemeHint(details)} (${statusName})`;
      } else {
        const friendly = code === 'unavailable' ? friendlyNetworkText(details) : '';
        detail = `${friendly !== '' ? `${friendly}: ` : ''}${details}${this.#schemeHint(details)} (${statusName})`;
      }
      return this.#error(code, call, detail, err);
    }
    return this.#error('unknown', call, errorMessage(err), err);
  }

  /**
   * Waits until the channel has a connection or has failed, for at most
   * dialTimeoutMs (a black-holed host would otherwise hold a call until its
   * deadline, or the OS gives up after minutes). A channel in
   * TRANSIENT_FAILURE is not waited for: the call then fails at once with
   * the reason (connection refused, certificate...).
   */
  async #waitConnected(call: string, callDeadline: number, signal: AbortSignal | undefined): Promise<void> {
    // Taken before the attempt starts: the transport's own dial timer (the
    // same length) ends the attempt no earlier than this wait gives up.
    const dialDeadline = Date.now() + this.#options.dialTimeoutMs;
    let state = this.#channel.getState(true);
    if (state !== 'IDLE' && state !== 'CONNECTING') return;
    const until = Math.min(dialDeadline, callDeadline);
    while (state === 'IDLE' || state === 'CONNECTING') {
      const changed = await new Promise<boolean>((resolve) => {
        const remaining = until - Date.now();
        if (remaining <= 0) {
          resolve(false);
          return;
        }
        let settled = false;
        const done = (value: boolean): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          off();
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        };
        const onAbort = (): void => done(true);
        const timer = setTimeout(() => done(false), remaining);
        signal?.addEventListener('abort', onAbort, { once: true });
        const off = this.#channel.onStateChange(() => done(true));
      });
      if (aborted(signal)) throw this.#canceled(call, signal);
      this.#assertOpen(call);
      const now = this.#channel.getState(false);
      // The attempt ended by the dial timer at the deadline is this wait's timeout too.
      if (!changed || (now === 'TRANSIENT_FAILURE' && Date.now() >= until)) {
        if (until === dialDeadline) {
          throw this.#error(
            'unavailable',
            call,
            `cannot connect within ${this.#options.dialTimeoutMs} ms (channel ${stateText(state)})`,
          );
        }
        throw this.#error(
          'timeout',
          call,
          `no connection before the call's deadline (channel ${stateText(state)})`,
        );
      }
      state = this.#channel.getState(true);
    }
  }

  #metadata(token: string, extra?: Readonly<Record<string, string>>): Metadata {
    return { ...(token !== '' && { token }), ...extra };
  }

  /** One unary call on the shared channel, cancelled when `signal` aborts. */
  async #invoke(
    method: MethodDef,
    request: object,
    token: string,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const bytes = await this.#channel.unary(
      method.path,
      serialize(method, request),
      this.#metadata(token),
      deadline,
      signal,
    );
    return deserialize(method, bytes);
  }

  /** Resolves the token to send ('' without auth, or when the server has auth disabled). */
  #getToken(call: string, signal: AbortSignal | undefined): Promise<Token> {
    const auth = this.#options.auth;
    if (auth === undefined) return Promise.resolve({ value: '', generation: 0 });
    if (this.#token === undefined) {
      const generation = this.#tokenGeneration;
      const p = this.#authenticate(generation);
      this.#token = p;
      // A failed authentication is not cached: the next call tries again.
      p.catch(() => {
        if (this.#token === p) this.#token = undefined;
      });
    }
    const shared = this.#token;
    // The shared Authenticate is not tied to one caller's signal; a caller may stop waiting.
    if (signal === undefined) return shared.catch((err: unknown) => Promise.reject(this.#rename(err, call)));
    if (signal.aborted) return Promise.reject(this.#canceled(call, signal));
    return new Promise<Token>((resolve, reject) => {
      const onAbort = (): void => reject(this.#canceled(call, signal));
      signal.addEventListener('abort', onAbort, { once: true });
      shared.then(
        (t) => {
          signal.removeEventListener('abort', onAbort);
          resolve(t);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(this.#rename(err, call));
        },
      );
    });
  }

  /** An authentication failure reported under the name of the call that needed it. */
  #rename(err: unknown, call: string): EtcdError {
    const e = isEtcdError(err) ? err : this.#mapError(err, 'Authenticate', undefined);
    if (e.call === call) return e;
    const prefix = `Authenticate on ${this.endpoint.hostPort}: `;
    const detail = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    return this.#error(e.code, call, `Authenticate: ${detail}`, e);
  }

  async #authenticate(generation: number): Promise<Token> {
    const auth = this.#options.auth;
    if (auth === undefined) return { value: '', generation };
    const call = 'Authenticate';
    const deadline = Date.now() + this.#options.requestTimeoutMs;
    await this.#waitConnected(call, deadline, undefined);
    try {
      const raw = await this.#invoke(
        this.#methods.authenticate,
        { name: auth.username, password: auth.password.revealBytes() },
        '',
        deadline,
        undefined,
      );
      const value = decodeToken(raw);
      this.#lastToken = value;
      return { value, generation };
    } catch (err) {
      if (isGrpcStatusError(err) && /authentication is not enabled/i.test(err.details)) {
        // Like etcd's clientv3: credentials configured but auth off on the server → plain calls.
        return { value: '', generation };
      }
      const e = this.#mapError(err, call, undefined);
      if (e.code === 'auth') {
        throw this.#error(
          'auth',
          call,
          `${isGrpcStatusError(err) ? err.details : e.message} (user "${auth.username}")`,
          err,
        );
      }
      throw e;
    }
  }

  /** Drops the token if it is still the one that failed (another caller may have refreshed it already). */
  #invalidateToken(used: Token): void {
    if (used.generation === this.#tokenGeneration) {
      this.#tokenGeneration++;
      this.#token = undefined;
    }
  }

  #shouldReauth(err: unknown): boolean {
    return (
      this.#options.auth !== undefined &&
      isGrpcStatusError(err) &&
      (err.code === GrpcCode.UNAUTHENTICATED || isTokenInvalidText(err.details))
    );
  }

  /**
   * A unary call: connect (bounded by dialTimeoutMs), authenticate if needed,
   * call with a deadline; on an invalid/expired token re-authenticate once and
   * retry once.
   */
  async #unary<T>(
    call: string,
    method: MethodDef,
    request: object,
    decode: (raw: unknown) => T,
    opts: CallOptions | undefined,
    defaultTimeoutMs?: number,
  ): Promise<T> {
    this.#assertOpen(call);
    const signal = opts?.signal;
    if (aborted(signal)) throw this.#canceled(call, signal);
    const timeoutMs = opts?.timeoutMs ?? defaultTimeoutMs ?? this.#options.requestTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    try {
      await this.#waitConnected(call, deadline, signal);
      let token = await this.#getToken(call, signal);
      let raw: unknown;
      try {
        raw = await this.#invoke(method, request, token.value, deadline, signal);
      } catch (err) {
        if (!this.#shouldReauth(err) || aborted(signal)) throw err;
        this.#invalidateToken(token);
        token = await this.#getToken(call, signal);
        raw = await this.#invoke(method, request, token.value, deadline, signal);
      }
      return decode(raw);
    } catch (err) {
      throw this.#mapError(err, call, signal, timeoutMs);
    }
  }

  // ---- the contract ---------------------------------------------------------------

  memberList(opts?: CallOptions): Promise<MemberListResult> {
    return this.#unary('MemberList', this.#methods.memberList, {}, decodeMemberList, opts);
  }

  status(opts?: CallOptions): Promise<StatusResult> {
    return this.#unary('Status', this.#methods.status, {}, decodeStatus, opts);
  }

  alarmList(opts?: CallOptions): Promise<readonly AlarmMember[]> {
    return this.#unary(
      'AlarmList',
      this.#methods.alarm,
      { action: 'GET', memberID: '0', alarm: 'NONE' },
      decodeAlarms,
      opts,
    );
  }

  alarmDisarm(alarm: AlarmMember, opts?: CallOptions): Promise<readonly AlarmMember[]> {
    return this.#alarmChange('AlarmDisarm', 'DEACTIVATE', alarm, opts);
  }

  alarmActivate(alarm: AlarmMember, opts?: CallOptions): Promise<readonly AlarmMember[]> {
    return this.#alarmChange('AlarmActivate', 'ACTIVATE', alarm, opts);
  }

  #alarmChange(
    call: string,
    action: 'ACTIVATE' | 'DEACTIVATE',
    alarm: AlarmMember,
    opts: CallOptions | undefined,
  ): Promise<readonly AlarmMember[]> {
    let wire: string | number;
    try {
      wire = alarmTypeToWire(alarm.alarm);
    } catch (err) {
      return Promise.reject(this.#error('protocol', call, errorMessage(err)));
    }
    return this.#unary(
      call,
      this.#methods.alarm,
      { action, memberID: alarm.memberId.toString(), alarm: wire },
      decodeAlarms,
      opts,
    );
  }

  range(req: RangeRequest, opts?: CallOptions): Promise<RangeResult> {
    return this.#unary('Range', this.#methods.range, rangeRequest(req), decodeRange, opts);
  }

  async *rangePages(
    req: RangeRequest & { readonly pageSize: number },
    opts?: CallOptions,
  ): AsyncIterable<RangeResult> {
    if (!Number.isSafeInteger(req.pageSize) || req.pageSize <= 0) {
      throw this.#error('protocol', 'Range', `pageSize must be a positive integer, got ${req.pageSize}`);
    }
    let key = toBuffer(req.key);
    let revision = req.revision ?? 0n;
    for (;;) {
      const page = await this.range({ ...req, key, limit: req.pageSize, revision }, opts);
      yield page;
      const last = page.kvs.at(-1);
      if (!page.more || last === undefined || req.rangeEnd === undefined) return;
      // Pin every further page to the first page's revision: one consistent keyspace.
      if (revision <= 0n) revision = page.header.revision;
      // The next key after `last` in byte order.
      key = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  hashKV(revision: bigint, opts?: CallOptions): Promise<HashKVResult> {
    return this.#unary('HashKV', this.#methods.hashKV, { revision: revision.toString() }, decodeHashKV, opts);
  }

  put(
    key: Buffer | string,
    value: Buffer | string,
    opts?: CallOptions & { readonly lease?: bigint },
  ): Promise<ResponseHeader> {
    return this.#unary(
      'Put',
      this.#methods.put,
      { key: toBuffer(key), value: toBuffer(value), lease: (opts?.lease ?? 0n).toString() },
      decodeHeaderOnly,
      opts,
    );
  }

  leaseGrant(ttlSeconds: number, opts?: CallOptions): Promise<LeaseGrantResult> {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
      return Promise.reject(
        this.#error('protocol', 'LeaseGrant', `ttlSeconds must be a positive integer, got ${ttlSeconds}`),
      );
    }
    return this.#unary(
      'LeaseGrant',
      this.#methods.leaseGrant,
      { TTL: String(ttlSeconds), ID: '0' },
      decodeLeaseGrant,
      opts,
    );
  }

  leaseRevoke(id: bigint, opts?: CallOptions): Promise<ResponseHeader> {
    return this.#unary(
      'LeaseRevoke',
      this.#methods.leaseRevoke,
      { ID: id.toString() },
      decodeHeaderOnly,
      opts,
    );
  }

  async leaseKeepAliveOnce(id: bigint, opts?: CallOptions): Promise<LeaseKeepAliveResult> {
    const call = 'LeaseKeepAlive';
    this.#assertOpen(call);
    const signal = opts?.signal;
    if (aborted(signal)) throw this.#canceled(call, signal);
    const timeoutMs = opts?.timeoutMs ?? this.#options.requestTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    try {
      await this.#waitConnected(call, deadline, signal);
      const token = await this.#getToken(call, signal);
      const method = this.#methods.leaseKeepAlive;
      const stream = this.#channel.call(method.path, this.#metadata(token.value), deadline);
      const onAbort = (): void => stream.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        stream.write(serialize(method, { ID: id.toString() }));
        // One request, one answer: the stream is only a transport for it.
        const raw = await stream.next();
        if (raw !== undefined) return decodeLeaseKeepAlive(deserialize(method, raw));
        throw this.#error('unavailable', call, 'keep-alive stream closed without an answer');
      } finally {
        signal?.removeEventListener('abort', onAbort);
        stream.cancel();
      }
    } catch (err) {
      throw this.#mapError(err, call, signal, timeoutMs);
    }
  }

  deleteRange(
    key: Buffer | string,
    rangeEnd?: Buffer | string,
    opts?: CallOptions,
  ): Promise<{ header: ResponseHeader; deleted: bigint }> {
    const request =
      rangeEnd === undefined ? { key: toBuffer(key) } : { key: toBuffer(key), range_end: toBuffer(rangeEnd) };
    return this.#unary('DeleteRange', this.#methods.deleteRange, request, decodeDeleteRange, opts);
  }

  compact(revision: bigint, opts?: CallOptions & { physical?: boolean }): Promise<ResponseHeader> {
    return this.#unary(
      'Compact',
      this.#methods.compact,
      { revision: revision.toString(), physical: opts?.physical === true },
      decodeHeaderOnly,
      opts,
    );
  }

  async defragment(opts?: CallOptions): Promise<void> {
    await this.#unary(
      'Defragment',
      this.#methods.defragment,
      {},
      decodeHeaderOnly,
      opts,
      DEFAULT_DEFRAGMENT_TIMEOUT_MS,
    );
  }

  watch(req: WatchRequest, signal: AbortSignal): AsyncIterable<WatchMessage> {
    return this.#watch(req, signal);
  }

  async *#watch(req: WatchRequest, signal: AbortSignal): AsyncGenerator<WatchMessage> {
    const call = 'Watch';
    this.#assertOpen(call);
    if (aborted(signal)) return;
    const create = {
      create_request: {
        key: toBuffer(req.key),
        ...(req.rangeEnd !== undefined && { range_end: toBuffer(req.rangeEnd) }),
        start_revision: (req.startRevision ?? 0n).toString(),
        progress_notify: req.progressNotify === true,
        prev_kv: req.prevKv === true,
      },
    };
    let reauthorized = false;
    for (;;) {
      let token: Token;
      try {
        await this.#waitConnected(call, Number.POSITIVE_INFINITY, signal);
        token = await this.#getToken(call, signal);
      } catch (err) {
        if (aborted(signal)) return;
        throw this.#mapError(err, call, signal);
      }
      const method = this.#methods.watch;
      const stream = this.#channel.call(
        method.path,
        this.#metadata(token.value, req.requireLeader === true ? { hasleader: 'true' } : undefined),
        undefined,
      );
      const onAbort = (): void => stream.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      // A member shutting down sends GOAWAY and keeps open streams silent
      // until its graceful-stop timeout (about 7 s in 3.6). The channel
      // leaving READY (GOAWAY or a dropped connection) ends the watch at
      // once, so the caller can resume on another member instead of waiting.
      let goingAway = false;
      let offStateChange: (() => void) | undefined;
      if (this.#channel.getState(false) === 'READY') {
        offStateChange = this.#channel.onStateChange(() => {
          if (this.#closed) return;
          goingAway = true;
          stream.cancel();
        });
      }
      let retry = false;
      try {
        stream.write(serialize(method, create));
        // The call's iterator reads one message at a time: while the consumer
        // is busy, the stream is paused and HTTP/2 flow control holds the
        // server back (bounded memory for a slow consumer).
        for await (const raw of stream) {
          const resp = decodeWatchResponse(deserialize(method, raw));
          if (resp.fragment) continue; // never requested
          if (resp.created && resp.canceled && isAuthText(resp.cancelReason)) {
            // etcd checks the token when the watch is created and answers "permission denied" for an expired one.
            if (this.#options.auth !== undefined && !reauthorized) {
              reauthorized = true;
              this.#invalidateToken(token);
              retry = true;
              break;
            }
            throw this.#error('auth', call, `watch refused: ${resp.cancelReason}`);
          }
          for (const msg of resp.messages) {
            yield msg;
            if (msg.kind === 'compacted' || msg.kind === 'canceled') return;
          }
        }
        if (retry) continue;
        if (aborted(signal)) return;
        if (goingAway) throw this.#goingAway(call);
        throw this.#error('unavailable', call, 'watch stream closed by the server');
      } catch (err) {
        if (aborted(signal)) return;
        if (goingAway && !isEtcdError(err)) throw this.#goingAway(call);
        if (!reauthorized && this.#shouldReauth(err)) {
          reauthorized = true;
          this.#invalidateToken(token);
          continue;
        }
        throw this.#mapError(err, call, signal);
      } finally {
        offStateChange?.();
        signal.removeEventListener('abort', onAbort);
        // Ends the HTTP/2 stream (RST_STREAM); a no-op when it already ended.
        stream.cancel();
      }
    }
  }

  #goingAway(call: string): EtcdError {
    return this.#error(
      'unavailable',
      call,
      'the connection to the member was closed or the member is shutting down (GOAWAY)',
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.close();
  }
}

function stateText(state: ChannelState): string {
  return state.toLowerCase();
}

/** Encodes a request; a failure is the call's (INTERNAL), as grpc reports it. */
function serialize(method: MethodDef, request: object): Buffer {
  try {
    return method.requestSerialize(request);
  } catch (err) {
    throw new GrpcStatusError(
      GrpcCode.INTERNAL,
      `Request message serialization failure: ${errorMessage(err)}`,
    );
  }
}

/** Decodes an answer; bytes that do not parse are the call's failure (INTERNAL), as grpc reports it. */
function deserialize(method: MethodDef, bytes: Buffer): unknown {
  try {
    return method.responseDeserialize(bytes);
  } catch (err) {
    throw new GrpcStatusError(GrpcCode.INTERNAL, `Response message parsing error: ${errorMessage(err)}`);
  }
}

/** The wire form of a RangeRequest: 64-bit numbers as decimal strings. */
export function rangeRequest(req: RangeRequest): object {
  return {
    key: toBuffer(req.key),
    ...(req.rangeEnd !== undefined && { range_end: toBuffer(req.rangeEnd) }),
    limit: BigInt(req.limit ?? 0).toString(),
    revision: (req.revision ?? 0n).toString(),
    serializable: req.serializable === true,
    keys_only: req.keysOnly === true,
    count_only: req.countOnly === true,
  };
}
