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
    assert.deepEqual(interpretHealth(res(200), { health: 'true' }), {
      healthy: true,
      reason: '',
      httpStatus: 200,
    });
    assert.deepEqual(interpretHealth(res(200), { health: 'true', reason: '' }), {
      healthy: true,
      reason: '',
      httpStatus: 200,
    });
    assert.deepEqual(interpretHealth(res(503), { health: 'false' }), {
      healthy: false,
      reason: '',
      httpStatus: 503,
    });
    assert.deepEqual(interpretHealth(res(503), { health: 'false', reason: 'ALARM NOSPACE' }), {
      healthy: false,
      reason: 'ALARM NOSPACE',
      httpStatus: 503,
    });
    // A 200 is not enough: the body must say so.
    assert.equal(interpretHealth(res(200), { health: 'false' })?.healthy, false);
    assert.equal(interpretHealth(res(200), { status: 'ok' }), undefined);
  });
});
