/**
 * Where a process's heap goes, from a V8 heap snapshot (.heapsnapshot):
 * retained sizes (the memory that would be freed with the object, through
 * the dominator tree, as Chrome DevTools computes them) of the instances of
 * chosen classes, summed per class, and the informers' caches by name.
 * Prints figures; asserts nothing.
 *
 * Run: node bench/heap-split.ts FILE.heapsnapshot [Class ...]
 * Used by bench/shard-memory.ts on a replica of the sharded operator.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface RawSnapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[]];
      edge_fields: string[];
      edge_types: [string[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface HeapGraph {
  readonly count: number;
  readonly type: (n: number) => string;
  readonly name: (n: number) => string;
  readonly selfSize: Float64Array;
  readonly retained: Float64Array;
  /** The immediate dominator of n (-1 when unreachable; the root is its own). */
  readonly dominator: (n: number) => number;
  /** Out-edges of n: [edge type, edge name, target]. */
  readonly edges: (n: number) => Iterable<[string, string, number]>;
  readonly total: number;
}

/** Parses the snapshot and computes every node's retained size (Cooper–Harvey–Kennedy dominators; weak edges ignored). */
export function loadHeap(path: string): HeapGraph {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as RawSnapshot;
  const meta = raw.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const nType = meta.node_fields.indexOf('type');
  const nName = meta.node_fields.indexOf('name');
  const nSize = meta.node_fields.indexOf('self_size');
  const nEdges = meta.node_fields.indexOf('edge_count');
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  const elementish = new Set([edgeTypes.indexOf('element'), edgeTypes.indexOf('hidden')]);
  const count = raw.nodes.length / nf;
  const firstEdge = new Uint32Array(count + 1);
  for (let n = 0, e = 0; n < count; n++) {
    firstEdge[n] = e;
    e += raw.nodes[n * nf + nEdges]! * ef;
    firstEdge[n + 1] = e;
  }
  const selfSize = new Float64Array(count);
  for (let n = 0; n < count; n++) selfSize[n] = raw.nodes[n * nf + nSize]!;
  const strong = (e: number): boolean => {
    const t = raw.edges[e + eType]!;
    return t !== weak && t !== shortcut;
  };

  // Post-order from the root (node 0), iteratively.
  const order = new Int32Array(count).fill(-1);
  const postOrder = new Int32Array(count);
  let visited = 0;
  const stack: number[] = [0];
  const cursor = new Uint32Array(count);
  const seen = new Uint8Array(count);
  seen[0] = 1;
  for (let n = 0; n < count; n++) cursor[n] = firstEdge[n]!;
  while (stack.length > 0) {
    const n = stack[stack.length - 1]!;
    let pushed = false;
    while (cursor[n]! < firstEdge[n + 1]!) {
      const e = cursor[n]!;
      cursor[n] = e + ef;
      if (!strong(e)) continue;
      const to = raw.edges[e + eTo]! / nf;
      if (seen[to] === 1) continue;
      seen[to] = 1;
      stack.push(to);
      pushed = true;
      break;
    }
    if (!pushed) {
      stack.pop();
      order[n] = visited;
      postOrder[visited++] = n;
    }
  }

  // Predecessors (strong edges between reachable nodes), CSR.
  const predCount = new Uint32Array(count + 1);
  for (let n = 0; n < count; n++) {
    if (order[n] === -1) continue;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += ef) {
      if (!strong(e)) continue;
      const to = raw.edges[e + eTo]! / nf;
      if (order[to] !== -1) predCount[to + 1]!++;
    }
  }
  for (let n = 0; n < count; n++) predCount[n + 1]! += predCount[n]!;
  const preds = new Uint32Array(predCount[count]!);
  const fill = predCount.slice(0, count);
  for (let n = 0; n < count; n++) {
    if (order[n] === -1) continue;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += ef) {
      if (!strong(e)) continue;
      const to = raw.edges[e + eTo]! / nf;
      if (order[to] !== -1) preds[fill[to]!++] = n;
    }
  }

  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number): number => {
    let x = a;
    let y = b;
    while (x !== y) {
      while (order[x]! < order[y]!) x = idom[x]!;
      while (order[y]! < order[x]!) y = idom[y]!;
    }
    return x;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = visited - 2; i >= 0; i--) {
      const n = postOrder[i]!;
      let dom = -1;
      for (let p = predCount[n]!; p < predCount[n + 1]!; p++) {
        const pred = preds[p]!;
        if (idom[pred] === -1) continue;
        dom = dom === -1 ? pred : intersect(pred, dom);
      }
      if (dom !== -1 && idom[n] !== dom) {
        idom[n] = dom;
        changed = true;
      }
    }
  }
  const retained = Float64Array.from(selfSize);
  for (let i = 0; i < visited - 1; i++) {
    const n = postOrder[i]!;
    if (idom[n]! >= 0 && idom[n] !== n) retained[idom[n]!]! += retained[n]!;
  }
  return {
    count,
    type: (n) => nodeTypes[raw.nodes[n * nf + nType]!] ?? '?',
    name: (n) => raw.strings[raw.nodes[n * nf + nName]!] ?? '?',
    selfSize,
    retained,
    dominator: (n) => idom[n]!,
    total: retained[0]!,
    *edges(n) {
      for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += ef) {
        const t = raw.edges[e + eType]!;
        const nameOrIndex = raw.edges[e + eName]!;
        const name = elementish.has(t) ? String(nameOrIndex) : (raw.strings[nameOrIndex] ?? '?');
        yield [edgeTypes[t] ?? '?', name, raw.edges[e + eTo]! / nf];
      }
    },
  };
}

