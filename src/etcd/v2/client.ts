/**
 * The legacy v2 API of one member (etcd 3.4/3.5 started with --enable-v2),
 * over the member's own kept-alive connections. Reads are served by the
 * member itself (no quorum=true): a per-member view is what the checks need.
 * Indexes are read from the X-Etcd-Index header as bigint, never from JSON
 * numbers (which would round above 2^53).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Endpoint } from '../endpoint.ts';
import type {
  CallOptions,
  ClientOptions,
  EtcdError,
  EtcdV2MemberClient,
  V2KeyCount,
  V2Member,
  V2SelfStats,
} from '../types.ts';
import { MemberHttp, describeMismatch, headerValue, parseJson, type HttpResponse } from '../http/agent.ts';

const StringList = Type.Union([Type.Array(Type.String()), Type.Null()]);

const MembersBody = Type.Object({
  members: Type.Array(
    Type.Object({
      id: Type.String(),
      // A member that was added but never started has no name and no client URLs (null in Go's JSON).
      name: Type.Optional(Type.String()),
      peerURLs: Type.Optional(StringList),
      clientURLs: Type.Optional(StringList),
    }),
  ),
});

const SelfStatsBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: Type.String(),
  startTime: Type.String(),
  leaderInfo: Type.Optional(Type.Object({ leader: Type.Optional(Type.String()) })),
});

export const V2Node = Type.Recursive((Self) =>
  Type.Object({
    key: Type.Optional(Type.String()),
    dir: Type.Optional(Type.Boolean()),
    nodes: Type.Optional(Type.Array(Self)),
  }),
);
export type V2NodeT = Static<typeof V2Node>;

const KeysBody = Type.Object({ action: Type.String(), node: V2Node });

const ErrorBody = Type.Object({
  errorCode: Type.Number(),
  message: Type.String(),
  cause: Type.Optional(Type.String()),
});

/** v2 error codes (etcd's v2error package). */
const V2_KEY_NOT_FOUND = 100;
const V2_UNAUTHORIZED = 110;

/** Leaf (non-directory) nodes under `root`, all levels; iterative, so a deep tree cannot overflow the stack. */
export function countLeaves(root: V2NodeT): bigint {
  let count = 0n;
  const stack: V2NodeT[] = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.dir !== true) {
      count++;
      continue;
    }
    for (const child of node.nodes ?? []) stack.push(child);
  }
  return count;
}

/** /v2/keys path of a key: each segment encoded, slashes kept; a missing leading slash is added. */
export function keysPath(key: string): string {
  const segments = key.split('/').map(encodeURIComponent);
  const joined = segments.join('/');
  return `/v2/keys${joined.startsWith('/') ? '' : '/'}${joined}`;
}

function parseIndex(value: string | undefined): bigint | undefined {
  return value !== undefined && /^\d+$/.test(value) ? BigInt(value) : undefined;
}

