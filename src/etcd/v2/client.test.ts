import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countLeaves, keysPath, type V2NodeT } from './client.ts';

describe('v2 helpers', () => {
  it('counts leaf keys at every level, not directories', () => {
    const tree: V2NodeT = {
      key: '/a',
      dir: true,
      nodes: [
        { key: '/a/b', dir: true, nodes: [{ key: '/a/b/c' }] },
        { key: '/a/d' },
        {
          key: '/a/e',
          dir: true,
          nodes: [{ key: '/a/e/f', dir: true, nodes: [{ key: '/a/e/f/g' }, { key: '/a/e/f/h' }] }],
        },
        { key: '/a/empty', dir: true },
      ],
    };
    assert.equal(countLeaves(tree), 4n);
    assert.equal(countLeaves({ key: '/single' }), 1n);
    assert.equal(countLeaves({ dir: true }), 0n);
  });

  it('counts a very deep tree without recursion', () => {
    let node: V2NodeT = { key: '/leaf' };
    for (let i = 0; i < 100_000; i++) node = { dir: true, nodes: [node, { key: `/x${i}` }] };
    assert.equal(countLeaves(node), 100_001n);
  });

  it('builds key paths with encoded segments', () => {
    assert.equal(keysPath('/registry/pods'), '/v2/keys/registry/pods');
    assert.equal(keysPath('registry'), '/v2/keys/registry');
    assert.equal(keysPath('/'), '/v2/keys/');
    assert.equal(keysPath('/a b/ü?#'), '/v2/keys/a%20b/%C3%BC%3F%23');
  });
});
