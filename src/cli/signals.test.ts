import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createLogger } from '../log.ts';
import { closeWithin, openResources } from './signals.ts';

function capture(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  let out = '';
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => (out += d.toString()));
  return { logger: createLogger({ destination: sink }), text: () => out };
}

test('closeWithin: a close that never finishes is given up on, naming what was still open', async () => {
  const { logger, text } = capture();
  const inTime = await closeWithin(
    50,
    () => new Promise(() => {}),
    () => 'stopping cluster prod-a',
    logger,
  );
  assert.equal(inTime, false);
  assert.match(text(), /shutdown did not finish within 0\.05 s; exiting anyway/);
  assert.match(text(), /"stillOpen":"stopping cluster prod-a"/);
});

test('closeWithin: a close that finishes (or fails) in time reports true', async () => {
  const { logger, text } = capture();
  assert.equal(
    await closeWithin(
      10_000,
      async () => {},
      () => '',
      logger,
    ),
    true,
  );
  assert.equal(
    await closeWithin(
      10_000,
      () => Promise.reject(new Error('boom')),
      () => '',
      logger,
    ),
    true,
  );
  assert.match(text(), /"err":"boom"/);
});

test('openResources counts what keeps the loop alive', () => {
  const timer = setTimeout(() => {}, 10_000);
  try {
    assert.match(openResources(), /\d+ Timeout/);
  } finally {
    clearTimeout(timer);
  }
});
