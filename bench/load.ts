/**
 * Write-load generator for the benchmarks (prints figures; asserts nothing).
 * N concurrent writers put and delete Kubernetes-like keys
 * (`/registry/<resource>/<namespace>/<name>`, a custom resource among them),
 * bounded in time and in operations, on 127.0.0.1 only. Writers spread over
 * the members (a follower forwards to the leader, as for kube-apiservers
 * talking to different members).
 *
 * Reusable: runLoad() and findMaxRate() are imported by bench/request.ts.
 * Alone:
 *   node bench/load.ts --endpoints http://127.0.0.1:2379,... --concurrency 16 --seconds 10 [--max-ops N] [--json] [--acks]
 *   node bench/load.ts --endpoints ... --find-max [--step-seconds 4]
 */
import { parseArgs } from 'node:util';
import { parseEndpoint, type Endpoint } from '../src/etcd/endpoint.ts';
import type { ClientOptions, EtcdV3MemberClient } from '../src/etcd/types.ts';
import { createV3MemberClient } from '../src/etcd/v3/client.ts';
import { summary, table } from './support.ts';

export interface LoadOptions {
  readonly endpoints: readonly string[];
  readonly concurrency: number;
  readonly durationMs: number;
  /** Stops after this many operations in all (default: unbounded within the duration). */
  readonly maxOps?: number;
  readonly valueBytes?: number;
  /** Share of operations that delete one of the writer's keys (default 0.2). */
  readonly deleteRatio?: number;
  /** Share of operations that update one of the writer's keys (default 0.3); the rest create keys. */
  readonly updateRatio?: number;
  /** Distinguishes the keys of several runs on one cluster. */
  readonly runId?: string;
  readonly client?: Partial<ClientOptions>;
  readonly signal?: AbortSignal;
  /** Called with the revision of every acknowledged write and when it was acknowledged (Unix ms, sub-ms precision). */
  readonly onAck?: (revision: bigint, atEpochMs: number) => void;
}

export interface LoadResult {
  readonly concurrency: number;
  readonly seconds: number;
  readonly ops: number;
  readonly puts: number;
  readonly deletes: number;
  readonly errors: number;
  readonly opsPerSecond: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly lastRevision: string;
}

/** Kubernetes-like key shapes: namespaced, cluster-scoped and a custom resource. */
const RESOURCES: readonly ((ns: string, name: string) => string)[] = [
  (ns, n) => `/registry/pods/${ns}/${n}`,
  (ns, n) => `/registry/configmaps/${ns}/${n}`,
  (ns, n) => `/registry/secrets/${ns}/${n}`,
  (ns, n) => `/registry/events/${ns}/${n}`,
  (ns, n) => `/registry/leases/${ns}/${n}`,
  (ns, n) => `/registry/endpointslices/${ns}/${n}`,
  (ns, n) => `/registry/deployments/${ns}/${n}`,
  (_ns, n) => `/registry/nodes/${n}`,
  (ns, n) => `/registry/example.com/widgets/${ns}/${n}`,
  (ns, n) => `/registry/apps.example.com/gadgets/${ns}/${n}`,
];

const MAX_CONCURRENCY = 512;

function loopbackOnly(endpoints: readonly string[]): Endpoint[] {
  return endpoints.map((url) => {
    const e = parseEndpoint(url);
    if (e.host !== '127.0.0.1' && e.host !== 'localhost' && e.host !== '::1') {
      throw new Error(`load generator: ${url} is not a loopback endpoint (127.0.0.1 only)`);
    }
    return e;
  });
}

/** Runs the load until the duration, the operation budget or the signal ends it. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  if (!(opts.concurrency >= 1 && opts.concurrency <= MAX_CONCURRENCY))
    throw new Error(`concurrency must be 1..${MAX_CONCURRENCY}`);
  if (!(opts.durationMs > 0)) throw new Error('durationMs must be > 0');
  const endpoints = loopbackOnly(opts.endpoints);
  const clientOptions: ClientOptions = { dialTimeoutMs: 5_000, requestTimeoutMs: 10_000, ...opts.client };
  const clients: EtcdV3MemberClient[] = endpoints.map((e) => createV3MemberClient(e, clientOptions));
  const value = Buffer.alloc(opts.valueBytes ?? 256, 'x');
  const deleteRatio = opts.deleteRatio ?? 0.2;
  const updateRatio = opts.updateRatio ?? 0.3;
  const maxOps = opts.maxOps ?? Number.POSITIVE_INFINITY;
  const runId = opts.runId ?? Date.now().toString(36);
  const deadline = performance.now() + opts.durationMs;
  const latencies: number[] = [];
  let started = 0;
  let puts = 0;
  let deletes = 0;
  let errors = 0;
  let lastRevision = 0n;
  const t0 = performance.now();

  const writer = async (w: number): Promise<void> => {
    const client = clients[w % clients.length]!;
    const live: string[] = [];
    let seq = 0;
    while (started < maxOps && performance.now() < deadline && opts.signal?.aborted !== true) {
      started++;
      const r = Math.random();
      const a = performance.now();
      try {
        if (live.length > 0 && r < deleteRatio) {
          const i = Math.floor(Math.random() * live.length);
          const key = live[i]!;
          live[i] = live[live.length - 1]!;
          live.pop();
          const { header } = await client.deleteRange(key);
          opts.onAck?.(header.revision, performance.timeOrigin + performance.now());
          if (header.revision > lastRevision) lastRevision = header.revision;
          deletes++;
        } else {
          let key: string;
          if (live.length > 0 && r < deleteRatio + updateRatio) {
            key = live[Math.floor(Math.random() * live.length)]!;
          } else {
            const shape = RESOURCES[seq % RESOURCES.length]!;
            key = shape(`ns-${w % 7}`, `${runId}-w${w}-${seq++}`);
            live.push(key);
          }
          const header = await client.put(key, value);
          opts.onAck?.(header.revision, performance.timeOrigin + performance.now());
          if (header.revision > lastRevision) lastRevision = header.revision;
          puts++;
        }
        latencies.push(performance.now() - a);
      } catch {
        errors++;
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => writer(w)));
  } finally {
    for (const c of clients) c.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const s = summary(latencies);
  return {
    concurrency: opts.concurrency,
    seconds,
    ops: puts + deletes,
    puts,
    deletes,
    errors,
    opsPerSecond: (puts + deletes) / seconds,
    latencyP50Ms: s.p50,
    latencyP99Ms: s.p99,
    lastRevision: lastRevision.toString(),
  };
}

export interface MaxRate {
  readonly best: LoadResult;
  readonly steps: readonly LoadResult[];
}

/**
 * Doubles the number of writers until the write rate stops growing: the
 * highest rate of the ramp is the one the cluster sustains (closed loop:
 * more writers past that only add latency).
 */
