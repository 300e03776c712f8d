import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpoint } from '../etcd/endpoint.ts';
import { EtcdError, type EtcdV3MemberClient } from '../etcd/types.ts';
import { silentLogger } from '../log.ts';
import { OptionsError, type MemberHandle } from './contract.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { EngineProbeKey } from './probe-key.ts';

const HEADER = { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 1n };

/** A lease store in memory: what the probe key asks of a member's client. */
class Leases {
  readonly calls: string[] = [];
  readonly keys = new Map<string, { value: string; lease: bigint }>();
  readonly alive = new Set<bigint>();
  #next = 100n;

  client(): EtcdV3MemberClient {
    const self = this;
    return {
      async leaseGrant(ttl: number) {
        self.calls.push(`grant ${ttl}`);
        const id = self.#next++;
        self.alive.add(id);
        return { header: HEADER, id, ttlSeconds: ttl };
      },
      async leaseKeepAliveOnce(id: bigint) {
        self.calls.push(`keepalive ${id}`);
        return { header: HEADER, id, ttlSeconds: self.alive.has(id) ? 30 : 0 };
      },
      async leaseRevoke(id: bigint) {
        self.calls.push(`revoke ${id}`);
        if (!self.alive.delete(id))
          throw new EtcdError('not_found', 'm', 'LeaseRevoke', 'requested lease not found');
        for (const [k, v] of self.keys) if (v.lease === id) self.keys.delete(k);
        return HEADER;
      },
      async put(key: Buffer | string, value: Buffer | string, opts?: { lease?: bigint }) {
        const lease = opts?.lease ?? 0n;
        self.calls.push(`put ${String(key)}`);
        if (!self.alive.has(lease))
          throw new EtcdError('not_found', 'm', 'Put', 'etcdserver: requested lease not found');
        self.keys.set(String(key), { value: String(value), lease });
        return HEADER;
      },
    } as unknown as EtcdV3MemberClient;
  }
}

const member: MemberHandle = {
  snapshot: {
    id: 2n,
    name: 'm0',
    endpoint: '127.0.0.1:2379',
    clientURLs: [],
    peerURLs: [],
    role: 'leader',
    memberErrors: [],
  },
  endpoint: parseEndpoint('http://127.0.0.1:2379'),
  v3: () => {
    throw new Error('not used');
  },
  http: () => {
    throw new Error('not used');
  },
  v2: () => {
    throw new Error('not used');
  },
};

function probeKey(
  leases: Leases,
  ttlSeconds = 30,
  clock = new FakeClock(),
): { key: EngineProbeKey; closed: EngineProbeKey[] } {
  const closed: EngineProbeKey[] = [];
  const client = leases.client();
  const key = new EngineProbeKey(
    { prefix: '/probe/', ttlSeconds },
    {
      clusterId: 'c',
      logger: silentLogger(),
      clientOf: () => client,
      leaseMembers: () => [member],
      onClose: (k) => closed.push(k),
      clock,
    },
  );
  return { key, closed };
}

describe('EngineProbeKey', () => {
  test('a key of its own under the prefix; no write before the lease; writes under it', async () => {
    const leases = new Leases();
    const { key } = probeKey(leases);
    assert.match(key.key, /^\/probe\/[0-9a-f]{16}$/);
    assert.notEqual(probeKey(leases).key.key, key.key, 'each key its own name');
    const signal = new AbortController().signal;
    await assert.rejects(key.write(member, 'v', signal), /has no lease yet/);
    await key.keepAlive(signal);
    await key.write(member, 'v1', signal);
    assert.deepEqual(leases.keys.get(key.key), { value: 'v1', lease: 100n });
    await assert.rejects(key.write(member, 'x'.repeat(257), signal), /longer than 256 bytes/);
  });

  test('renewed once a third of the TTL has passed, granted again once expired', async () => {
    const leases = new Leases();
    const clock = new FakeClock();
    const { key } = probeKey(leases, 3, clock);
    const signal = new AbortController().signal;
    await key.keepAlive(signal);
    await clock.advance(999);
    await key.keepAlive(signal); // within a third of 3 s: nothing sent
    assert.deepEqual(leases.calls, ['grant 3']);
    await clock.advance(1);
    await key.keepAlive(signal);
    assert.deepEqual(leases.calls, ['grant 3', 'keepalive 100']);
    leases.alive.delete(100n); // expired meanwhile
    await clock.advance(1000);
    await key.keepAlive(signal);
    assert.deepEqual(leases.calls.slice(2), ['keepalive 100', 'grant 3']);
    await key.write(member, 'v', signal);
    assert.equal(leases.keys.get(key.key)?.lease, 101n);
  });

  test('a write refused for a lost lease forces a renewal at the next keepAlive', async () => {
    const leases = new Leases();
    const { key } = probeKey(leases);
    const signal = new AbortController().signal;
    await key.keepAlive(signal);
    leases.alive.delete(100n);
    await assert.rejects(key.write(member, 'v', signal), /lease not found/);
    await key.keepAlive(signal);
    assert.deepEqual(leases.calls.slice(-2), ['keepalive 100', 'grant 30']);
  });

  test('close revokes the lease (the key goes with it), once; nothing after close', async () => {
    const leases = new Leases();
    const { key, closed } = probeKey(leases);
    const signal = new AbortController().signal;
    await key.keepAlive(signal);
    await key.write(member, 'v', signal);
    await key.close();
    await key.close();
    assert.equal(leases.keys.size, 0);
    assert.deepEqual(
      leases.calls.filter((c) => c.startsWith('revoke')),
      ['revoke 100'],
    );
    assert.deepEqual(closed, [key]);
    await assert.rejects(key.keepAlive(signal), /is closed/);
  });

  test('a bad prefix or TTL is refused', () => {
    const deps = {
      clusterId: 'c',
      logger: silentLogger(),
      clientOf: () => new Leases().client(),
      leaseMembers: () => [member],
      onClose: () => {},
    };
    assert.throws(() => new EngineProbeKey({ prefix: 'probe', ttlSeconds: 30 }, deps), OptionsError);
    assert.throws(() => new EngineProbeKey({ prefix: '/probe/', ttlSeconds: 1 }, deps), /lease TTL/);
  });
});