export function createV2MemberClient(endpoint: Endpoint, options: ClientOptions): EtcdV2MemberClient {
  const http = new MemberHttp(endpoint, options);

  const notEnabled = (call: string): EtcdError =>
    http.error(
      'unsupported',
      call,
      'the v2 API is not enabled on this member (etcd 3.4/3.5 need --enable-v2; 3.6 has no v2 API)',
    );

  /** Throws the EtcdError for a non-2xx v2 answer. */
  const failure = (call: string, res: HttpResponse): EtcdError => {
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      body = undefined;
    }
    // etcd's router answers "404 page not found" (text) for /v2/* when v2 is off; the v2 API itself answers JSON.
    if (res.status === 404 && body === undefined) return notEnabled(call);
    if (Value.Check(ErrorBody, body)) {
      const what = `${body.message}${body.cause !== undefined && body.cause !== '' ? ` (${body.cause})` : ''}`;
      if (body.errorCode === V2_KEY_NOT_FOUND) return http.error('not_found', call, what);
      if (body.errorCode === V2_UNAUTHORIZED || res.status === 401 || res.status === 403)
        return http.error('auth', call, what);
      return http.error('unknown', call, `HTTP ${res.status}: ${what} (v2 error ${body.errorCode})`);
    }
    if (res.status === 401 || res.status === 403) return http.error('auth', call, `HTTP ${res.status}`);
    return http.error(
      res.status >= 500 ? 'unavailable' : 'protocol',
      call,
      `HTTP ${res.status}: ${res.body.slice(0, 120).trim()}`,
    );
  };

  const getJson = async <S extends TSchema>(
    call: string,
    path: string,
    schema: S,
    opts: CallOptions | undefined,
  ): Promise<Static<S>> => {
    const res = await http.request(call, path, { ...opts, basicAuth: true });
    if (res.status !== 200) throw failure(call, res);
    const body = parseJson(http, call, res);
    if (!Value.Check(schema, body))
      throw http.error('protocol', call, `unexpected body: ${describeMismatch(schema, body)}`);
    return body;
  };

  const index = (call: string, res: HttpResponse): bigint => {
    const idx = parseIndex(headerValue(res, 'x-etcd-index'));
    if (idx === undefined) throw http.error('protocol', call, 'answer has no valid X-Etcd-Index header');
    return idx;
  };

  return {
    endpoint,

    async members(opts?: CallOptions): Promise<readonly V2Member[]> {
      const body = await getJson('GET /v2/members', '/v2/members', MembersBody, opts);
      return body.members.map((m) => ({
        id: m.id,
        name: m.name ?? '',
        peerURLs: m.peerURLs ?? [],
        clientURLs: m.clientURLs ?? [],
      }));
    },

    async selfStats(opts?: CallOptions): Promise<V2SelfStats> {
      const b = await getJson('GET /v2/stats/self', '/v2/stats/self', SelfStatsBody, opts);
      return {
        id: b.id,
        name: b.name,
        state: b.state,
        leaderId: b.leaderInfo?.leader ?? '',
        startTime: b.startTime,
      };
    },

    async index(opts?: CallOptions): Promise<bigint> {
      const call = 'HEAD /v2/keys';
      // HEAD: the headers of a GET on the root, without listing it.
      const res = await http.request(call, '/v2/keys/', { ...opts, method: 'HEAD', basicAuth: true });
      if (res.status !== 200) throw failure(call, res);
      return index(call, res);
    },

    async countKeys(prefix: string, opts?: CallOptions): Promise<V2KeyCount> {
      const call = 'GET /v2/keys';
      const res = await http.request(call, `${keysPath(prefix)}?recursive=true`, {
        ...opts,
        basicAuth: true,
      });
      if (res.status === 404) {
        const err = failure(call, res);
        // "Key not found": nothing under the prefix, at this index.
        if (err.code === 'not_found') return { index: index(call, res), keys: 0n };
        throw err;
      }
      if (res.status !== 200) throw failure(call, res);
      const body = parseJson(http, call, res);
      if (!Value.Check(KeysBody, body))
        throw http.error('protocol', call, `unexpected body: ${describeMismatch(KeysBody, body)}`);
      return { index: index(call, res), keys: countLeaves(body.node) };
    },

    async set(key: string, value: string, opts?: CallOptions): Promise<bigint> {
      const call = 'PUT /v2/keys';
      const res = await http.request(call, keysPath(key), {
        ...opts,
        method: 'PUT',
        form: new URLSearchParams({ value }),
        basicAuth: true,
      });
      if (res.status !== 200 && res.status !== 201) throw failure(call, res);
      return index(call, res);
    },

    async delete(key: string, opts?: CallOptions): Promise<bigint> {
      const call = 'DELETE /v2/keys';
      const res = await http.request(call, keysPath(key), { ...opts, method: 'DELETE', basicAuth: true });
      if (res.status !== 200) throw failure(call, res);
      return index(call, res);
    },

    close(): Promise<void> {
      return http.close();
    },
  };
}
