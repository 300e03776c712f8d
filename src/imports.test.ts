/**
 * The import graph of src/: no cycles, and the layers the design names
 * (one engine, thin adapters) hold: the engine imports no adapter and no
 * feature, a feature reaches the engine only through its contract.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = dirname(new URL(import.meta.url).pathname);

interface Imports {
  /** Loaded with the module: these must not form a cycle. */
  readonly static: string[];
  /**
   * import('./x.ts'): loaded later, on demand (the CLI's command table loads
   * a command when it runs, and `completion` reads that table). Both modules
   * are fully initialised by then, so these do not count as cycles; the
   * layering rules still apply to them.
   */
  readonly dynamic: string[];
}

/** Every module of src/ (tests excluded) and the modules of src/ it imports, as paths relative to src/. */
function importGraph(): Map<string, Imports> {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  );
  const graph = new Map<string, Imports>();
  // Static imports and re-exports ("... from './x.ts'") and side-effect imports.
  const staticSpecifier = /(?:\bfrom\s+|\bimport\s+)'(\.{1,2}\/[^']+)'/g;
  const dynamicSpecifier = /\bimport\(\s*'(\.{1,2}\/[^']+)'/g;
  for (const file of files) {
    const text = readFileSync(join(SRC, file), 'utf8');
    const resolveAll = (re: RegExp): string[] =>
      [...text.matchAll(re)]
        .map((m) => relative(SRC, resolve(SRC, dirname(file), m[1]!)))
        .filter((d) => !d.startsWith('..'));
    graph.set(file, { static: resolveAll(staticSpecifier), dynamic: resolveAll(dynamicSpecifier) });
  }
  return graph;
}

/** Each cycle once, as "a.ts -> b.ts -> a.ts". */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const cycles: string[] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (node: string): void => {
    path.push(node);
    onPath.add(node);
    for (const next of graph.get(node) ?? []) {
      if (onPath.has(next)) cycles.push([...path.slice(path.indexOf(next)), next].join(' -> '));
      else if (!done.has(next)) visit(next);
    }
    path.pop();
    onPath.delete(node);
    done.add(node);
  };
  for (const node of [...graph.keys()].sort()) if (!done.has(node)) visit(node);
  return cycles;
}

test('findCycles finds a cycle and only cycles', () => {
  const graph = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts']],
    ['d.ts', ['a.ts']],
  ]);
  assert.deepEqual(findCycles(graph), ['a.ts -> b.ts -> c.ts -> a.ts']);
  assert.deepEqual(findCycles(new Map([['a.ts', ['b.ts']]])), []);
});

test('no import cycle under src/', () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, `found only ${graph.size} modules under ${SRC}`);
  assert.deepEqual(findCycles(new Map([...graph].map(([file, deps]) => [file, deps.static]))), []);
});

test('the engine imports no adapter and no feature; features reach the engine only through its contract', () => {
  const graph = importGraph();
  const wrong: string[] = [];
  for (const [file, deps] of graph) {
    for (const dep of [...deps.static, ...deps.dynamic]) {
      if (file.startsWith('engine/') && /^(features|config|controllers|k8s|providers|cli|server)\//.test(dep))
        wrong.push(`${file} imports ${dep}`);
      if (file.startsWith('features/') && dep.startsWith('engine/') && dep !== 'engine/contract.ts')
        wrong.push(`${file} imports ${dep} (features use engine/contract.ts only)`);
    }
  }
  assert.deepEqual(wrong, []);
});
