import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCertName, parseFeatureGates } from './kstone.ts';

describe('parseFeatureGates', () => {
  const cases: { name: string; annotation: string; gates: [string, boolean][]; problems: string[] }[] = [
    {
      name: "reads kstone's comma-separated name=bool list, blanks and case tolerated",
      annotation: ' alarm=true, consistency=false,Healthy=TRUE,,request=true ',
      gates: [
        ['alarm', true],
        ['consistency', false],
        ['healthy', true],
        ['request', true],
      ],
      problems: [],
    },
    {
      name: 'names every malformed entry and a duplicate',
      annotation: 'alarm,healthy=yes,=true,alarm=false,request=true,request=false',
      gates: [
        ['alarm', false],
        ['request', true],
      ],
      problems: [
        'entry "alarm" is not name=true or name=false',
        'entry "healthy=yes" is not name=true or name=false',
        'entry "=true" is not name=true or name=false',
        'feature "request" is given twice',
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { gates, problems } = parseFeatureGates(c.annotation);
      assert.deepEqual([...gates], c.gates);
      assert.deepEqual(problems, c.problems);
    });
  }

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
