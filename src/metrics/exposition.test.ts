import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  extendPairs,
  formatLabels,
  formatValue,
  labelPairs,
  renderFamilies,
  SampleBuffer,
} from './exposition.ts';

test('label values are escaped and bigint values keep every digit', () => {
  assert.equal(formatLabels({ a: 'x"y\\z\nw' }), '{a="x\\"y\\\\z\\nw"}');
  assert.equal(formatLabels({}), '');
  assert.equal(formatValue(12345678901234567890n), '12345678901234567890');
  assert.equal(formatValue(NaN), 'NaN');
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(0.25), '0.25');
});

test('families render with HELP and TYPE in definition order, empty ones omitted', () => {
  const buf = new SampleBuffer();
  buf.add('b_metric', { clusterName: 'x' }, 1);
  buf.addSample({ name: 'a_metric', labels: { endpoint: 'h:1' }, value: 2n }, { clusterName: 'x' });
  const text = renderFamilies(
    [
      { name: 'a_metric', type: 'gauge', help: 'A.\nline', labels: ['endpoint'] },
      { name: 'empty', type: 'gauge', help: 'E', labels: [] },
      { name: 'b_metric', type: 'counter', help: 'B', labels: [] },
    ],
    buf.lines,
  );
  assert.equal(
    text,
    '# HELP a_metric A.\\nline\n# TYPE a_metric gauge\na_metric{clusterName="x",endpoint="h:1"} 2\n# HELP b_metric B\n# TYPE b_metric counter\nb_metric{clusterName="x"} 1\n',
  );
});

test('label sets formatted once and extended match the whole set formatted at once', () => {
  const base = { clusterName: 'c"1', namespace: 'ns' };
  const pairs = labelPairs(base);
  assert.equal(pairs, 'clusterName="c\\"1",namespace="ns"');
  assert.equal(extendPairs(pairs, base, 'endpoint', 'h:1'), labelPairs({ ...base, endpoint: 'h:1' }));
  // A key the set already has keeps its place, with the new value.
  assert.equal(extendPairs(pairs, base, 'clusterName', 'x'), 'clusterName="x",namespace="ns"');
  assert.equal(extendPairs('', {}, 'a', 'b\nc'), 'a="b\\nc"');

  const buf = new SampleBuffer();
  buf.addSample({ name: 'm', labels: { endpoint: 'h:1', alarmType: 'NOSPACE' }, value: 1 }, base, pairs);
  buf.addSample({ name: 'm', labels: { namespace: 'other' }, value: 2 }, base, pairs);
  buf.addSample({ name: 'm', labels: {}, value: 3 }, {});
  assert.deepEqual(buf.lines.get('m'), [
    'm{clusterName="c\\"1",namespace="ns",endpoint="h:1",alarmType="NOSPACE"} 1',
    'm{clusterName="c\\"1",namespace="other"} 2',
    'm 3',
  ]);
});
