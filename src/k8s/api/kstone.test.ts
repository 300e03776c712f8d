import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCertName, parseFeatureGates } from './kstone.ts';

describe('parseFeatureGates', () => {
  it("reads kstone's comma-separated name=bool list, blanks and case tolerated", () => {
    const { gates, problems } = parseFeatureGates(
      ' alarm=true, consistency=false,Healthy=TRUE,,request=true ',
    );
    assert.deepEqual(
      [...gates],
      [
        ['alarm', true],
        ['consistency', false],
        ['healthy', true],
        ['request', true],
      ],
    );
    assert.deepEqual(problems, []);
  });

  it('names every malformed entry and a duplicate', () => {
    const { gates, problems } = parseFeatureGates(
      'alarm,healthy=yes,=true,alarm=false,request=true,request=false',
    );
    assert.deepEqual(
      [...gates],
      [
        ['alarm', false],
        ['request', true],
      ],
    );
    assert.deepEqual(problems, [
      'entry "alarm" is not name=true or name=false',
      'entry "healthy=yes" is not name=true or name=false',
      'entry "=true" is not name=true or name=false',
      'feature "request" is given twice',
    ]);
  });

  it('an empty annotation enables nothing', () => {
    assert.equal(parseFeatureGates('').gates.size, 0);
  });
});

describe('parseCertName', () => {
  it('takes <namespace>/<secret>', () => {
    assert.deepEqual(parseCertName('kube-system/etcd-certs', 'ops'), {
      ok: true,
      namespace: 'kube-system',
      name: 'etcd-certs',
    });
  });

  it("puts a bare <secret> in the object's namespace", () => {
    assert.deepEqual(parseCertName(' etcd-certs ', 'ops'), {
      ok: true,
      namespace: 'ops',
      name: 'etcd-certs',
    });
  });

  it('rejects what is not a namespace/name pair', () => {
    assert.deepEqual(parseCertName('a/b/c', 'ops'), {
      ok: false,
      problem: '"a/b/c" is not <namespace>/<secret> or <secret>',
    });
    assert.deepEqual(parseCertName('Kube_System/x', 'ops'), {
      ok: false,
      problem: '"Kube_System" is not a valid namespace name',
    });
    assert.deepEqual(parseCertName('ns/Bad_Name', 'ops'), {
      ok: false,
      problem: '"Bad_Name" is not a valid Secret name',
    });
    assert.equal(parseCertName('', 'ops').ok, false);
  });
});