/** Instances of the class (a JS object whose constructor is named so). */
export function instances(heap: HeapGraph, className: string): number[] {
  const out: number[] = [];
  for (let n = 0; n < heap.count; n++)
    if (heap.type(n) === 'object' && heap.name(n) === className) out.push(n);
  return out;
}

/** The node an object's property (or private field) `name` points to. */
export function field(heap: HeapGraph, n: number, name: string): number | undefined {
  for (const [, edge, to] of heap.edges(n)) if (edge === name) return to;
  return undefined;
}

/** A string node's text; a concatenated string (a rope) is joined from its parts. */
export function text(heap: HeapGraph, n: number): string {
  if (heap.type(n) !== 'concatenated string') return heap.name(n);
  const first = field(heap, n, 'first');
  const second = field(heap, n, 'second');
  return (first === undefined ? '' : text(heap, first)) + (second === undefined ? '' : text(heap, second));
}

export const DEFAULT_CLASSES = [
  'Informer',
  'Store',
  'Engine',
  'SnapshotStore',
  'ClusterRuntime',
  'SharedClients',
  'EtcdClusterController',
  'EtcdInspectionController',
  'Controller',
  'WorkQueue',
  'CountingEventRecorder',
  'SpecCache',
  'InspectionServer',
  'ShardMembership',
];

export interface HeapSplit {
  readonly total: number;
  /** Class → [instances, summed retained bytes]. */
  readonly byClass: [string, number, number][];
  /** Informer name → [objects' store retained bytes]. */
  readonly informers: [string, number][];
  /** Biggest self sizes by constructor (or node type). */
  readonly topSelf: [string, number][];
}

export function splitHeap(heap: HeapGraph, classes: readonly string[] = DEFAULT_CLASSES): HeapSplit {
  const byClass: [string, number, number][] = classes.map((c) => {
    const all = instances(heap, c);
    return [c, all.length, all.reduce((sum, n) => sum + heap.retained[n]!, 0)];
  });
  const informers: [string, number][] = instances(heap, 'Informer').map((n) => {
    const nameNode = field(heap, n, 'name');
    const label = nameNode === undefined ? '?' : text(heap, nameNode);
    const store = field(heap, n, '#store');
    return [label, store === undefined ? heap.retained[n]! : heap.retained[store]!];
  });
  const self = new Map<string, number>();
  for (let n = 0; n < heap.count; n++) {
    const t = heap.type(n);
    const key = t === 'object' || t === 'native' ? heap.name(n) : `(${t})`;
    self.set(key, (self.get(key) ?? 0) + heap.selfSize[n]!);
  }
  const topSelf = [...self].sort((a, b) => b[1] - a[1]).slice(0, 15);
  return { total: heap.total, byClass, informers, topSelf };
}

export function formatSplit(split: HeapSplit): string {
  const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  const lines = [`live heap (snapshot total): ${mib(split.total)}`, 'retained by class (instances):'];
  for (const [c, n, bytes] of split.byClass) if (n > 0) lines.push(`  ${c} (${n}): ${mib(bytes)}`);
  lines.push('informer caches (retained by each store):');
  for (const [name, bytes] of split.informers) lines.push(`  ${name}: ${mib(bytes)}`);
  lines.push('self size by constructor (top 15):');
  for (const [name, bytes] of split.topSelf) lines.push(`  ${name}: ${mib(bytes)}`);
  return lines.join('\n');
}

if (import.meta.main) {
  const { positionals } = parseArgs({ allowPositionals: true });
  const [file, ...classes] = positionals;
  if (file === undefined) throw new Error('usage: node bench/heap-split.ts FILE.heapsnapshot [Class ...]');
  console.log(formatSplit(splitHeap(loadHeap(file), classes.length > 0 ? classes : DEFAULT_CLASSES)));
}
