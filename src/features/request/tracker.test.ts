import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WatchEvent } from '../../etcd/types.ts';
import { ResourceLabeler } from './labels.ts';
import { PrefixTracker, RequestCounters } from './tracker.ts';

function kv(key: string, createRevision: bigint, modRevision: bigint) {
  return {
    key: Buffer.from(key),
    value: Buffer.alloc(0),
    createRevision,
    modRevision,
    version: 1n,
    lease: 0n,
  };
}
const put = (key: string, rev: bigint, created = rev): WatchEvent => ({
  type: 'PUT',
  kv: kv(key, created, rev),
});
const del = (key: string, rev: bigint): WatchEvent => ({ type: 'DELETE', kv: kv(key, 0n, rev) });

function setup(prefix = '/registry'): {
  tracker: PrefixTracker;
  counters: RequestCounters;
  labeler: ResourceLabeler;
} {
  const labeler = new ResourceLabeler(100);
  return { tracker: new PrefixTracker(prefix, labeler), counters: new RequestCounters(), labeler };
}

/** A whole count of the prefix in one page at `revision`, finished: as after the first list. */
function countOnePage(tracker: PrefixTracker, revision: bigint, keys: string[] = []): void {
  const count = tracker.beginCount();
  count.addPage(
    revision,
    keys.map((k) => Buffer.from(k)),
  );
  tracker.finishCount(count);
}

function byName(tracker: PrefixTracker): Record<string, number> {
  return Object.fromEntries(
    [...tracker.keyCounts()].map(([s, n]) => [`${s.etcdPrefix}/${s.resourceName}`, n]),
  );
}
function requests(counters: RequestCounters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [s, n] of counters.puts) out[`PUT ${s.resourceName}`] = n;
  for (const [s, n] of counters.deletes) out[`DELETE ${s.resourceName}`] = n;
  return out;
}

test('prefix normalisation: a trailing "/" and the first segment as etcdPrefix', () => {
  const { tracker } = setup('/registry/pods');
  assert.equal(tracker.prefix, '/registry/pods/');
  assert.equal(tracker.etcdPrefix, 'registry');
  assert.equal(tracker.rangeEnd.toString(), '/registry/pods0');
  // Labels come from the key layout, not from the configured prefix.
  assert.equal(tracker.slotOf(Buffer.from('/registry/pods/ns/a')).resourceName, 'pods');
});

test('a count at one revision, then creates, updates and deletes keep key counts exact and requests counted once', () => {
  const { tracker, counters } = setup();
  assert.ok(tracker.needsCount && !tracker.counted);
  assert.throws(
    () => tracker.applyEvents([put('/registry/pods/a/x', 5n)], counters),
    /before its first count/,
  );

  const count = tracker.beginCount();
  count.addPage(10n, [Buffer.from('/registry/pods/a/p1'), Buffer.from('/registry/pods/a/p2')]);
  // Later pages are pinned to the first page's revision; their header says the current one.
  count.addPage(12n, [Buffer.from('/registry/secrets/a/s1'), Buffer.from('/registry/health')]);
  const result = tracker.finishCount(count);
  assert.deepEqual(result, { revision: 10n, keys: 4, recount: false, gapRevisions: 0n });
  assert.equal(tracker.resumeRevision(), 11n);
  assert.deepEqual(byName(tracker), { 'registry/pods': 2, 'registry/secrets': 1, 'registry/unknown': 1 });

  tracker.applyEvents([put('/registry/pods/a/p3', 11n)], counters); // create
  tracker.applyEvents([put('/registry/pods/a/p1', 12n, 3n)], counters); // update
  tracker.applyEvents(
    [del('/registry/secrets/a/s1', 13n), put('/registry/etcdmonitor.dev/etcdclusters/ns/x', 13n)],
    counters,
  ); // one txn
  assert.deepEqual(byName(tracker), {
    'registry/pods': 3,
    'registry/secrets': 0,
    'registry/unknown': 1,
    'registry/etcdclusters.etcdmonitor.dev': 1,
  });
  assert.deepEqual(requests(counters), {
    'PUT pods': 2,
    'PUT etcdclusters.etcdmonitor.dev': 1,
    'DELETE secrets': 1,
  });
  assert.equal(counters.eventsProcessed, 4);
  assert.equal(tracker.resumeRevision(), 14n);
});

