/**
 * Client logic that real etcd cannot show deterministically (how many
 * Authenticate calls, exactly one retry, the metadata sent), against an
 * in-process gRPC server speaking our minimal etcd proto.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parseEndpoint } from '../endpoint.ts';
import { Secret } from '../secret.ts';
import { EtcdError, type EtcdV3MemberClient } from '../types.ts';
import { loadEtcdServices, type EtcdServices } from './codec.ts';
import { eventually } from '../../testing/wait.ts';
import { createV3MemberClient } from './client.ts';

const PASSWORD = 'correct-horse-battery';

interface FakeState {
  authenticateCalls: number;
  /** The token Range accepts; Authenticate makes its new token the valid one unless `rejectAllTokens`. */
  validToken: string;
  rejectAllTokens: boolean;
  rangeTokens: string[];
  watchMetadata: Record<string, string>[];
  hangRange: boolean;
  /** Range calls the server has received and holds. */
  rangeHeld: number;
  rangeCancelled: number;
}

function metadataOf(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) out[k] = String(v);
  return out;
}

function serviceOf(services: EtcdServices, name: string): grpc.ServiceDefinition {
  const svc = services[name];
  assert.ok(svc !== undefined, `etcd.json has the ${name} service`);
  return svc as grpc.ServiceDefinition;
}

function freshState(): FakeState {
  return {
    authenticateCalls: 0,
    validToken: '',
    rejectAllTokens: false,
    rangeTokens: [],
    watchMetadata: [],
    hangRange: false,
    rangeHeld: 0,
    rangeCancelled: 0,
  };
}

describe('v3 client against a fake etcd', () => {
  const state: FakeState = freshState();
  const server = new grpc.Server();
  let port = 0;
  const clients: EtcdV3MemberClient[] = [];
  const open = (password = PASSWORD, requestTimeoutMs = 5_000): EtcdV3MemberClient => {
    const c = createV3MemberClient(parseEndpoint(`http://127.0.0.1:${port}`), {
      dialTimeoutMs: 2_000,
      requestTimeoutMs,
      auth: { username: 'root', password: new Secret(password) },
    });
    clients.push(c);
    return c;
  };

  before(async () => {
    const def = loadEtcdServices();
    server.addService(serviceOf(def, 'Auth'), {
      Authenticate: (
        call: grpc.ServerUnaryCall<{ name: string; password: Buffer }, object>,
        cb: grpc.sendUnaryData<object>,
      ) => {
        state.authenticateCalls++;
        const n = state.authenticateCalls;
        // Slow like bcrypt, so that concurrent callers overlap.
        setTimeout(() => {
          if (call.request.password.toString('utf8') !== PASSWORD) {
            cb({
              code: grpc.status.INVALID_ARGUMENT,
              details: 'etcdserver: authentication failed, invalid user ID or password',
            });
            return;
          }
          const token = `token-${n}`;
          if (!state.rejectAllTokens) state.validToken = token;
          cb(null, { header: {}, token });
        }, 30);
      },
    });
    server.addService(serviceOf(def, 'KV'), {
      Range: (call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        const token = String(call.metadata.get('token')[0] ?? '');
        state.rangeTokens.push(token);
        if (state.hangRange) {
          state.rangeHeld++;
          call.on('cancelled', () => state.rangeCancelled++);
          return;
        }
        if (token === '') {
          cb({ code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: user name is empty' });
        } else if (token !== state.validToken) {
          cb({ code: grpc.status.UNAUTHENTICATED, details: 'etcdserver: invalid auth token' });
        } else {
          cb(null, { header: { revision: '7' }, kvs: [], count: '0' });
        }
      },
    });
    server.addService(serviceOf(def, 'Watch'), {
      Watch: (call: grpc.ServerDuplexStream<object, object>) => {
        state.watchMetadata.push(metadataOf(call.metadata));
        call.on('data', () => call.write({ header: { revision: '7' }, created: true }));
        call.on('error', () => {});
        call.on('cancelled', () => call.end());
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  });

  beforeEach(() => {
    Object.assign(state, freshState());
  });

  after(() => {
    for (const c of clients) c.close();
    server.forceShutdown();
  });

  it('authenticates once for concurrent calls and once again when the token expired', async () => {
    const c = open();
    await Promise.all(Array.from({ length: 5 }, () => c.range({ key: 'a' })));
    assert.equal(state.authenticateCalls, 1);
    assert.deepEqual(new Set(state.rangeTokens), new Set(['token-1']));
    // The server forgets the token: every concurrent call fails once, one re-authentication serves them all.
    state.validToken = 'expired';
    await Promise.all(Array.from({ length: 5 }, () => c.range({ key: 'a' })));
    assert.equal(state.authenticateCalls, 2);
    assert.equal(state.rangeTokens.filter((t) => t === 'token-2').length, 5);
  });

  it('retries a call only once after re-authenticating', async () => {
    state.rejectAllTokens = true;
    const c = open();
    const err = await c.range({ key: 'a' }).then(
      () => assert.fail('expected an auth error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof EtcdError);
    assert.equal(err.code, 'auth');
    assert.match(err.message, /invalid auth token/);
    assert.equal(state.authenticateCalls, 2);
    assert.equal(state.rangeTokens.length, 2);
  });

  it('a wrong password is not cached and never shown', async () => {
    const c = open('not-the-password');
    for (let i = 1; i <= 2; i++) {
      const err = await c.range({ key: 'a' }).then(
        () => assert.fail('expected an auth error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof EtcdError);
      assert.equal(err.code, 'auth');
      assert.ok(!err.message.includes('not-the-password'));
      assert.equal(state.authenticateCalls, i);
    }
    assert.equal(state.rangeTokens.length, 0);
  });

  it('sends the token and hasleader on a watch', async () => {
    const c = open();
    const ac = new AbortController();
    for await (const m of c.watch({ key: 'a', requireLeader: true }, ac.signal)) {
      assert.equal(m.kind, 'created');
      ac.abort();
    }
    assert.equal(state.watchMetadata.length, 1);
    assert.equal(state.watchMetadata[0]?.['token'], 'token-1');
    assert.equal(state.watchMetadata[0]?.['hasleader'], 'true');
  });

  it('a call past its deadline is a timeout; an aborted call is cancelled on the server', async () => {
    const c = open(PASSWORD, 300);
    await c.range({ key: 'a' }, { timeoutMs: 30_000 }); // authenticated
    state.hangRange = true;
    await assert.rejects(
      c.range({ key: 'a' }),
      (e: unknown) =>
        e instanceof EtcdError && e.code === 'timeout' && /no answer within 300 ms/.test(e.message),
    );
    // Aborted long before its own deadline: cancelled, not timed out.
    const ac = new AbortController();
    const aborted = c.range({ key: 'a' }, { signal: ac.signal, timeoutMs: 60_000 });
    await eventually(() => state.rangeHeld === 2, 'the server to hold the call');
    ac.abort();
    await assert.rejects(aborted, (e: unknown) => e instanceof EtcdError && e.code === 'canceled');
    await eventually(() => state.rangeCancelled === 2, 'the server to see both calls end');
  });
});