export async function findMaxRate(
  opts: Omit<LoadOptions, 'concurrency' | 'durationMs'> & {
    readonly stepMs?: number;
    readonly levels?: readonly number[];
  },
): Promise<MaxRate> {
  const steps: LoadResult[] = [];
  let best: LoadResult | undefined;
  let worse = 0;
  for (const concurrency of opts.levels ?? [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]) {
    const step = await runLoad({
      ...opts,
      concurrency,
      durationMs: opts.stepMs ?? 4_000,
      runId: `ramp${concurrency}-${Date.now().toString(36)}`,
    });
    steps.push(step);
    if (best === undefined || step.opsPerSecond > best.opsPerSecond) {
      // Less than 5 % more is noise, not growth.
      worse = best !== undefined && step.opsPerSecond < best.opsPerSecond * 1.05 ? worse + 1 : 0;
      best = step;
    } else {
      worse++;
    }
    if (worse >= 2) break;
  }
  return { best: best!, steps };
}

export function loadTable(results: readonly LoadResult[]): string {
  return table([
    ['writers', 'writes/s', 'puts', 'deletes', 'errors', 'latency p50', 'latency p99'],
    ...results.map((r) => [
      r.concurrency,
      r.opsPerSecond.toFixed(0),
      r.puts,
      r.deletes,
      r.errors,
      `${r.latencyP50Ms.toFixed(1)} ms`,
      `${r.latencyP99Ms.toFixed(1)} ms`,
    ]),
  ]);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      endpoints: { type: 'string' },
      concurrency: { type: 'string', default: '16' },
      seconds: { type: 'string', default: '10' },
      'max-ops': { type: 'string' },
      'value-bytes': { type: 'string', default: '256' },
      'find-max': { type: 'boolean', default: false },
      'step-seconds': { type: 'string', default: '4' },
      json: { type: 'boolean', default: false },
      acks: { type: 'boolean', default: false },
    },
  });
  if (values.endpoints === undefined) {
    console.error(
      'usage: node bench/load.ts --endpoints http://127.0.0.1:2379[,...] [--concurrency N] [--seconds S] [--max-ops N] [--find-max] [--json]',
    );
    process.exit(2);
  }
  const endpoints = values.endpoints.split(',');
  const common = {
    endpoints,
    valueBytes: Number(values['value-bytes']),
    ...(values['max-ops'] !== undefined ? { maxOps: Number(values['max-ops']) } : {}),
  };
  if (values['find-max']) {
    const { best, steps } = await findMaxRate({ ...common, stepMs: Number(values['step-seconds']) * 1000 });
    if (values.json) console.log(JSON.stringify({ best, steps }));
    else
      console.log(
        `${loadTable(steps)}\n\nhighest sustained: ${best.opsPerSecond.toFixed(0)} writes/s with ${best.concurrency} writers`,
      );
  } else {
    // --acks: one line "A <revision> <unix ms>" per acknowledged write, batched, for a reader measuring lag.
    let acks: string[] = [];
    const flush = (): void => {
      if (acks.length > 0) process.stdout.write(acks.join(''));
      acks = [];
    };
    const timer = values.acks ? setInterval(flush, 5) : undefined;
    const onAck = values.acks
      ? (rev: bigint, at: number): void => void acks.push(`A ${rev} ${at.toFixed(3)}\n`)
      : undefined;
    const result = await runLoad({
      ...common,
      concurrency: Number(values.concurrency),
      durationMs: Number(values.seconds) * 1000,
      ...(onAck !== undefined ? { onAck } : {}),
    });
    clearInterval(timer);
    flush();
    console.log(values.json ? JSON.stringify(result) : loadTable([result]));
  }
}
