import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

test('every runbook section a finding points to exists in docs/runbooks.md', async () => {
  const runbooks = await readFile(join(ROOT, 'docs/runbooks.md'), 'utf8');
  const sections = new Set([...runbooks.matchAll(/^## (\S+)/gm)].map((m) => m[1]));
  const files = (await readdir(join(ROOT, 'src/features'), { recursive: true })).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  );
  let referenced = 0;
  for (const file of files) {
    const text = await readFile(join(ROOT, 'src/features', file), 'utf8');
    if (!text.includes('docs/runbooks.md')) continue;
    // Section names appear as (Name) after "see docs/runbooks.md" or as string literals chosen by level.
    for (const [, name] of text.matchAll(/[('`](Etcd[A-Z][A-Za-z]+)[)'`]/g)) {
      referenced++;
      assert.ok(
        sections.has(name),
        `${file} points to runbook section ${name}, which docs/runbooks.md lacks`,
      );
    }
  }
  assert.ok(
    referenced > 10,
    `found only ${referenced} references: the pattern no longer matches the findings`,
  );
});
