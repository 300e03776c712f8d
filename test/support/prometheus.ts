/**
 * Debian's Prometheus for the tests: promtool, the project's alert rules, and
 * a real Prometheus server (127.0.0.1, temp dir, short scrape interval) that
 * the caller stops.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { freePort } from '../../src/testbed/index.ts';
import { logTail, spawnTracked, trackDir, untrackDir } from '../../src/testbed/processes.ts';
import { eventually } from '../../src/testing/wait.ts';
import { errorMessage } from '../../src/errors.ts';

export const RULES_FILE = new URL('../../deploy/prometheus/etcd-monitor.rules.yaml', import.meta.url)
  .pathname;

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

/** Every alerting rule of deploy/prometheus/etcd-monitor.rules.yaml. */
export async function readAlertRules(): Promise<AlertRule[]> {
  const file = parse(await readFile(RULES_FILE, 'utf8')) as { groups: { rules: AlertRule[] }[] };
  return file.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
}

/** Runs promtool to completion; stdin is written when given. */
export function promtool(
  args: readonly string[],
  input?: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 120_000 });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(input ?? '');
  });
}

/** One series of an instant query result. */
export interface PromSeries {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface PrometheusServer {
  readonly url: string;
  /** An instant query; throws with Prometheus' error (a parse error names the query). */
  query(expr: string): Promise<PromSeries[]>;
  /** GET /api/v1/<path> and return `data`. */
  api<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** host:port of each target, scraped as job "etcd-monitor". */
  readonly targets: readonly string[];
  /** Rule files loaded by the server. */
  readonly ruleFiles?: readonly string[];
  readonly scrapeIntervalSeconds?: number;
}

/** Starts /usr/bin/prometheus on 127.0.0.1 with its data in a temp dir. */
export async function startPrometheus(opts: StartPrometheusOptions): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-prometheus-'));
  trackDir(dir);
  const interval = `${opts.scrapeIntervalSeconds ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: [{ job_name: 'etcd-monitor', static_configs: [{ targets: opts.targets }] }],
  };
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(dir, 'prometheus.log');
  const log = openSync(logFile, 'a');
  const { child, exited } = spawnTracked(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', log, log], killWithParent: true },
  );
  closeSync(log); // the child has its own copy
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    untrackDir(dir);
    await rm(dir, { recursive: true, force: true });
  };
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data?: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.errorType}: ${body.error}`);
    return body.data as T;
  };
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`prometheus exited ${child.exitCode}: ${await logTail(logFile)}`);
        const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) }).catch(
          () => undefined,
        );
        return res?.status === 200 ? true : undefined;
      },
      'prometheus ready',
      60_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    api,
    async query(expr) {
      const data = await api<{ resultType: string; result: PromSeries[] | [number, string] }>(
        `query?query=${encodeURIComponent(expr)}`,
      ).catch((err: unknown) => {
        throw new Error(`query ${expr}: ${errorMessage(err)}`);
      });
      // A scalar (e.g. vector(0) folded) counts as one value.
      if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
      return data.result as PromSeries[];
    },
    stop,
  };
}
