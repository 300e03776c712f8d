import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OVERFLOW_RESOURCE, ResourceLabeler, UNKNOWN_RESOURCE, resourceOf } from './labels.ts';

const OFFSET = Buffer.byteLength('/registry/');
const res = (key: string): string | undefined => resourceOf(Buffer.from(key), OFFSET);

test('Kubernetes keys: namespaced and cluster-scoped resources', () => {
  assert.equal(res('/registry/pods/default/nginx-1'), 'pods');
  assert.equal(res('/registry/namespaces/default'), 'namespaces');
  assert.equal(res('/registry/services/specs/default/kubernetes'), 'services');
  assert.equal(res('/registry/pods/default/name.with.dots'), 'pods');
  assert.equal(res('/registry/minions/node-1'), 'minions');
});

test('custom resources and aggregated APIs: a group with a dot gives <resource>.<group>', () => {
  assert.equal(res('/registry/etcdmonitor.dev/etcdclusters/ns/x'), 'etcdclusters.etcdmonitor.dev');
  assert.equal(res('/registry/etcdmonitor.dev/etcdclusters/cluster-scoped'), 'etcdclusters.etcdmonitor.dev');
  assert.equal(
    res('/registry/apiregistration.k8s.io/apiservices/v1.apps'),
    'apiservices.apiregistration.k8s.io',
  );
  // A dotted segment followed by a name only is a resource called so.
  assert.equal(res('/registry/foo.bar/x'), 'foo.bar');
  // An empty resource segment after the group: the group is the resource.
  assert.equal(res('/registry/foo.bar//x'), 'foo.bar');
});

test('keys outside the layout have no resource', () => {
  assert.equal(res('/registry/health'), undefined);
  assert.equal(res('/registry/'), undefined);
  assert.equal(res('/registry//x'), undefined);
});

test('non-UTF-8 bytes give a valid label value', () => {
  const key = Buffer.concat([Buffer.from('/registry/'), Buffer.from([0xff, 0xfe]), Buffer.from('/x')]);
  const r = resourceOf(key, OFFSET);
  assert.equal(r, '\ufffd\ufffd');
});

test('the labeler gives one slot per label set, the fixed value for keys outside the layout', () => {
  const labeler = new ResourceLabeler(10);
  const a = labeler.slotFor('registry', Buffer.from('/registry/pods/a/b'), OFFSET);
  const b = labeler.slotFor('registry', Buffer.from('/registry/pods/c'), OFFSET);
  assert.equal(a, b, 'same label set, same slot object');
  assert.deepEqual(a, { etcdPrefix: 'registry', resourceName: 'pods' });
  const outside = labeler.slotFor('registry', Buffer.from('/registry/health'), OFFSET);
  assert.deepEqual(outside, { etcdPrefix: 'registry', resourceName: UNKNOWN_RESOURCE });
  assert.equal(labeler.admitted, 1, 'the fixed value does not use the cap');
  // Another etcdPrefix with the same resource name is another label set.
  const other = labeler.slot('app', 'pods');
  assert.notEqual(other, a);
  assert.equal(labeler.admitted, 2);
});

test('the cap: names past it go to "other", for good, and memory stays bounded', () => {
  const labeler = new ResourceLabeler(3);
  for (let i = 0; i < 5000; i++) labeler.slotFor('registry', Buffer.from(`/registry/r${i}/x`), OFFSET);
  assert.equal(labeler.admitted, 3);
  assert.ok(labeler.overflowed);
  const names = labeler
    .slots()
    .map((s) => s.resourceName)
    .sort();
  assert.deepEqual(names, ['other', 'r0', 'r1', 'r2']);
  // Admitted names stay admitted, refused ones stay refused.
  assert.equal(labeler.slot('registry', 'r1').resourceName, 'r1');
  assert.equal(labeler.slot('registry', 'r4000').resourceName, OVERFLOW_RESOURCE);
  assert.equal(labeler.slot('registry', 'r4000'), labeler.slot('registry', 'r4001'));
});

test('a resource really named "other" shares the overflow series instead of duplicating it', () => {
  const labeler = new ResourceLabeler(1);
  const first = labeler.slot('registry', 'pods');
  const overflow = labeler.slot('registry', 'configmaps');
  assert.notEqual(first, overflow);
  assert.equal(labeler.slot('registry', 'other'), overflow);
  assert.equal(labeler.slots().length, 2);

  const admitted = new ResourceLabeler(5);
  const real = admitted.slot('registry', 'other');
  assert.equal(admitted.slotFor('registry', Buffer.from('/registry/x'), OFFSET).resourceName, 'unknown');
  for (let i = 0; i < 10; i++) admitted.slot('registry', `r${i}`);
  assert.equal(admitted.slot('registry', 'r9'), real, 'overflow joins the existing "other" slot');
  assert.equal(
    new Set(admitted.slots().map((s) => `${s.etcdPrefix}/${s.resourceName}`)).size,
    admitted.slots().length,
    'no duplicate label sets',
  );
});

test('the cap must be a positive integer', () => {
  assert.throws(() => new ResourceLabeler(0), /positive integer/);
});
