import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as protoLoader from '@grpc/proto-loader';
import {
  alarmTypeOf,
  alarmTypeToWire,
  decodeAlarms,
  decodeHashKV,
  decodeMemberList,
  decodeRange,
  decodeStatus,
  decodeWatchResponse,
  DecodeError,
  etcdMethods,
  type MethodDef,
} from './codec.ts';
import { rangeRequest } from './client.ts';
import { DESCRIPTOR_FILE, descriptorFromProtos, PROTO_DIR } from './descriptor.ts';

/** What the client would decode if etcd answered `value` (a real protobuf round trip). */
function wire(method: MethodDef, value: object): unknown {
  return method.responseDeserialize(method.responseSerialize(value));
}

const MAX_U64 = '18446744073709551615';

describe('etcd v3 codec', () => {
  const m = etcdMethods();

  it('loads a descriptor that matches the .proto files (run `npm run gen:protos` after editing them)', () => {
    // Compared as data: Biome formats the checked-in file.
    assert.deepEqual(JSON.parse(readFileSync(DESCRIPTOR_FILE, 'utf8')), JSON.parse(descriptorFromProtos()));
  });

  it('encodes as the .proto files parsed at run time do', () => {
    const parsed = protoLoader.loadSync('etcd.proto', {
      includeDirs: [PROTO_DIR],
      keepCase: true,
      longs: String,
    });
    const range = (parsed['etcdserverpb.KV'] as Record<string, { responseSerialize: (v: object) => Buffer }>)[
      'Range'
    ]!;
    const response = {
      header: { cluster_id: MAX_U64, member_id: '7', revision: '42', raft_term: '3' },
      kvs: [
        {
          key: Buffer.from('k'),
          create_revision: '1',
          mod_revision: '2',
          version: '3',
          value: Buffer.from('v'),
        },
      ],
      more: true,
      count: '1',
    };
    assert.deepEqual(m.range.responseSerialize(response), range.responseSerialize(response));
    assert.ok(m.range.responseSerialize(response).length > 30, 'every field was encoded');
    // ... and decodes as proto-loader does with the same options (64-bit as strings, bytes as Buffers).
    const loaderOptions = {
      keepCase: true,
      longs: String,
      enums: String,
      bytes: Buffer,
      defaults: true,
      oneofs: true,
    };
    const loader = protoLoader.loadSync('etcd.proto', { includeDirs: [PROTO_DIR], ...loaderOptions });
    const loaderRange = (loader['etcdserverpb.KV'] as Record<string, MethodDef>)['Range']!;
    const bytes = range.responseSerialize(response);
    assert.deepEqual(m.range.responseDeserialize(bytes), loaderRange.responseDeserialize(bytes));
    const status = (loader['etcdserverpb.Maintenance'] as Record<string, MethodDef>)['Status']!;
    const statusBytes = status.responseSerialize({
      header: { member_id: MAX_U64 },
      leader: '1',
      errors: ['x'],
    });
    assert.deepEqual(m.status.responseDeserialize(statusBytes), status.responseDeserialize(statusBytes));
  });

  it('keeps every 64-bit field exact as bigint', () => {
    const r = decodeStatus(
      wire(m.status, {
        header: {
          cluster_id: MAX_U64,
          member_id: '9007199254740993',
          revision: '9223372036854775807',
          raft_term: '3',
        },
        version: '3.6.16',
        dbSize: '123456789012345',
        leader: MAX_U64,
        raftIndex: '9007199254740995',
        raftTerm: '3',
        raftAppliedIndex: '9007199254740994',
        errors: ['memberID:1 alarm:NOSPACE '],
        dbSizeInUse: '1',
        isLearner: true,
        storageVersion: '3.6.0',
        dbSizeQuota: '2147483648',
      }),
    );
    assert.equal(r.header.clusterId, 18446744073709551615n);
    assert.equal(r.header.memberId, 9007199254740993n);
    assert.equal(r.header.revision, 9223372036854775807n);
    assert.equal(r.leader, 18446744073709551615n);
    assert.equal(r.raftIndex, 9007199254740995n);
    assert.equal(r.raftAppliedIndex, 9007199254740994n);
    assert.equal(r.dbSize, 123456789012345n);
    assert.equal(r.dbSizeQuota, 2147483648n);
    assert.equal(r.storageVersion, '3.6.0');
    assert.equal(r.isLearner, true);
    assert.deepEqual(r.errors, ['memberID:1 alarm:NOSPACE ']);
  });

  it('gives 0 and empty for fields an older server does not send', () => {
    const r = decodeStatus(wire(m.status, { header: { member_id: '1' }, version: '3.4.23' }));
    assert.equal(r.dbSizeQuota, 0n);
    assert.equal(r.storageVersion, '');
    assert.equal(r.raftAppliedIndex, 0n);
    assert.deepEqual(r.errors, []);
    const h = decodeHashKV(wire(m.hashKV, { header: {}, hash: 4294967295, compact_revision: '-1' }));
    assert.equal(h.hash, 4294967295);
    assert.equal(h.compactRevision, -1n);
    assert.equal(h.hashRevision, 0n);
  });

  it('decodes members, learners and members not started yet', () => {
    const r = decodeMemberList(
      wire(m.memberList, {
        header: { cluster_id: '1' },
        members: [
          { ID: MAX_U64, name: 'a', peerURLs: ['http://p:2380'], clientURLs: ['http://c:2379'] },
          { ID: '2', peerURLs: ['http://q:2380'], isLearner: true },
        ],
      }),
    );
    assert.equal(r.members.length, 2);
    assert.equal(r.members[0]?.id, 18446744073709551615n);
    assert.deepEqual(r.members[1], {
      id: 2n,
      name: '',
      peerURLs: ['http://q:2380'],
      clientURLs: [],
      isLearner: true,
    });
  });

  it('keeps cluster-wide alarms (member 0) and unknown alarm types', () => {
    const alarms = decodeAlarms(
      wire(m.alarm, {
        alarms: [
          { memberID: '0', alarm: 'CORRUPT' },
          { memberID: '5', alarm: 'NOSPACE' },
          { memberID: '6', alarm: 7 },
        ],
      }),
    );
    assert.deepEqual(alarms, [
      { memberId: 0n, alarm: 'CORRUPT' },
      { memberId: 5n, alarm: 'NOSPACE' },
      { memberId: 6n, alarm: 'UNKNOWN_7' },
    ]);
    assert.equal(alarmTypeOf('NONE'), 'UNKNOWN_0');
    assert.equal(alarmTypeToWire('UNKNOWN_7'), 7);
    assert.equal(alarmTypeToWire('CORRUPT'), 'CORRUPT');
  });

  it('decodes ranges with binary keys', () => {
    const key = Buffer.from([0, 0xff, 0x41]);
    const r = decodeRange(
      wire(m.range, {
        header: { revision: '10' },
        kvs: [
          {
            key,
            value: Buffer.from('v'),
            create_revision: '2',
            mod_revision: '9',
            version: '4',
            lease: '7587886396186537733',
          },
        ],
        more: true,
        count: '3',
      }),
    );
    assert.deepEqual(r.kvs[0]?.key, key);
    assert.equal(r.kvs[0]?.lease, 7587886396186537733n);
    assert.equal(r.more, true);
    assert.equal(r.count, 3n);
  });

  it('encodes range requests with 64-bit values as decimal strings', () => {
    const req = rangeRequest({
      key: 'a',
      rangeEnd: Buffer.from('b'),
      limit: 10,
      revision: 9223372036854775807n,
      serializable: true,
      countOnly: true,
    });
    const back = m.range.requestSerialize(req);
    assert.ok(back.length > 0);
    assert.deepEqual(req, {
      key: Buffer.from('a'),
      range_end: Buffer.from('b'),
      limit: '10',
      revision: '9223372036854775807',
      serializable: true,
      keys_only: false,
      count_only: true,
    });
  });

  it('classifies watch responses', () => {
    const w = (v: object) => decodeWatchResponse(wire(m.watch, v)).messages;
    assert.deepEqual(w({ header: { revision: '5' }, created: true }), [
      { kind: 'created', header: { clusterId: 0n, memberId: 0n, revision: 5n, raftTerm: 0n } },
    ]);
    assert.deepEqual(
      w({ header: { revision: '6' } }).map((x) => x.kind),
      ['progress'],
    );
    const ev = w({
      header: { revision: '7' },
      events: [
        { type: 'PUT', kv: { key: Buffer.from('k'), value: Buffer.from('v'), mod_revision: '7' } },
        {
          type: 'DELETE',
          kv: { key: Buffer.from('k'), mod_revision: '8' },
          prev_kv: { key: Buffer.from('k'), value: Buffer.from('v') },
        },
      ],
    });
    assert.equal(ev.length, 1);
    const msg = ev[0];
    assert.ok(msg?.kind === 'events');
    assert.deepEqual(
      msg.events.map((e) => [e.type, e.kv.modRevision, e.prevKv?.value.toString()]),
      [
        ['PUT', 7n, undefined],
        ['DELETE', 8n, 'v'],
      ],
    );
    assert.deepEqual(w({ canceled: true, compact_revision: '4' }), [
      { kind: 'compacted', compactRevision: 4n },
    ]);
    assert.deepEqual(
      w({ created: true, canceled: true, cancel_reason: 'etcdserver: permission denied' }).map((x) => x.kind),
      ['created', 'canceled'],
    );
  });

  it('rejects answers that do not have the promised shape', () => {
    assert.throws(() => decodeRange(null), DecodeError);
    assert.throws(() => decodeRange({ header: null, kvs: 'x' }), DecodeError);
    assert.throws(() => decodeStatus({ header: { revision: 1.5 } }), DecodeError);
  });
});
