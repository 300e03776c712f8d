/**
 * The gRPC transport (src/etcd/v3/transport.ts) on its own, against real
 * etcd 3.4 and 3.6 (plain and TLS with client certificates): framing, status
 * from trailers and from trailers-only answers, deadlines, cancellation,
 * answers larger than grpc's usual 4 MiB limit, connection states, the dial
 * timeout and close().
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdMethods } from '../../src/etcd/v3/codec.ts';
import {
  GrpcChannel,
  GrpcStatusError,
  MessageReader,
  frameMessage,
  unansweredDialText,
  type ChannelOptions,
  type ChannelState,
  type GrpcCall,
} from '../../src/etcd/v3/transport.ts';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { closedPort, settlesWithin, silentServer } from './helpers.ts';

const methods = etcdMethods();

function channelFor(url: string, extra: Partial<ChannelOptions> = {}): GrpcChannel {
  const u = new URL(url);
  return new GrpcChannel({
    host: u.hostname,
    port: Number(u.port),
    dialTimeoutMs: 2_000,
    keepaliveTimeMs: 5_000,
    keepaliveTimeoutMs: 10_000,
    initialBackoffMs: 200,
    maxBackoffMs: 1_000,
    ...extra,
  });
}

/** Waits (bounded) until the channel is READY or failed; returns the state. */
async function connected(channel: GrpcChannel): Promise<ChannelState> {
  return eventually(() => {
    const s = channel.getState(true);
    return s === 'READY' || s === 'TRANSIENT_FAILURE' ? s : undefined;
  }, 'the channel to connect or fail');
}

async function statusOf(p: Promise<unknown>): Promise<GrpcStatusError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof GrpcStatusError, String(err));
    return err;
  }
  assert.fail('expected a gRPC status error');
}

/** Reads a call's messages until it ends; a status error propagates. */
async function untilEnd(call: GrpcCall): Promise<void> {
  while ((await call.next()) !== undefined) {}
}

async function firstMessage(call: GrpcCall): Promise<Buffer> {
  const m = await call.next();
  assert.ok(m !== undefined, 'a message');
  return m;
}

describe('message framing', () => {
  it('reads messages split and joined across chunks, of any size', () => {
    const big = Buffer.alloc(5 << 20, 7);
    const bytes = Buffer.concat([
      frameMessage(Buffer.from('ab')),
      frameMessage(big),
      frameMessage(Buffer.alloc(0)),
    ]);
    const reader = new MessageReader();
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 65_536) out.push(...reader.push(bytes.subarray(i, i + 65_536)));
    assert.deepEqual(
      out.map((m) => m.length),
      [2, big.length, 0],
    );
    assert.equal(out[0]?.toString(), 'ab');
    assert.ok(out[1]?.equals(big));
    assert.equal(reader.pending, 0);
  });

  it('refuses a compressed message (none was asked for)', () => {
    const frame = frameMessage(Buffer.from('x'));
    frame[0] = 1;
    assert.throws(() => new MessageReader().push(frame), /compressed/);
  });
});

