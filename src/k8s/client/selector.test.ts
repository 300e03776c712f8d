import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabelSelectorError, matchesSelector, parseLabelSelector } from './selector.ts';

describe('label selectors', () => {
  it('parses every operator and prints a canonical form', () => {
    const s = parseLabelSelector(
      ' app = etcd, tier==db ,env in (prod, staging), zone notin (a), team!=x, monitored, !legacy, example.com/owner=me',
    );
    assert.equal(
      s.text,
      'app=etcd,tier=db,env in (prod,staging),zone!=a,team!=x,monitored,!legacy,example.com/owner=me',
    );
    assert.equal(s.requirements.length, 8);
  });

  it('matches as Kubernetes does (!= and notin also match an absent label)', () => {
    const s = parseLabelSelector('app=etcd,env in (prod,staging),team!=x,monitored,!legacy');
    assert.ok(matchesSelector(s, { app: 'etcd', env: 'prod', monitored: '' }));
    assert.ok(matchesSelector(s, { app: 'etcd', env: 'staging', monitored: 'yes', team: 'y' }));
    assert.ok(!matchesSelector(s, { app: 'etcd', env: 'dev', monitored: '' }));
    assert.ok(!matchesSelector(s, { app: 'etcd', env: 'prod', monitored: '', team: 'x' }));
    assert.ok(!matchesSelector(s, { app: 'etcd', env: 'prod', monitored: '', legacy: 'true' }));
    assert.ok(!matchesSelector(s, { app: 'etcd', env: 'prod' }));
    assert.ok(matchesSelector(parseLabelSelector(''), {}));
  });

  it('rejects malformed selectors with the offending part', () => {
    const bad: [string, RegExp][] = [
      ['a=b,,c=d', /empty requirement/],
      ['app>3', /cannot parse "app>3"/],
      ['env in ()', /in needs at least one value/],
      ['-bad=x', /"-bad" is not a valid label key/],
      ['app=not valid', /cannot parse/],
      ['app=' + 'x'.repeat(64), /is not a valid label value/],
    ];
    for (const [text, message] of bad) {
      assert.throws(
        () => parseLabelSelector(text),
        (err: unknown) => err instanceof LabelSelectorError && message.test(err.message),
        text,
      );
    }
    // An empty value is allowed (label present with value "").
    assert.deepEqual(parseLabelSelector('app=').requirements, [{ key: 'app', op: 'in', values: [''] }]);
  });
});
