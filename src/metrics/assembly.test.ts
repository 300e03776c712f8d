import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ExpositionAssembly, type PartText } from './assembly.ts';

const FAMILIES = ['a', 'b', 'c'].map((name) => ({ name, header: `# TYPE ${name} gauge\n` }));

/** A part with one line per family named, at the family's index in FAMILIES. */
function part(cluster: string, slot: string, families: string[]): PartText {
  return {
    families: families.map((f) => FAMILIES.findIndex((d) => d.name === f)),
    bytes: families.map((f) => Buffer.from(`${f}{cluster="${cluster}",slot="${slot}"} 1\n`)),
  };
}

test('each family once under its header, its samples cluster after cluster, parts in their order', () => {
  const text = new ExpositionAssembly(FAMILIES)
    .assemble([
      [part('x', 'members', ['a', 'b']), part('x', 'healthy', ['c', 'a'])],
      // Multi-byte label values: sizes are bytes, not characters.
      [part('ÿ€', 'healthy', ['a'])],
    ])
    .toString();
  assert.equal(
    text,
    [
      '# TYPE a gauge',
      'a{cluster="x",slot="members"} 1',
      'a{cluster="x",slot="healthy"} 1',
      'a{cluster="ÿ€",slot="healthy"} 1',
      '# TYPE b gauge',
      'b{cluster="x",slot="members"} 1',
      '# TYPE c gauge',
      'c{cluster="x",slot="healthy"} 1',
      '',
    ].join('\n'),
  );
  assert.equal(new ExpositionAssembly(FAMILIES).assemble([]).toString(), '');
  assert.equal(new ExpositionAssembly(FAMILIES).assemble([[part('x', 'members', [])]]).toString(), '');
});

test('steps() yields while it works and makes the same bytes as assemble()', () => {
  const clusters = Array.from({ length: 200 }, (_, i) => [
    part(`c${i}`, 'members', ['b', 'a']),
    part(`c${i}`, 'alarm', ['c']),
  ]);
  const steps = new ExpositionAssembly(FAMILIES).steps(clusters);
  let yields = 0;
  let step = steps.next();
  while (!step.done) {
    yields++;
    step = steps.next();
  }
  assert.ok(yields >= 4, `${yields} yields`);
  const whole = new ExpositionAssembly(FAMILIES).assemble(clusters);
  assert.equal(Buffer.concat(step.value.chunks).toString(), whole.toString());
  assert.equal(step.value.length, whole.length);
  assert.match(whole.toString(), /^# TYPE a gauge\na\{cluster="c0",slot="members"\} 1\na\{cluster="c1",/);
});

test('an output buffer is reused only once nothing references the exposition written into it', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const collect = async (): Promise<void> => {
    gc();
    // Finalization callbacks run in a task of their own after the collection.
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  };
  const assembly = new ExpositionAssembly(FAMILIES);
  const round = (n: number): PartText[][] =>
    Array.from({ length: 100 }, (_, i) => [part(`c${i}-${n}`, 'members', ['a', 'b'])]);
  let first: Buffer | undefined = assembly.assemble(round(1));
  const text = first.toString();
  await collect();
  // Still referenced: the next exposition is written elsewhere.
  const second = assembly.assemble(round(2));
  assert.notEqual(second.buffer, first.buffer);
  assert.equal(first.toString(), text);
  // Nothing references `first` any more (only its memory is remembered here): that memory is written again.
  const memory = first.buffer;
  first = undefined;
  await collect();
  const third = assembly.assemble(round(3));
  assert.equal(third.buffer, memory);
  assert.equal(third.toString(), new ExpositionAssembly(FAMILIES).assemble(round(3)).toString());
});