for (const variant of [
  { version: '3.4', tls: false },
  { version: '3.6', tls: false },
  { version: '3.6', tls: true },
] as const) {
  describe(`gRPC transport on etcd ${variant.version}${variant.tls ? ' with TLS' : ''}`, () => {
    let cluster: TestCluster;
    let channel: GrpcChannel;
    const tlsOf = (): ChannelOptions['tls'] =>
      cluster.tls === undefined
        ? undefined
        : { ca: cluster.tls.ca, cert: cluster.tls.cert, key: cluster.tls.key };

    before(async () => {
      cluster = await startEtcdCluster({
        version: variant.version,
        members: 1,
        tls: variant.tls,
        name: `grpct${variant.version.replace('.', '')}${variant.tls ? 's' : ''}`,
      });
      channel = channelFor(cluster.endpoints[0]!, { tls: tlsOf() });
    });

    after(async () => {
      channel?.close();
      await cluster?.stop();
    });

    it('connects, makes unary calls and decodes their answers', async () => {
      assert.equal(channel.state, 'IDLE', 'no connection before a call needs one');
      assert.equal(await connected(channel), 'READY', channel.lastError);
      const m = methods.put;
      await channel.unary(
        m.path,
        m.requestSerialize({ key: Buffer.from('/t/a'), value: Buffer.from('1') }),
        {},
        Date.now() + 5_000,
      );
      const raw = await channel.unary(
        methods.range.path,
        methods.range.requestSerialize({ key: Buffer.from('/t/a') }),
        {},
        Date.now() + 5_000,
      );
      const answer = methods.range.responseDeserialize(raw) as { kvs: { value: Buffer }[] };
      assert.equal(answer.kvs[0]?.value.toString(), '1');
    });

    it('answers far larger than 4 MiB are read whole', async () => {
      const value = Buffer.alloc(1 << 20, 'v');
      for (let i = 0; i < 6; i++) {
        await channel.unary(
          methods.put.path,
          methods.put.requestSerialize({ key: Buffer.from(`/big/${i}`), value }),
          {},
          Date.now() + 10_000,
        );
      }
      const raw = await channel.unary(
        methods.range.path,
        methods.range.requestSerialize({ key: Buffer.from('/big/'), range_end: Buffer.from('/big0') }),
        {},
        Date.now() + 10_000,
      );
      assert.ok(raw.length > 6 << 20, `${raw.length} bytes`);
      const answer = methods.range.responseDeserialize(raw) as { kvs: unknown[] };
      assert.equal(answer.kvs.length, 6);
    });

    it("etcd's errors arrive as statuses with their message (trailers-only answers too)", async () => {
      // A revision far in the future: OUT_OF_RANGE with etcd's text.
      const future = await statusOf(
        channel.unary(
          methods.range.path,
          methods.range.requestSerialize({ key: Buffer.from('a'), revision: '1000000' }),
          {},
          Date.now() + 5_000,
        ),
      );
      assert.equal(future.code, 11);
      assert.match(future.details, /future revision/);
      const unknown = await statusOf(
        channel.unary('/etcdserverpb.KV/NoSuchMethod', Buffer.alloc(0), {}, Date.now() + 5_000),
      );
      assert.equal(unknown.code, 12, unknown.details);
    });

    it('a bidi stream delivers messages until cancelled; a deadline ends it as DEADLINE_EXCEEDED', async () => {
      const watch = channel.call(methods.watch.path, {}, undefined);
      watch.write(methods.watch.requestSerialize({ create_request: { key: Buffer.from('/w/a') } }));
      const created = methods.watch.responseDeserialize(await firstMessage(watch)) as { created: boolean };
      assert.equal(created.created, true);
      await channel.unary(
        methods.put.path,
        methods.put.requestSerialize({ key: Buffer.from('/w/a'), value: Buffer.from('x') }),
        {},
        Date.now() + 5_000,
      );
      const event = methods.watch.responseDeserialize(await firstMessage(watch)) as { events: unknown[] };
      assert.equal(event.events.length, 1);
      watch.cancel();
      assert.equal((await statusOf(watch.next())).code, 1);

      const bounded = channel.call(methods.watch.path, {}, Date.now() + 300);
      bounded.write(methods.watch.requestSerialize({ create_request: { key: Buffer.from('/w/b') } }));
      // On a loaded machine the deadline may pass before etcd's "created" answer arrives: read
      // whatever comes; the stream must end with DEADLINE_EXCEEDED, never quietly.
      assert.equal((await statusOf(untilEnd(bounded))).code, 4);
    });

    it('an aborted unary call ends as CANCELLED', async () => {
      const ac = new AbortController();
      ac.abort();
      const e = await statusOf(
        channel.unary(
          methods.range.path,
          methods.range.requestSerialize({ key: Buffer.from('a') }),
          {},
          Date.now() + 5_000,
          ac.signal,
        ),
      );
      assert.equal(e.code, 1);
    });

    it('a stopped member: the channel leaves READY, calls fail UNAVAILABLE, and it reconnects when the member is back', async () => {
      assert.equal(await connected(channel), 'READY');
      const states: ChannelState[] = [];
      const off = channel.onStateChange((s) => states.push(s));
      await cluster.stopMember(0);
      await eventually(() => states.length > 0, 'the channel to leave READY');
      assert.equal(await connected(channel), 'TRANSIENT_FAILURE');
      const e = await statusOf(
        channel.unary(
          methods.range.path,
          methods.range.requestSerialize({ key: Buffer.from('a') }),
          {},
          Date.now() + 5_000,
        ),
      );
      assert.equal(e.code, 14);
      assert.match(e.details, /ECONNREFUSED/);
      await cluster.startMember(0);
      await eventually(
        () => channel.getState(true) === 'READY',
        'the channel to reconnect (backoff capped at 1 s)',
      );
      off();
    });

    if (variant.tls) {
      it('verifies the server: a wrong CA or name fails, a missing client certificate is refused', async () => {
        const tls = cluster.tls!;
        const cases: [string, ChannelOptions['tls']][] = [
          ['wrong CA', { ca: tls.otherCa, cert: tls.cert, key: tls.key }],
          ['wrong name', { ca: tls.ca, cert: tls.cert, key: tls.key, serverName: 'not-in-the-cert.example' }],
          ['no client certificate', { ca: tls.ca }],
        ];
        for (const [name, t] of cases) {
          const c = channelFor(cluster.endpoints[0]!, { tls: t });
          try {
            assert.equal(await connected(c), 'TRANSIENT_FAILURE', name);
            assert.match(c.lastError, /certificate|altnames|alert/i, name);
          } finally {
            c.close();
          }
        }
        const insecure = channelFor(cluster.endpoints[0]!, {
          tls: { cert: tls.cert, key: tls.key, insecureSkipVerify: true },
        });
        try {
          assert.equal(await connected(insecure), 'READY', insecure.lastError);
        } finally {
          insecure.close();
        }
      });
    }
  });
}

