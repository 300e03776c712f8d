import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REQUEST_METRICS, requestOutcome, type RequestDetails } from './report.ts';

const counting: RequestDetails = {
  state: 'counting',
  ready: false,
  member: '127.0.0.1:2379',
  clusterRevision: 50n,
  processedRevision: 0n,
  lagRevisions: 50n,
  lagSeconds: 0,
  eventsProcessed: 0,
  eventsPerSecond: 0,
  duplicatesSkipped: 0,
  watchRestarts: 0,
  recounts: 0,
  recountGapRevisions: 0n,
  countingKeys: 12,
  resourceNames: 0,
  maxResourceNames: 100,
  overflowed: false,
  lastError: null,
  prefixes: [
    {
      prefix: '/registry/',
      etcdPrefix: 'registry',
      phase: 'uncounted',
      stream: 'counting',
      watching: false,
      keys: 0,
      countRevision: 0n,
      processedRevision: 0n,
    },
  ],
  resources: [],
  sizes: null,
};

const watching: RequestDetails = {
  ...counting,
  state: 'watching',
  ready: true,
  processedRevision: 50n,
  lagRevisions: 0n,
  eventsProcessed: 3,
  eventsPerSecond: 1.5,
  countingKeys: 0,
  prefixes: [{ ...counting.prefixes[0]!, phase: 'counted', stream: 'watching', watching: true, keys: 7 }],
  resources: [{ etcdPrefix: 'registry', resourceName: 'pods', keys: 7, puts: 2, deletes: 1 }],
};

test('before the initial count: only ready and watch_up, and the progress of the count', () => {
  const outcome = requestOutcome(counting, false);
  assert.equal(outcome.ok, true);
  assert.equal(outcome.summary, 'initial key count in progress on 127.0.0.1:2379 (12 keys so far)');
  assert.deepEqual(outcome.metrics, [
    { name: REQUEST_METRICS.ready.name, labels: {}, value: 0 },
    { name: REQUEST_METRICS.watchUp.name, labels: {}, value: 0 },
  ]);
});

test('watching: the request and key series per resource, and the summary of the watch', () => {
  const outcome = requestOutcome(watching, false);
  assert.equal(
    outcome.summary,
    'watching on 127.0.0.1:2379 at revision 50 (lag 0 revisions, 0.0 s): 7 keys in 1 resources, 1.5 events/s',
  );
  const series = new Map(outcome.metrics.map((m) => [`${m.name}${JSON.stringify(m.labels)}`, m.value]));
  assert.equal(
    series.get(
      `${REQUEST_METRICS.requests.name}{"grpcMethod":"PUT","etcdPrefix":"registry","resourceName":"pods"}`,
    ),
    2,
  );
  assert.equal(
    series.get(
      `${REQUEST_METRICS.requests.name}{"grpcMethod":"DELETE","etcdPrefix":"registry","resourceName":"pods"}`,
    ),
    1,
  );
  assert.equal(series.get(`${REQUEST_METRICS.keys.name}{"etcdPrefix":"registry","resourceName":"pods"}`), 7);
  assert.equal(series.get(`${REQUEST_METRICS.watchUp.name}{}`), 1);
});

test('a watch down for a whole interval fails the round with its last error', () => {
  const outcome = requestOutcome({ ...watching, lastError: 'connection refused' }, true);
  assert.equal(outcome.ok, false);
  assert.equal(outcome.error, 'watch down: connection refused');
  assert.match(outcome.summary, /; watch down: connection refused$/);
});

test('with sizes: bytes, average and largest per resource, and whether the sizes are exact', () => {
  const outcome = requestOutcome(
    {
      ...watching,
      resources: [
        {
          etcdPrefix: 'registry',
          resourceName: 'pods',
          keys: 7,
          puts: 2,
          deletes: 1,
          bytes: 7000,
          averageBytes: 1000,
          largest: { key: '/registry/pods/a/big', bytes: 3000 },
        },
        {
          etcdPrefix: 'registry',
          resourceName: 'secrets',
          keys: 2,
          puts: 0,
          deletes: 0,
          bytes: 2048,
          averageBytes: 1024,
          largest: null,
        },
      ],
      sizes: {
        scanBytesPerSecond: 1 << 20,
        scanningBytes: 0,
        complete: false,
        rescans: 1,
        totalBytes: 9048,
        topKeys: [],
        topKeysExact: false,
      },
    },
    false,
  );
  assert.match(
    outcome.summary,
    /: 7 keys in 2 resources, 8.8 KiB \(largest resource pods: 6.8 KiB\), sizes re-scan due, /,
  );
  const series = new Map(outcome.metrics.map((m) => [`${m.name}${JSON.stringify(m.labels)}`, m.value]));
  const pods = '{"etcdPrefix":"registry","resourceName":"pods"}';
  const secrets = '{"etcdPrefix":"registry","resourceName":"secrets"}';
  assert.equal(series.get(`${REQUEST_METRICS.resourceBytes.name}${pods}`), 7000);
  assert.equal(series.get(`${REQUEST_METRICS.resourceAverage.name}${pods}`), 1000);
  assert.equal(series.get(`${REQUEST_METRICS.resourceLargest.name}${pods}`), 3000);
  assert.equal(series.get(`${REQUEST_METRICS.resourceLargest.name}${secrets}`), undefined, 'unknown: absent');
  assert.equal(series.get(`${REQUEST_METRICS.sizesComplete.name}{}`), 0);
  assert.equal(series.get(`${REQUEST_METRICS.sizeRescans.name}{}`), 1);
});
