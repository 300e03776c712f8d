/**
 * The informer's semantics against a scripted ListerWatcher: list then watch,
 * resourceVersion tracking, relist on 410, backoff on errors, the silent-watch
 * detector, resync, frozen cache, stop. The same informer runs against a real
 * apiserver in test/k8s/informer.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock, settle } from '../../testing/fake-clock.ts';
import { eventually } from '../../testing/wait.ts';
import { apiErrorFrom, KubeTransportError } from './errors.ts';
import { Informer, type ListerWatcher } from './informer.ts';
import type { ListResult, WatchEvent } from './typed.ts';

interface Thing {
  readonly apiVersion: string;
  readonly kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: { value: number; secretName?: string };
}

const thing = (name: string, rv: number, value = 0, extra: Partial<Thing['spec']> = {}): Thing => ({
  apiVersion: 'test/v1',
  kind: 'Thing',
  metadata: { name, namespace: 'ns', resourceVersion: String(rv) },
  spec: { value, ...extra },
});

type Item<T> = { event: WatchEvent<T> } | { end: true } | { error: unknown };

/** A watch stream the test feeds; ends with the abort reason when its signal aborts. */
class FakeWatch<T> implements AsyncIterable<WatchEvent<T>> {
  readonly resourceVersion: string;
  readonly signal: AbortSignal;
  readonly #items: Item<T>[] = [];
  #wake: (() => void) | undefined;

