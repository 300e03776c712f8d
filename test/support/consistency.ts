/**
 * What the consistency integration tests share: hack/tools' bbolt-edit (a
 * real divergence on a stopped member's disk), the rounds of a consistency
 * feature as the store records them, a continuous writer, a preload.
 */
import { execFile } from 'node:child_process';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { InspectionServer } from '../../src/inspection-server.ts';
import type { EtcdV3MemberClient } from '../../src/etcd/types.ts';
import type { FeatureRun } from '../../src/engine/snapshot.ts';
import type { FeatureRequest } from '../../src/engine/contract.ts';
import type { ConsistencyDetails, ConsistencyMember } from '../../src/features/consistency/consistency.ts';
import { eventually } from '../../src/testing/wait.ts';
import type { EtcdVersion, StartClusterOptions, TestCluster } from '../../src/testbed/index.ts';
import { clusterForTest, v3ClientFor } from './clusters.ts';
import { hostPort } from './specs.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

let bboltEditPath: Promise<string> | undefined;
/** hack/tools' bbolt-edit, built (once, cached outside the repo) by hack/build-tools.sh. */
export async function bboltEdit(args: readonly string[]): Promise<Record<string, unknown>> {
  bboltEditPath ??= run('bash', [`${ROOT}hack/build-tools.sh`], { timeout: 300_000 }).then((r) =>
    r.stdout.trim(),
  );
  const { stdout } = await run(await bboltEditPath, args, { timeout: 30_000 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** A consistency feature spec: every second, with room in the round for a dead member's deadlines. */
export function consistency(options: Record<string, unknown> = {}): FeatureRequest {
  return { intervalSeconds: 1, timeoutSeconds: 8, options };
}

/** Every round of the consistency feature of one cluster, as the store records them. */
export class Rounds {
  readonly runs: FeatureRun[] = [];
  readonly #stop: () => void;

  constructor(daemon: InspectionServer, id: string) {
    let seen = 0;
    this.#stop = daemon.store.subscribe((cid, snap) => {
      const f = cid === id ? snap?.features.consistency : undefined;
      if (f?.last === undefined || f.runs === seen) return;
      seen = f.runs;
      this.runs.push(f.last);
    });
  }

  get last(): FeatureRun | undefined {
    return this.runs.at(-1);
  }

  /** Waits for a round after now that satisfies check. */
  async next(
    check: (run: FeatureRun, details: ConsistencyDetails) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<FeatureRun> {
    const from = this.runs.length;
    try {
      return await eventually(
        () =>
          this.runs.slice(from).find((r) => r.details !== null && check(r, r.details as ConsistencyDetails)),
        what,
        timeoutMs,
      );
    } catch (err) {
      const last = this.last;
      throw new Error(
        `${(err as Error).message}; last round: ${last?.ok === false ? `failed: ${last.error}` : last?.summary}`,
        { cause: err },
      );
    }
  }

  /** The rounds that end after this call, once there are n of them. */
  async collect(n: number, timeoutMs = 30_000): Promise<FeatureRun[]> {
    const from = this.runs.length;
    return eventually(
      () => (this.runs.length >= from + n ? this.runs.slice(from, from + n) : undefined),
      `${n} rounds`,
      timeoutMs,
    );
  }

  close(): void {
    this.#stop();
  }
}

export const detailsOf = (r: FeatureRun): ConsistencyDetails => r.details as ConsistencyDetails;
export const member = (r: FeatureRun, url: string): ConsistencyMember =>
  detailsOf(r).members.find((m) => m.endpoint === hostPort(url))!;

/** Continuous v3 writes (`loops` in parallel) that change the key count all the time: new keys, and some deleted. */
export class Writer {
  #stopped = false;
  #done: Promise<void>;
  writes = 0;

  constructor(client: EtcdV3MemberClient, prefix: string, loops = 3) {
    const loop = async (l: number): Promise<void> => {
      for (let n = 0; !this.#stopped; n++) {
        try {
          await client.put(`${prefix}${l}/${n}`, `v${n}`);
          if (n % 3 === 2) await client.deleteRange(`${prefix}${l}/${n - 1}`);
          this.writes++;
        } catch {
          // A member of the cluster restarting can make a write fail; keep going.
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    this.#done = Promise.all(Array.from({ length: loops }, (_, l) => loop(l))).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

export async function preload(client: EtcdV3MemberClient, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await client.put(`/data/k${String(i).padStart(4, '0')}`, `value-${i}`);
}

/**
 * A test-bed cluster (named `name` plus the etcd version without its dot)
 * with `keys` keys preloaded through a v3 client on its first member; both
 * are owned by test `t`.
 */
export async function preloadedCluster(
  t: TestContext,
  opts: StartClusterOptions & { version: EtcdVersion; name: string; keys: number },
): Promise<{ cluster: TestCluster; client: EtcdV3MemberClient }> {
  const { keys, ...start } = opts;
  const cluster = await clusterForTest(t, { ...start, name: `${opts.name}${opts.version.replace('.', '')}` });
  const client = v3ClientFor(t, cluster);
  await preload(client, keys);
  return { cluster, client };
}
