import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLabels, formatValue, renderFamilies, SampleBuffer } from './exposition.ts';

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