  constructor(resourceVersion: string, signal: AbortSignal) {
    this.resourceVersion = resourceVersion;
    this.signal = signal;
    signal.addEventListener('abort', () => this.#wake?.(), { once: true });
  }

  push(event: WatchEvent<T>): void {
    this.#items.push({ event });
    this.#wake?.();
  }

  end(): void {
    this.#items.push({ end: true });
    this.#wake?.();
  }

  fail(error: unknown): void {
    this.#items.push({ error });
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent<T>> {
    for (;;) {
      if (this.signal.aborted) throw this.signal.reason;
      const item = this.#items.shift();
      if (item === undefined) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      if ('end' in item) return;
      if ('error' in item) throw item.error;
      yield item.event;
    }
  }
}

class FakeLW implements ListerWatcher<Thing> {
  /** What the next list returns (a copy), or an error to throw. */
  state: Thing[] = [];
  listRv = '10';
  listError: unknown;
  readonly watchErrors: unknown[] = [];
  readonly watches: FakeWatch<Thing>[] = [];
  lists = 0;
  timeouts: number[] = [];

  async list(): Promise<ListResult<Thing>> {
    this.lists++;
    if (this.listError !== undefined) throw this.listError;
    return { items: structuredClone(this.state), resourceVersion: this.listRv, rejected: [] };
  }

  async watch(opts: {
    resourceVersion: string;
    signal: AbortSignal;
    timeoutSeconds: number;
  }): Promise<AsyncIterable<WatchEvent<Thing>>> {
    this.timeouts.push(opts.timeoutSeconds);
    const error = this.watchErrors.shift();
    if (error !== undefined) throw error;
    const w = new FakeWatch<Thing>(opts.resourceVersion, opts.signal);
    this.watches.push(w);
    return w;
  }

  current(): FakeWatch<Thing> {
    const w = this.watches.at(-1);
    if (w === undefined) throw new Error('no watch yet');
    return w;
  }
}

/** Records handler calls as text. */
function record(informer: Informer<Thing>): string[] {
  const log: string[] = [];
  informer.addEventHandler({
    onAdd: (o, initial) =>
      log.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}${initial ? ' initial' : ''}`),
    onUpdate: (a, b) =>
      log.push(
        a === b
          ? `resync ${b.metadata.name}`
          : `update ${a.metadata.name}@${a.metadata.resourceVersion}->${b.metadata.resourceVersion}`,
      ),
    onDelete: (o, info) =>
      log.push(
        `delete ${o.metadata.name}@${o.metadata.resourceVersion}${info.finalStateUnknown ? ' unknown' : ''}`,
      ),
  });
  return log;
}

/** Waits for failure number `errors` and returns the backoff that follows it, in ms. */
async function backoffAfter(informer: Informer<Thing>, clock: FakeClock, errors: number): Promise<number> {
  await eventually(() => informer.stats().errors === errors, `failure ${errors}`);
  const at = await eventually(() => clock.nextTimerAt(), `the backoff after failure ${errors}`);
  return at - clock.now();
}

const fast = { backoff: { initialMs: 5, maxMs: 20, jitter: 0 }, watchTimeoutSeconds: () => 300 } as const;

async function started(
  lw: FakeLW,
  opts: ConstructorParameters<typeof Informer<Thing>>[1] = {},
): Promise<{ informer: Informer<Thing>; log: string[] }> {
  const informer = new Informer<Thing>(lw, { ...fast, ...opts });
  const log = record(informer);
  informer.start();
  assert.equal(await informer.waitForSync(AbortSignal.timeout(5_000)), true);
  await eventually(() => (lw.watches.length > 0 ? true : undefined), 'the first watch');
  return { informer, log };
}

/** The objects' names, sorted: listers promise no order. */
const names = (objects: readonly Thing[]): string[] => objects.map((o) => o.metadata.name).sort();

/** A started informer on a fake clock whose failed watches back off as given, without jitter. */
async function backingOff(backoff: { initialMs: number; maxMs: number; factor: number }) {
  const lw = new FakeLW();
  const clock = new FakeClock();
  const { informer } = await started(lw, { clock, backoff: { ...backoff, jitter: 0 } });
  return { lw, clock, informer };
}

describe('Informer', () => {
  it("lists, announces the initial objects, then watches from the list's resourceVersion", async () => {
    const lw = new FakeLW();
    lw.state = [thing('a', 5), thing('b', 7)];
    const { informer, log } = await started(lw);
    try {
      assert.ok(informer.hasSynced());
      assert.deepEqual(log, ['add a@5 initial', 'add b@7 initial']);
      assert.equal(lw.current().resourceVersion, '10');
      assert.equal(informer.lister.get('ns', 'a')?.metadata.resourceVersion, '5');
      assert.deepEqual(names(informer.lister.list('ns')), ['a', 'b']);
      assert.deepEqual(informer.lister.list('other'), []);
    } finally {
      await informer.stop();
    }
  });

  it('turns watch events into add/update/delete and resumes from the last resourceVersion when the server ends the watch', async () => {
    const lw = new FakeLW();
    lw.state = [thing('a', 5)];
    const { informer, log } = await started(lw);
    try {
      const w = lw.current();
      w.push({ type: 'ADDED', object: thing('b', 11) });
      w.push({ type: 'MODIFIED', object: thing('a', 12, 1) });
      w.push({ type: 'DELETED', object: thing('b', 13) });
      w.push({ type: 'BOOKMARK', resourceVersion: '20' });
      await eventually(() => (informer.resourceVersion === '20' ? true : undefined), 'the bookmark');
      w.end();
      await eventually(() => (lw.watches.length === 2 ? true : undefined), 'a second watch');
      assert.deepEqual(log.slice(1), ['add b@11', 'update a@5->12', 'delete b@13']);
      assert.equal(lw.current().resourceVersion, '20');
      assert.equal(lw.lists, 1, 'no relist for a cleanly ended watch');
      assert.equal(informer.lister.get('ns', 'a')?.spec.value, 1);
      assert.equal(informer.lister.get('ns', 'b'), undefined);
      const stats = informer.stats();
      assert.equal(stats.events, 3);
      assert.equal(stats.bookmarks, 1);
      assert.equal(stats.errors, 0);
    } finally {
      await informer.stop();
    }
  });

  it('relists on a 410 ERROR event and diffs: gone → delete (final state unknown), changed → update, new → add, same → nothing', async () => {
    const lw = new FakeLW();
    lw.state = [thing('a', 5), thing('b', 6), thing('c', 7)];
    const { informer, log } = await started(lw);
    try {
      lw.state = [thing('b', 6), thing('c', 30, 9), thing('d', 31)];
      lw.listRv = '40';
      lw.current().push({
        type: 'ERROR',
        error: apiErrorFrom('watch things', 410, {
          kind: 'Status',
          code: 410,
          reason: 'Expired',
          message: 'too old resource version: 10 (35)',
        }),
      });
      await eventually(() => (lw.watches.length === 2 ? true : undefined), 'the watch after the relist');
      assert.deepEqual(log.slice(3), ['update c@7->30', 'add d@31', 'delete a@5 unknown']);
      assert.equal(lw.lists, 2);
      assert.equal(lw.current().resourceVersion, '40');
      assert.equal(informer.stats().relists, 1);
      assert.equal(informer.stats().errors, 0, 'an expiry is not an error');
    } finally {
      await informer.stop();
    }
  });

  it('relists when the watch request itself is answered 410 Gone', async () => {
    const lw = new FakeLW();
    const { informer } = await started(lw);
    try {
      lw.watchErrors.push(apiErrorFrom('watch things', 410, undefined));
      lw.listRv = '50';
      lw.current().end();
      await eventually(() => (lw.watches.length === 2 ? true : undefined), 'the watch after the relist');
      assert.equal(lw.lists, 2);
      assert.equal(lw.current().resourceVersion, '50');
    } finally {
      await informer.stop();
    }
  });

  it('retries failed watches with growing backoff from the same resourceVersion, without relisting', async () => {
    const { lw, clock, informer } = await backingOff({ initialMs: 40, maxMs: 1000, factor: 2 });
    try {
      lw.watchErrors.push(
        new KubeTransportError('connection refused'),
        new KubeTransportError('connection refused'),
        apiErrorFrom('watch', 503, undefined),
      );
      lw.current().fail(new KubeTransportError('the stream broke'));
      for (const [i, delay] of [40, 80, 160, 320].entries()) {
        assert.equal(await backoffAfter(informer, clock, i + 1), delay, `backoff after failure ${i + 1}`);
        await clock.advance(delay);
      }
      await eventually(() => lw.watches.length === 2, 'a watch after four failures');
      assert.equal(lw.current().resourceVersion, '10');
      assert.equal(lw.lists, 1);
      assert.equal(informer.stats().errors, 4);
      assert.match(informer.stats().lastError ?? '', /503/);
    } finally {
      await informer.stop();
    }
  });

  it('starts the backoff over once a watch delivers again', async () => {
    const { lw, clock, informer } = await backingOff({ initialMs: 200, maxMs: 10_000, factor: 4 });
    try {
      lw.watchErrors.push(new KubeTransportError('refused'));
      lw.current().fail(new KubeTransportError('broke'));
      assert.equal(await backoffAfter(informer, clock, 1), 200);
      await clock.advance(200);
      assert.equal(await backoffAfter(informer, clock, 2), 800);
      await clock.advance(800);
      await eventually(() => lw.watches.length === 2, 'the watch after two failures');
      // The next delay would be 200 × 4² = 3.2 s, but this watch delivers an event...
      lw.current().push({ type: 'BOOKMARK', resourceVersion: '11' });
      await eventually(() => informer.resourceVersion === '11', 'the bookmark');
      // ...so after it breaks the retry comes after 200 ms again.
      lw.current().fail(new KubeTransportError('broke again'));
      assert.equal(await backoffAfter(informer, clock, 3), 200);
      await clock.advance(200);
      await eventually(() => lw.watches.length === 3, 'the next watch');
    } finally {
      await informer.stop();
    }
  });

  it('retries a failed list with backoff and is not synced until one succeeds', async () => {
    const lw = new FakeLW();
    lw.listError = apiErrorFrom('list things', 403, {
      kind: 'Status',
      code: 403,
      reason: 'Forbidden',
      message: 'things is forbidden',
    });
    const informer = new Informer<Thing>(lw, fast);
    informer.start();
    try {
      await eventually(() => (lw.lists >= 3 ? true : undefined), 'three list attempts');
      assert.equal(informer.hasSynced(), false);
      assert.match(informer.stats().lastError ?? '', /403 Forbidden: things is forbidden/);
      lw.listError = undefined;
      assert.equal(await informer.waitForSync(AbortSignal.timeout(5_000)), true);
    } finally {
      await informer.stop();
    }
  });

  it('abandons a silent watch and resumes it from the same resourceVersion; bookmarks keep a quiet watch alive', async () => {
    const lw = new FakeLW();
    const clock = new FakeClock();
    const { informer } = await started(lw, { clock, silentWatchTimeoutMs: 150 });
    try {
      // Bookmarks every 50 ms for 500 ms: no restart.
      for (let i = 0; i < 10; i++) {
        lw.current().push({ type: 'BOOKMARK', resourceVersion: String(11 + i) });
        await eventually(() => informer.resourceVersion === String(11 + i), `bookmark ${i + 1}`);
        await clock.advance(50);
      }
      assert.equal(lw.watches.length, 1);
      assert.equal(informer.stats().silentRestarts, 0);
      // Then nothing for 150 ms: the watch is abandoned (its signal aborted) and a new one starts after the backoff.
      const first = lw.current();
      await clock.advance(99);
      assert.equal(first.signal.aborted, false, 'not before 150 ms of silence');
      await clock.advance(1);
      assert.equal(await backoffAfter(informer, clock, 1), 5);
      await clock.advance(5);
      await eventually(() => lw.watches.length === 2, 'a new watch after the silence');
      assert.ok(first.signal.aborted, 'the silent watch was closed');
      assert.equal(lw.current().resourceVersion, '20');
      assert.equal(informer.stats().silentRestarts, 1);
      assert.equal(lw.lists, 1, 'silence is not a reason to relist');
    } finally {
      await informer.stop();
    }
  });

  it('re-delivers every cached object as an update on each resync', async () => {
    const lw = new FakeLW();
    lw.state = [thing('a', 5), thing('b', 6)];
    const { informer, log } = await started(lw, { resyncPeriodMs: 50 });
    try {
      await eventually(
        () => (log.filter((l) => l.startsWith('resync')).length >= 4 ? true : undefined),
        'two resyncs',
      );
      assert.deepEqual(
        log
          .filter((l) => l.startsWith('resync'))
          .slice(0, 2)
          .sort(),
        ['resync a', 'resync b'],
      );
      assert.ok(informer.stats().resyncs >= 2);
    } finally {
      await informer.stop();
    }
  });

  it('with a retention policy: packs what it does not keep, diffs a relist and reports updates with whole objects, resyncs only what it keeps', async () => {
    const lw = new FakeLW();
    lw.state = [thing('a', 5, 1), thing('b', 6, 2), thing('c', 7, 3)];
    const kept = new Set(['a']);
    const { informer, log } = await started(lw, {
      resyncPeriodMs: 50,
      retention: { tag: (t) => t.metadata.name, whole: (tag) => kept.has(tag) },
    });
    try {
      assert.deepEqual(informer.retentionStats().packed, 2);
      const values: number[] = [];
      informer.addEventHandler({ onUpdate: (a, b) => a !== b && values.push(a.spec.value, b.spec.value) });
      // b unchanged (no event), c changed: its packed previous version is handed over whole.
      lw.state = [thing('a', 5, 1), thing('b', 6, 2), thing('c', 30, 9)];
      lw.listRv = '40';
      lw.current().push({
        type: 'ERROR',
        error: apiErrorFrom('watch things', 410, { kind: 'Status', code: 410, reason: 'Expired' }),
      });
      await eventually(() => (lw.watches.length === 2 ? true : undefined), 'the watch after the relist');
      assert.deepEqual(
        log.filter((l) => l.startsWith('update')),
        ['update c@7->30'],
      );
      assert.deepEqual(values, [3, 9]);
      await eventually(
        () => (log.filter((l) => l.startsWith('resync')).length >= 2 ? true : undefined),
        'two resyncs',
      );
      assert.deepEqual([...new Set(log.filter((l) => l.startsWith('resync')))], ['resync a']);
      kept.add('c');
      assert.deepEqual(informer.retain(), { packed: 0, unpacked: 1 });
      assert.equal(informer.tagOf('ns/c'), 'c');
      assert.equal(informer.lister.get('ns', 'c')?.spec.value, 9);
      assert.equal(informer.lister.get('ns', 'b')?.spec.value, 2);
    } finally {
      await informer.stop();
    }
  });

  it('caches deep-frozen objects', async () => {
    const lw = new FakeLW();
    lw.state = [
      {
        ...thing('a', 5),
        metadata: { name: 'a', namespace: 'ns', resourceVersion: '5', labels: { x: '1' } },
      },
    ];
    const { informer } = await started(lw);
    try {
      const a = informer.lister.get('ns', 'a');
      assert.ok(a !== undefined);
      assert.throws(() => {
        (a.spec as { value: number }).value = 2;
      }, TypeError);
      assert.throws(() => {
        (a.metadata.labels as Record<string, string>)['x'] = '2';
      }, TypeError);
      assert.equal(informer.lister.get('ns', 'a')?.spec.value, 0);
    } finally {
      await informer.stop();
    }
  });

  it('lists by label selector and by index, and keeps indexes current', async () => {
    const lw = new FakeLW();
    const labelled = (
      name: string,
      rv: number,
      secretName: string,
      labels: Record<string, string>,
    ): Thing => ({
      ...thing(name, rv, 0, { secretName }),
      metadata: { name, namespace: 'ns', resourceVersion: String(rv), labels },
    });
    lw.state = [
      labelled('a', 1, 's1', { tier: 'db' }),
      labelled('b', 2, 's1', { tier: 'web' }),
      labelled('c', 3, 's2', {}),
    ];
    const { informer } = await started(lw, {
      indexers: { secret: (o) => (o.spec.secretName !== undefined ? [o.spec.secretName] : []) },
    });
    try {
      assert.deepEqual(names(informer.lister.list(undefined, 'tier in (db,cache)')), ['a']);
      assert.deepEqual(names(informer.lister.list('ns', 'tier!=db')), ['b', 'c']);
      assert.deepEqual(names(informer.lister.byIndex('secret', 's1')), ['a', 'b']);
      lw.current().push({ type: 'MODIFIED', object: labelled('b', 4, 's2', {}) });
      lw.current().push({ type: 'DELETED', object: labelled('c', 5, 's2', {}) });
      await eventually(() => (informer.lister.size === 2 ? true : undefined), 'the delete');
      assert.deepEqual(names(informer.lister.byIndex('secret', 's1')), ['a']);
      assert.deepEqual(names(informer.lister.byIndex('secret', 's2')), ['b']);
      assert.throws(() => informer.lister.byIndex('nope', 'x'), /no index "nope"/);
    } finally {
      await informer.stop();
    }
  });

  it('tells a late handler of the cache; a throwing handler does not stop the others', async () => {
    const lw = new FakeLW();
    lw.state = [thing('a', 5)];
    const { informer } = await started(lw);
    try {
      informer.addEventHandler({
        onAdd: () => {
          throw new Error('boom');
        },
      });
      const late = record(informer);
      assert.deepEqual(late, ['add a@5 initial']);
      lw.current().push({ type: 'ADDED', object: thing('b', 11) });
      await eventually(() => (late.length === 2 ? true : undefined), 'the add after the throwing handler');
      assert.equal(late[1], 'add b@11');
    } finally {
      await informer.stop();
    }
  });

  it('skips objects that do not match their schema but keeps their resourceVersion', async () => {
    const lw = new FakeLW();
    const { informer, log } = await started(lw);
    try {
      lw.current().push({
        type: 'INVALID',
        key: 'ns/bad',
        problems: [{ field: 'spec.value', message: 'expected number' }],
        resourceVersion: '15',
      });
      lw.current().end();
      await eventually(() => (lw.watches.length === 2 ? true : undefined), 'the next watch');
      assert.equal(lw.current().resourceVersion, '15');
      assert.equal(informer.stats().invalidObjects, 1);
      assert.deepEqual(log, []);
    } finally {
      await informer.stop();
    }
  });

  it('asks for a server-side watch timeout between 5 and 10 minutes by default', async () => {
    const lw = new FakeLW();
    const informer = new Informer<Thing>(lw, { backoff: fast.backoff });
    informer.start();
    try {
      await eventually(() => (lw.watches.length > 0 ? true : undefined), 'a watch');
      const [timeout] = lw.timeouts;
      assert.ok(timeout !== undefined && timeout >= 300 && timeout < 600, `timeoutSeconds ${timeout}`);
    } finally {
      await informer.stop();
    }
  });

  it('stop() ends the watch, a pending backoff and sync waiters; nothing is delivered after', async () => {
    const lw = new FakeLW();
    const { informer, log } = await started(lw);
    const w = lw.current();
    await informer.stop();
    assert.ok(w.signal.aborted);
    w.push({ type: 'ADDED', object: thing('x', 99) });
    await settle();
    assert.deepEqual(log, []);
    await informer.stop();

    // Stopped while backing off after a failed list, before any sync.
    const failing = new FakeLW();
    failing.listError = new KubeTransportError('down');
    // Time never moves: stop() can only return by cancelling the backoff.
    const clock = new FakeClock();
    const slow = new Informer<Thing>(failing, { clock, backoff: { initialMs: 60_000, maxMs: 60_000 } });
    slow.start();
    const synced = slow.waitForSync();
    await eventually(
      () => failing.lists === 1 && clock.pendingTimers === 1,
      'the backoff after the failed list',
    );
    await slow.stop();
    assert.equal(clock.pendingTimers, 0, 'the backoff was cancelled');
    assert.equal(await synced, false);
    assert.throws(() => slow.start(), /already stopped/);
  });
});
