import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry, UnknownNameError } from './registry.ts';

interface Item {
  readonly name: string;
}

test('registry builds each item once, on first use', () => {
  const registry = new Registry<Item>('widget', (item) => item.name);
  let built = 0;
  registry.register('b', () => ({ name: 'b' }));
  registry.register('a', () => {
    built++;
    return { name: 'a' };
  });
  assert.equal(built, 0);
  assert.deepEqual(registry.names(), ['a', 'b']);
  assert.equal(registry.get('a'), registry.get('a'));
  assert.equal(built, 1);
  assert.deepEqual(
    registry.list().map((i) => i.name),
    ['a', 'b'],
  );
  assert.equal(registry.has('a'), true);
  assert.equal(registry.has('c'), false);
  assert.equal(registry.find('c'), undefined);
});

test('registry names the known items for an unknown one', () => {
  const registry = new Registry<Item>('widget', (item) => item.name);
  registry.register('a', () => ({ name: 'a' }));
  registry.register('b', () => ({ name: 'b' }));
  assert.throws(() => registry.get('zz'), {
    name: UnknownNameError.name,
    message: 'unknown widget "zz" (known: a, b)',
  });
});

test('registry rejects bad and duplicate names and a factory that builds the wrong item', () => {
  const registry = new Registry<Item>('widget', (item) => item.name);
  assert.throws(() => registry.register('Bad_Name', () => ({ name: 'x' })), /invalid widget name "Bad_Name"/);
  registry.register('a', () => ({ name: 'a' }));
  assert.throws(() => registry.register('a', () => ({ name: 'a' })), /widget "a" is already registered/);
  registry.register('c', () => ({ name: 'd' }));
  assert.throws(() => registry.get('c'), /widget factory "c" built "d"/);
});
