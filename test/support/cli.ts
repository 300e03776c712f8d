import { spawn } from 'node:child_process';
import type { TestClusterTls } from '../../src/testbed/index.ts';

/** The project's binary, as users run it. */
export const BIN = new URL('../../bin/etcd-monitor.js', import.meta.url).pathname;

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `etcd-monitor ARGS` to completion (killed after timeoutMs), with `env` added to the environment. */
export function cli(
  args: readonly string[],
  timeoutMs = 60_000,
  env: Readonly<Record<string, string>> = {},
): Promise<CliResult> {
  return runToEnd(process.execPath, [BIN, ...args], timeoutMs, env);
}

/**
 * Runs COMMAND ARGS to completion (killed after timeoutMs), with `env` added;
 * its exit code and output. `input`, when given, is written to its stdin.
 */
export function runToEnd(
  command: string,
  args: readonly string[],
  timeoutMs = 60_000,
  env: Readonly<Record<string, string>> = {},
  input?: string,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const options = { timeout: timeoutMs, env: { ...process.env, ...env } };
    const child =
      input === undefined
        ? spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn(command, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin?.end(input);
  });
}

/** Runs `etcd-monitor ARGS` with `input` on its stdin (e.g. `-` for a file argument). */
export function cliWithInput(args: readonly string[], input: string): Promise<CliResult> {
  return runToEnd(process.execPath, [BIN, ...args], 60_000, {}, input);
}

/** etcdctl's TLS flags for a test-bed cluster's client certificate; `caFile` replaces its CA. */
export function tlsFlags(tls: TestClusterTls, caFile = tls.caFile): string[] {
  return ['--cacert', caFile, '--cert', tls.certFile, '--key', tls.keyFile];
}