describe('gRPC transport: connections that never work', () => {
  it('a refused connection fails at once; a member that accepts and never answers fails at the dial timeout', async () => {
    const refused = channelFor(`http://127.0.0.1:${await closedPort()}`);
    const silent = await silentServer();
    // No new attempt during the checks below (the backoff is long).
    const slow = { dialTimeoutMs: 500, initialBackoffMs: 60_000, maxBackoffMs: 60_000 };
    const hanging = channelFor(`http://127.0.0.1:${silent.port}`, slow);
    const hangingTls = channelFor(`https://127.0.0.1:${silent.port}`, { ...slow, tls: {} });
    try {
      assert.equal(await connected(refused), 'TRANSIENT_FAILURE');
      assert.match(refused.lastError, /ECONNREFUSED/);
      for (const c of [hanging, hangingTls]) {
        assert.equal(await connected(c), 'TRANSIENT_FAILURE');
        assert.equal(c.lastError, unansweredDialText(500));
        assert.equal(c.openConnections, 0, 'the unanswered connection was destroyed');
      }
      // After the backoff the channel tries again by itself.
      const states: ChannelState[] = [];
      refused.onStateChange((s) => states.push(s));
      await eventually(() => states.includes('CONNECTING'), 'a new attempt after the backoff');
    } finally {
      refused.close();
      hanging.close();
      hangingTls.close();
      await silent.close();
    }
  });

  it('close() ends calls waiting on the connection and leaves nothing open', async () => {
    const silent = await silentServer();
    const c = channelFor(`http://127.0.0.1:${silent.port}`, { dialTimeoutMs: 60_000 });
    try {
      assert.equal(c.getState(true), 'CONNECTING');
      await eventually(() => c.openConnections === 1, 'the attempt to be open');
      c.close();
      assert.equal(c.state, 'SHUTDOWN');
      assert.equal(c.openConnections, 0);
      const e = await statusOf(c.unary('/x/y', Buffer.alloc(0), {}, Date.now() + 1_000));
      assert.equal(e.code, 1);
    } finally {
      c.close();
      await silent.close();
    }
  });
});

describe('gRPC transport: keepalive', () => {
  it('a member frozen under an open stream: the unanswered ping ends the connection and the stream', async () => {
    await using cluster = await startEtcdCluster({ version: '3.6', members: 1, name: 'grpctka' });
    // Pings every second while a call is open (faster than etcd allows for long, but the member is frozen).
    const channel = channelFor(cluster.endpoints[0]!, { keepaliveTimeMs: 1_000, keepaliveTimeoutMs: 1_000 });
    try {
      assert.equal(await connected(channel), 'READY');
      const watch = channel.call(methods.watch.path, {}, undefined);
      watch.write(methods.watch.requestSerialize({ create_request: { key: Buffer.from('/ka') } }));
      await firstMessage(watch);
      const states: ChannelState[] = [];
      channel.onStateChange((s) => states.push(s));
      await cluster.pauseMember(0);
      try {
        // Without keepalive nothing would end it (a frozen member keeps its TCP connection): a hang guard only.
        const e = await statusOf(settlesWithin(watch.next(), 60_000, 'the watch on a frozen member'));
        assert.equal(e.code, 14, e.message);
        await eventually(
          () =>
            /keepalive ping not acknowledged within 1000 ms/.test(channel.lastError) &&
            states.includes('IDLE'),
          'the channel to leave READY, saying why',
        );
      } finally {
        cluster.resumeMember(0);
      }
    } finally {
      channel.close();
    }
  });
});
