import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { buildCrd, NonStructuralSchemaError, toStructural } from './crd.ts';
import { ETCD_CLUSTER_CRD } from './etcdcluster.ts';

describe('toStructural', () => {
  it('turns literal unions into enums, records into additionalProperties, and keeps bounds and x-kubernetes keys', () => {
    const schema = Type.Object({
      backend: Type.Optional(Type.Union([Type.Literal('v3'), Type.Literal('v2')], { default: 'v3' })),
      kind: Type.Literal('X'),
      labels: Type.Record(Type.String(), Type.Integer({ minimum: 1 })),
      open: Type.Record(Type.String(), Type.Unknown(), { 'x-kubernetes-preserve-unknown-fields': true }),
      list: Type.Array(Type.String({ maxLength: 3 }), { 'x-kubernetes-list-type': 'set' }),
    });
    assert.deepEqual(toStructural(schema), {
      type: 'object',
      properties: {
        backend: { type: 'string', enum: ['v3', 'v2'], default: 'v3' },
        kind: { type: 'string', enum: ['X'] },
        labels: { type: 'object', additionalProperties: { type: 'integer', minimum: 1 } },
        open: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        list: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string', maxLength: 3 } },
      },
      required: ['kind', 'labels', 'open', 'list'],
    });
  });

  it('refuses what the apiserver would refuse, naming the path', () => {
    const cases: [unknown, RegExp][] = [
      [Type.Object({ a: Type.Unknown() }), /\(root\)\.a: no type/],
      [
        Type.Object({ a: Type.Union([Type.String(), Type.Integer()]) }),
        /\(root\)\.a: only unions of literals/,
      ],
      [
        Type.Object({ a: Type.Object({ b: Type.String() }, { additionalProperties: false }) }),
        /\(root\)\.a: additionalProperties: false/,
      ],
      [Type.Object({ a: Type.Record(Type.String(), Type.Unknown()) }), /\(root\)\.a\[\*\]: no type/],
      [Type.Object({ a: Type.Object({}) }), /\(root\)\.a: an object needs properties/],
      [Type.Object({ a: Type.Null() }), /\(root\)\.a: type null is not allowed/],
    ];
    for (const [schema, message] of cases) {
      assert.throws(
        () => toStructural(schema as Record<string, unknown>),
        (err: unknown) => err instanceof NonStructuralSchemaError && message.test(err.message),
      );
    }
  });
});

describe('buildCrd', () => {
  it('makes a namespaced v1 CRD with status subresource, names and printer columns', () => {
    const crd = buildCrd(ETCD_CLUSTER_CRD) as {
      metadata: { name: string };
      spec: Record<string, unknown> & { versions: Record<string, unknown>[] };
    };
    assert.equal(crd.metadata.name, 'etcdclusters.etcdmonitor.dev');
    assert.equal(crd.spec['scope'], 'Namespaced');
    assert.deepEqual((crd.spec['names'] as { shortNames: string[] }).shortNames, ['etcdc']);
    const [version] = crd.spec.versions;
    assert.deepEqual(version?.['subresources'], { status: {} });
    const printerColumns = version?.['additionalPrinterColumns'] as
      | { name: string; jsonPath: string }[]
      | undefined;
    const columns = (printerColumns ?? []).map((c) => `${c.name}=${c.jsonPath}`);
    assert.deepEqual(columns.slice(0, 5), [
      'Phase=.status.phase',
      'Members=.status.membersReady',
      'Leader=.status.leader',
      'Version=.status.version',
      'Age=.metadata.creationTimestamp',
    ]);
  });
});
