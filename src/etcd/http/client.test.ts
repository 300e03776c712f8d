import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { healthPath, interpretHealth } from './client.ts';

const res = (status: number) => ({ status, headers: {}, body: '', bytes: 0 });

describe('/health', () => {
  it('sends query parameters only when asked', () => {
    assert.equal(healthPath(), '/health');
    assert.equal(healthPath({ serializable: false, exclude: [] }), '/health');
    assert.equal(healthPath({ serializable: true }), '/health?serializable=true');
    assert.equal(healthPath({ exclude: ['NOSPACE', 'CORRUPT'] }), '/health?exclude=NOSPACE&exclude=CORRUPT');
  });

  it('understands the 3.4 and the 3.5+ answers', () => {
    const answers: [status: number, body: object, healthy: boolean, reason: string][] = [
      [200, { health: 'true' }, true, ''],
      [200, { health: 'true', reason: '' }, true, ''],
      [503, { health: 'false' }, false, ''],
      [503, { health: 'false', reason: 'ALARM NOSPACE' }, false, 'ALARM NOSPACE'],
    ];
    for (const [status, body, healthy, reason] of answers) {
      assert.deepEqual(interpretHealth(res(status), body), { healthy, reason, httpStatus: status });
    }
    // A 200 is not enough: the body must say so.
    assert.equal(interpretHealth(res(200), { health: 'false' })?.healthy, false);
    assert.equal(interpretHealth(res(200), { status: 'ok' }), undefined);
  });
});
