import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterSnapshot, MemberSnapshot } from '../engine/snapshot.ts';
import { ImportedProvider, importedStatus } from './imported.ts';
import { ProviderRegistry } from './provider.ts';
import type { ProviderCluster } from './provider.ts';
import { parseEndpoint } from '../etcd/endpoint.ts';
import { Secret } from '../etcd/secret.ts';

function member(i: number, extra: Partial<MemberSnapshot> = {}): MemberSnapshot {
  return {
    id: 0xa0n + BigInt(i),
    name: `m${i}`,
    endpoint: `10.0.0.${i}:2379`,
    clientURLs: [`https://10.0.0.${i}:2379`],
    peerURLs: [],
    role: i === 0 ? 'leader' : 'follower',
    version: '3.6.16',
    dbSize: 20480n,
    memberErrors: [],
    ...extra,
  };
}

function snapshot(
  members: MemberSnapshot[],
  extra: { error?: string; leaderId?: bigint } = {},
): ClusterSnapshot {
  return {
    id: 'ns/a',
    name: 'a',
    labels: { namespace: 'ns' },
    endpoints: ['https://10.0.0.0:2379'],
    storageBackend: 'v3',
    configErrors: [],
    features: {},
    members: {
      checkedAt: new Date('2025-01-01T00:00:00Z'),
      members,
      leaderId: extra.leaderId ?? 0xa0n,
      ...(extra.error !== undefined && { error: extra.error }),
    },
  };
}

describe('imported provider status', () => {
  it('is Pending until membership was read', () => {
    const s = importedStatus(undefined);
    assert.equal(s.phase, 'Pending');
    assert.equal(s.ready.status, 'Unknown');
    assert.deepEqual(s.members, []);
    assert.equal(s.membersReady, undefined);
  });

  it('Running with every member healthy: hex IDs, the leader by name, the lowest version', () => {
    const s = importedStatus(
      snapshot([member(2, { version: '3.6.9' }), member(0, { version: '3.6.10' }), member(1)]),
    );
    assert.equal(s.phase, 'Running');
    assert.deepEqual(
      s.members.map((m) => [m.id, m.name, m.healthy]),
      [
        ['a0', 'm0', true],
        ['a1', 'm1', true],
        ['a2', 'm2', true],
      ],
    );
    assert.deepEqual(s.members[0], {
      id: 'a0',
      name: 'm0',
      endpoint: '10.0.0.0:2379',
      clientURLs: ['https://10.0.0.0:2379'],
      version: '3.6.10',
      role: 'leader',
      healthy: true,
      dbSize: 20480,
    });
    assert.equal(s.membersReady, '3/3');
    assert.equal(s.leader, 'm0');
    assert.equal(s.version, '3.6.9', '3.6.9 sorts before 3.6.10');
    assert.deepEqual(s.ready, {
      status: 'True',
      reason: 'MembersDiscovered',
      message: '3 member(s), leader m0',
    });
    assert.equal(s.membersHealth.status, 'True');
  });

  it('Degraded when a member does not answer or reports an error, with the reasons', () => {
    const { version: _v, ...noStatus } = member(1);
    const s = importedStatus(
      snapshot([
        member(0),
        { ...noStatus, role: 'unknown', error: 'Status on 10.0.0.1:2379: connection refused' },
        member(2, { memberErrors: ['NOSPACE'] }),
      ]),
    );
    assert.equal(s.phase, 'Degraded');
    assert.equal(s.membersReady, '1/3');
    assert.deepEqual(s.members[1]?.errors, ['Status on 10.0.0.1:2379: connection refused']);
    assert.deepEqual(s.members[2]?.errors, ['NOSPACE']);
    assert.equal(s.membersHealth.status, 'False');
    assert.match(
      s.membersHealth.message,
      /^1\/3 members healthy; m1: Status on 10\.0\.0\.1:2379: connection refused; m2: NOSPACE$/,
    );
  });

  it('Unavailable when the member list cannot be read; members without an ID are left out', () => {
    const { id: _id, ...unknownId } = member(0);
    const s = importedStatus(
      snapshot([{ ...unknownId, id: undefined, error: 'refused' }], {
        error: 'no endpoint answered MemberList: refused',
      }),
    );
    assert.equal(s.phase, 'Unavailable');
    assert.deepEqual(s.members, []);
    assert.deepEqual(s.ready, {
      status: 'False',
      reason: 'MembershipUnavailable',
      message: 'no endpoint answered MemberList: refused',
    });
  });

  it('equal compares endpoints, credentials (by value) and the membership schedule', () => {
    const p = new ImportedProvider();
    const cluster = (password: string, interval = 30): ProviderCluster =>
      ({
        cluster: { clusterType: 'imported' },
        spec: {
          id: 'ns/a',
          name: 'a',
          endpoints: [parseEndpoint('https://10.0.0.1:2379')],
          storageBackend: 'v3',
          discoverMembers: true,
          features: {},
          client: {
            dialTimeoutMs: 5000,
            requestTimeoutMs: 5000,
            auth: { username: 'u', password: new Secret(password) },
          },
          membersIntervalSeconds: interval,
        },
      }) as unknown as ProviderCluster;
    assert.equal(p.equal(cluster('a'), cluster('a')), true);
    assert.equal(p.equal(cluster('a'), cluster('b')), false, 'a rotated password is a change');
    assert.equal(p.equal(cluster('a'), cluster('a', 10)), false);
  });
});

describe('provider registry', () => {
  it('builds each provider once, knows its types, refuses duplicates and bad names', () => {
    const r = new ProviderRegistry();
    let built = 0;
    r.register('imported', () => {
      built++;
      return new ImportedProvider();
    });
    assert.deepEqual(r.names(), ['imported']);
    assert.equal(r.get('imported'), r.get('imported'));
    assert.equal(built, 1);
    assert.equal(r.find('kubeadm'), undefined);
    assert.throws(() => r.get('kubeadm'), /unknown cluster provider "kubeadm" \(known: imported\)/);
    assert.throws(() => r.register('imported', () => new ImportedProvider()), /already registered/);
    assert.throws(
      () => r.register('Bad Name', () => new ImportedProvider()),
      /invalid cluster provider name/,
    );
    r.register('other', () => new ImportedProvider());
    assert.throws(() => r.get('other'), /cluster provider factory "other" built "imported"/);
  });
});
