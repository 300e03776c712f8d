import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpositionError, parseExposition } from './exposition.ts';

// Lines as etcd 3.4/3.6 write them (client_golang text format 0.0.4).
const PAGE = [
  '# HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.',
  '# TYPE etcd_disk_wal_fsync_duration_seconds histogram',
  'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 2',
  'etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 6',
  'etcd_disk_wal_fsync_duration_seconds_sum 0.034653899999999994',
  'etcd_disk_wal_fsync_duration_seconds_count 6',
  'etcd_network_peer_round_trip_time_seconds_bucket{To="d9f3fc3e3e10e09",le="0.0001"} 1',
  'etcd_server_id{server_id="e8e3218f59bdc63a"} 1',
  'process_resident_memory_bytes 2.463744e+07',
  'go_gc_duration_seconds{quantile="0.5"} 3.1e-05',
  'etcd_server_go_version{server_go_version="go1.24.4"} 1',
  '',
].join('\n');

test('keeps only the families asked for, a histogram under its own name', () => {
  const families = parseExposition(PAGE, [
    'etcd_disk_wal_fsync_duration_seconds',
    'etcd_network_peer_round_trip_time_seconds',
    'etcd_server_id',
    'process_resident_memory_bytes',
    'absent_family',
  ]);
  assert.deepEqual([...families.keys()].sort(), [
    'etcd_disk_wal_fsync_duration_seconds',
    'etcd_network_peer_round_trip_time_seconds',
    'etcd_server_id',
    'process_resident_memory_bytes',
  ]);
  assert.deepEqual(families.get('etcd_disk_wal_fsync_duration_seconds'), [
    { name: 'etcd_disk_wal_fsync_duration_seconds_bucket', labels: { le: '0.001' }, value: 2 },
    { name: 'etcd_disk_wal_fsync_duration_seconds_bucket', labels: { le: '+Inf' }, value: 6 },
    { name: 'etcd_disk_wal_fsync_duration_seconds_sum', labels: {}, value: 0.034653899999999994 },
    { name: 'etcd_disk_wal_fsync_duration_seconds_count', labels: {}, value: 6 },
  ]);
  assert.equal(families.get('process_resident_memory_bytes')?.[0]?.value, 24_637_440);
  assert.equal(
    families.get('etcd_network_peer_round_trip_time_seconds')?.[0]?.labels['To'],
    'd9f3fc3e3e10e09',
  );
});

test('label values with escapes, spaces, special values and a timestamp', () => {
  const text = [
    'm{a="x\\"y",b="back\\\\slash",c="new\\nline" , d = "sp ace"} +Inf 1700000000000',
    'm{} NaN',
    'm -Inf',
    'm{e="1"}\t-2.5e-3',
    'm{__proto__="p"} 1\r',
  ].join('\n');
  const samples = parseExposition(text, ['m']).get('m') ?? [];
  assert.deepEqual(samples[0]?.labels, { a: 'x"y', b: 'back\\slash', c: 'new\nline', d: 'sp ace' });
  assert.equal(samples[0]?.value, Number.POSITIVE_INFINITY);
  assert.ok(Number.isNaN(samples[1]?.value));
  assert.equal(samples[2]?.value, Number.NEGATIVE_INFINITY);
  assert.equal(samples[3]?.value, -0.0025);
  assert.equal(Object.getPrototypeOf(samples[4]?.labels), Object.prototype);
  assert.equal(samples[4]?.labels['__proto__'], 'p');
});

test('a malformed line of a wanted family is an error naming the line; other families are not parsed', () => {
  const cases: [string, RegExp][] = [
    ['ok 1\nm{a="x} 1', /line 2: unterminated label value/],
    ['m{a=x} 1', /line 1: expected " at column 5/],
    ['m{a="x"', /line 1: expected , or \}/],
    ['m 12abc', /line 1: bad value "12abc"/],
    ['m', /line 1: expected a space before the value/],
    ['m{1a="x"} 1', /line 1: expected a label name/],
    ['m{a="\\q"} 1', /line 1: bad escape/],
    ['{a="x"} 1', /line 1: expected a metric name/],
  ];
  for (const [text, error] of cases) assert.throws(() => parseExposition(text, ['m']), error, text);
  for (const [text] of cases) assert.throws(() => parseExposition(text, ['m']), ExpositionError);
  // Garbage in families nobody asked for costs nothing and breaks nothing.
  assert.deepEqual(parseExposition('other{a="x} 1\nm 3', ['m']).get('m')?.[0]?.value, 3);
});
