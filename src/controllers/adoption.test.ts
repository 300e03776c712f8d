import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADOPT_BATCH, Adoptions } from './adoption.ts';

const items = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('Adoptions', () => {
  it('adopts every item, a batch per turn of the event loop, and counts those adopted', async () => {
    const adoptions = new Adoptions();
    const seen: number[] = [];
    // Queued before the pass: it runs once the pass yields after its first batch, not before.
    let otherWork = false;
    setImmediate(() => {
      otherWork = true;
    });
    const adopted = await adoptions.run(items(2 * ADOPT_BATCH + 1), (i) => {
      if (i < ADOPT_BATCH) assert.equal(otherWork, false, 'the first batch runs at once');
      else assert.equal(otherWork, true, 'other work ran between batches');
      seen.push(i);
      return i % 2 === 0;
    });
    assert.deepEqual(seen, items(2 * ADOPT_BATCH + 1));
    assert.equal(adopted, ADOPT_BATCH + 1);
  });

  it('a newer pass supersedes one still going; nothing runs after stop()', async () => {
    const adoptions = new Adoptions();
    const first: number[] = [];
    const older = adoptions.run(items(3 * ADOPT_BATCH), (i) => first.push(i) > 0);
    const newer = adoptions.run(items(2), () => true);
    assert.equal(await newer, 2);
    assert.equal(await older, ADOPT_BATCH, 'the older pass stopped after its first batch');
    assert.equal(first.length, ADOPT_BATCH);
    const stopped = new Adoptions();
    const later: number[] = [];
    const running = stopped.run(items(2 * ADOPT_BATCH), (i) => later.push(i) > 0);
    stopped.stop();
    assert.equal(await running, ADOPT_BATCH, 'the batch under way finishes, no other');
    assert.equal(await stopped.run(items(3), () => true), 0, 'nothing after stop()');
  });
});