test('a replayed response (resume from an older revision) is skipped: nothing counted twice', () => {
  const { tracker, counters } = setup();
  countOnePage(tracker, 10n);
  const batch = [put('/registry/pods/a/x', 11n), put('/registry/pods/a/y', 12n)];
  tracker.applyEvents(batch, counters);
  tracker.applyEvents(batch, counters);
  tracker.applyEvents([put('/registry/pods/a/y', 12n), del('/registry/pods/a/x', 13n)], counters);
  assert.deepEqual(byName(tracker), { 'registry/pods': 1 });
  assert.deepEqual(requests(counters), { 'PUT pods': 2, 'DELETE pods': 1 });
  assert.equal(counters.duplicatesSkipped, 3);
});

test('events before the count revision are not applied (the count already has them)', () => {
  const { tracker, counters } = setup();
  countOnePage(tracker, 20n, ['/registry/pods/a/x']);
  tracker.applyEvents([put('/registry/pods/a/x', 20n), put('/registry/pods/a/y', 21n)], counters);
  assert.deepEqual(byName(tracker), { 'registry/pods': 2 });
  assert.equal(counters.eventsProcessed, 1);
});

test('progress notifications move the resume revision, never backwards', () => {
  const { tracker, counters } = setup();
  tracker.onProgress(50n);
  assert.equal(tracker.resumeRevision(), 1n, 'ignored before the first count');
  countOnePage(tracker, 10n);
  tracker.onProgress(40n);
  assert.equal(tracker.resumeRevision(), 41n);
  tracker.onProgress(30n);
  assert.equal(tracker.resumeRevision(), 41n);
  // An event at or below a progress revision is not counted again.
  tracker.applyEvents([put('/registry/pods/a/x', 40n)], counters);
  assert.equal(counters.eventsProcessed, 0);
});

test('compaction: counts stay until the re-count completes, which replaces them; requests stay monotonic', () => {
  const { tracker, counters } = setup();
  countOnePage(tracker, 10n, ['/registry/pods/a/x']);
  tracker.applyEvents([put('/registry/pods/a/y', 11n)], counters);
  tracker.onCompacted(30n);
  assert.ok(tracker.needsCount && tracker.counted, 'needs a re-count, still has counts');
  assert.equal(tracker.phase, 'compacted');
  assert.deepEqual(byName(tracker), { 'registry/pods': 2 });

  const count = tracker.beginCount();
  count.addPage(35n, [
    Buffer.from('/registry/pods/a/x'),
    Buffer.from('/registry/pods/a/z'),
    Buffer.from('/registry/cm/a/c'),
  ]);
  // Before finishCount the old counts are still what is exported.
  assert.deepEqual(byName(tracker), { 'registry/pods': 2 });
  const result = tracker.finishCount(count);
  assert.deepEqual(result, { revision: 35n, keys: 3, recount: true, gapRevisions: 24n });
  assert.deepEqual(byName(tracker), { 'registry/pods': 2, 'registry/cm': 1 });
  assert.equal(tracker.phase, 'counted');
  assert.equal(tracker.resumeRevision(), 36n);
  assert.deepEqual(requests(counters), { 'PUT pods': 1 }, 'counters untouched by the re-count');
  tracker.applyEvents([del('/registry/pods/a/z', 36n)], counters);
  assert.deepEqual(requests(counters), { 'PUT pods': 1, 'DELETE pods': 1 });
});

