/** Shared helpers of the access-layer integration tests. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Secret } from '../../src/etcd/secret.ts';
import { EtcdError, type ClientOptions, type WatchMessage } from '../../src/etcd/types.ts';
import type { EtcdVersion, TestCluster } from '../../src/testbed/index.ts';

/** Client options for a test cluster: its CA, client certificate and credentials. */
export function optionsFor(cluster: TestCluster, overrides: Partial<ClientOptions> = {}): ClientOptions {
  return {
    dialTimeoutMs: 2_000,
    requestTimeoutMs: 5_000,
    ...(cluster.tls !== undefined && {
      tls: { ca: cluster.tls.ca, cert: cluster.tls.cert, key: new Secret(cluster.tls.key) },
    }),
    ...(cluster.auth !== undefined && {
      auth: { username: cluster.auth.username, password: new Secret(cluster.auth.password) },
    }),
    ...overrides,
  };
}

/** etcd's flag for periodic watch progress notifications (renamed in 3.6). */
export function progressNotifyFlag(version: EtcdVersion, interval: string): string {
  return version === '3.6'
    ? `--watch-progress-notify-interval=${interval}`
    : `--experimental-watch-progress-notify-interval=${interval}`;
}

/**
 * Reads watch messages until `done` says enough, or fails after `timeoutMs`
 * (the watch is then aborted, which ends the iterator cleanly).
 */
export async function readWatch(
  open: (signal: AbortSignal) => AsyncIterable<WatchMessage>,
  done: (messages: readonly WatchMessage[]) => boolean,
  timeoutMs = 10_000,
): Promise<WatchMessage[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const messages: WatchMessage[] = [];
  try {
    for await (const m of open(ac.signal)) {
      messages.push(m);
      if (done(messages)) break;
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  if (!done(messages)) {
    throw new Error(
      `watch: condition not met after ${timeoutMs} ms; got ${messages.map((m) => m.kind).join(', ') || 'nothing'}`,
    );
  }
  return messages;
}

/** A TCP server that accepts connections and never answers: a dial that can never complete. */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return {
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const s = await silentServer();
  await s.close();
  return s.port;
}

/** Asserts that `p` rejects with an EtcdError of `code`, and returns it. */
export async function rejectsWith(p: Promise<unknown>, code: EtcdError['code']): Promise<EtcdError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EtcdError, `expected EtcdError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected an EtcdError ${code}, but the call succeeded`);
}

/**
 * Fails when p has not settled within ms. Only a guard against a hang, set
 * far above what the call should take (tens of times): never a measurement.
 */
export async function settlesWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
  }
}
