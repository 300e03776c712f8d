/**
 * Bounds on input (issue 13, point 6): oversized, too deep, alias-bombed
 * and too-many-clusters config files are refused at once naming the file,
 * in people's words; out-of-range numeric flags are usage errors (exit 2).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFIG_LIMITS } from '../../src/config/loader.ts';
import { cli } from '../support/cli.ts';
import { suiteTempDir } from '../../src/testing/temp-dir.ts';

function aliasBomb(): string {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
  let prev = 'a';
  for (let i = 1; i < 9; i++) {
    const name = `n${i}`;
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    prev = name;
  }
  lines.push(`clusters: *${prev}`);
  return `${lines.join('\n')}\n`;
}

describe('config files beyond the documented limits', () => {
  const dir = suiteTempDir('etcd-monitor-limits-');

  const cluster = (i: number): string => `  - {name: c${i}, endpoints: [http://127.0.0.1:2379]}\n`;
  const cases: [string, () => string, RegExp][] = [
    [
      'too large',
      () => `# ${'x'.repeat(CONFIG_LIMITS.bytes)}\nclusters: []\n`,
      /bytes, more than the limit of 16777216 bytes \(16 MiB\)/,
    ],
    [
      'too many clusters',
      () => `clusters:\n${Array.from({ length: CONFIG_LIMITS.clusters + 1 }, (_, i) => cluster(i)).join('')}`,
      /10001 clusters, more than the limit of 10000 per monitor/,
    ],
    [
      'nested 5,000 deep (flow)',
      () => `clusters: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
      /nested deeper than 64 levels/,
    ],
    [
      'nested 100 deep (block)',
      () => `clusters:\n${Array.from({ length: 100 }, (_, i) => `${'  '.repeat(i + 1)}-\n`).join('')}`,
      /nested deeper than 64 levels/,
    ],
    ['alias expansion (billion laughs)', aliasBomb, /YAML aliases expand too much/],
  ];
  for (const [name, content, message] of cases) {
    for (const mode of [['--check-config'], ['--listen', '127.0.0.1:0']]) {
      test(`${name}: ${mode[0]} refuses it naming the file`, async () => {
        const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
        await writeFile(file, content());
        const r = await cli(['run', '--config', file, ...mode]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, new RegExp(`config ${file.replace(/[.]/g, '\\.')}: `));
        assert.match(r.stderr, message);
        assert.doesNotMatch(r.stderr, /call stack|resource exhaustion|parseAllDocuments|union value/i);
      });
    }
  }
});

describe('numeric flags out of range', () => {
  const cases: [string[], RegExp][] = [
    [
      ['inspect', '--endpoints', 'http://127.0.0.1:1', '--timeout', '1e300'],
      /--timeout must be a positive duration up to 24 h/,
    ],
    [
      ['inspect', '--endpoints', 'http://127.0.0.1:1', '--dial-timeout', '-1'],
      /--dial-timeout must be a positive duration/,
    ],
    [
      ['inspect', '--endpoints', 'http://127.0.0.1:1', '--command-timeout', 'NaN'],
      /--command-timeout must be/,
    ],
    [
      ['run', '--config', '/dev/null', '--max-requests', '1e9'],
      /--max-requests must be an integer from 1 to 1000000/,
    ],
    [
      ['run', '--config', '/dev/null', '--max-concurrent-rounds', '0'],
      /--max-concurrent-rounds must be an integer/,
    ],
    [
      ['run', '--config', '/dev/null', '--shutdown-timeout', '1e300'],
      /--shutdown-timeout must be a positive duration/,
    ],
  ];
  for (const [args, message] of cases) {
    test(`${args.slice(-2).join(' ')}: usage error, exit 2`, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    });
  }
});