test('a re-count at an older revision than processed never counts a request twice', () => {
  const { tracker, counters } = setup();
  countOnePage(tracker, 10n);
  tracker.applyEvents([put('/registry/pods/a/x', 20n)], counters);
  tracker.onCompacted(15n);
  countOnePage(tracker, 18n);
  // The replay from 19 delivers the event at 20 again: keys re-applied, request not re-counted.
  tracker.applyEvents([put('/registry/pods/a/x', 20n)], counters);
  assert.deepEqual(byName(tracker), { 'registry/pods': 1 });
  assert.equal(counters.eventsProcessed, 1);
});

test('a failed count changes nothing', () => {
  const { tracker } = setup();
  const count = tracker.beginCount();
  count.addPage(10n, [Buffer.from('/registry/pods/a/x')]);
  // The walk fails here: the count object is dropped.
  assert.ok(tracker.needsCount);
  assert.equal(tracker.totalKeys(), 0);
  assert.throws(() => tracker.finishCount(tracker.beginCount()), /saw no page/);
});

test('sizes: totals from the scan and from events with previous values; a re-scan pinned to the processed revision', () => {
  const labeler = new ResourceLabeler(100);
  const tracker = new PrefixTracker('/registry', labeler, 1);
  const counters = new RequestCounters();
  const kvOf = (key: string, bytes: number, created: bigint, mod: bigint) => ({
    ...kv(key, created, mod),
    value: Buffer.alloc(bytes),
  });
  const count = tracker.beginCount();
  count.addKeyValues(10n, [
    kvOf('/registry/pods/a/p1', 100, 5n, 5n),
    kvOf('/registry/pods/a/p2', 50, 6n, 6n),
  ]);
  assert.equal(count.bytes, 19 + 100 + 19 + 50);
  tracker.finishCount(count);
  const pods = labeler.slot('registry', 'pods');
  assert.equal(tracker.sizes?.bytesOf(pods), 188);
  assert.equal(tracker.sizesIncomplete, false);
  // p1 (the largest, kept with p2 as the reserve of 2 x 1) is deleted, then p2 shrinks below the bound:
  tracker.applyEvents(
    [
      {
        type: 'DELETE',
        kv: kv('/registry/pods/a/p1', 0n, 11n),
        prevKv: kvOf('/registry/pods/a/p1', 100, 5n, 5n),
      },
    ],
    counters,
  );
  assert.equal(tracker.sizes?.bytesOf(pods), 69);
  assert.equal(tracker.sizesIncomplete, false, 'p2 is still known to be the largest');
  tracker.applyEvents(
    [
      { type: 'PUT', kv: kvOf('/registry/pods/a/p3', 70, 12n, 12n) },
      {
        type: 'DELETE',
        kv: kv('/registry/pods/a/p2', 0n, 13n),
        prevKv: kvOf('/registry/pods/a/p2', 50, 6n, 6n),
      },
    ],
    counters,
  );
  assert.equal(tracker.sizes?.bytesOf(pods), 89);
  // Nothing was ever left out of the kept set (bound 0): p3 is kept, the ranking still exact.
  assert.equal(tracker.sizesIncomplete, false);
  // An update without its previous value: the totals can no longer be trusted.
  tracker.applyEvents([{ type: 'PUT', kv: kvOf('/registry/pods/a/p3', 10, 12n, 14n) }], counters);
  assert.equal(tracker.sizesIncomplete, true);
  tracker.requestRescan();
  assert.equal(tracker.phase, 'rescan');
  assert.equal(tracker.countAt, 14n, 'pinned to the processed revision');
  const rescan = tracker.beginCount();
  rescan.addKeyValues(14n, [kvOf('/registry/pods/a/p3', 10, 12n, 14n)]);
  const result = tracker.finishCount(rescan);
  assert.deepEqual([result.recount, result.gapRevisions], [false, 0n]);
  assert.equal(tracker.resumeRevision(), 15n);
  assert.equal(tracker.sizes?.bytesOf(pods), 29);
  assert.equal(tracker.sizesIncomplete, false);
  assert.equal(tracker.sizeRescans, 1);
});
