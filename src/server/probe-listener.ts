/**
 * The probe listener (--probe-listen): /healthz and /readyz on an address of
 * their own, served by a worker thread with its own event loop, so a kubelet
 * probe never waits behind the main listener's scrapes — not in its accept
 * queue, not behind its --max-connections/--max-requests, not behind the
 * main event loop writing 400 KiB answers to 200 connections (measured:
 * docs/performance.md, "Scrape storms").
 *
 * Answering from another thread must not hide a stuck process: the main
 * thread stamps a heartbeat into shared memory every 250 ms, and the probe
 * answers 503 once the heartbeat is older than EVENT_LOOP_STALL_LIMIT_MS (the
 * rounds, timers and the main listener are stuck: let the kubelet restart
 * the pod). Readiness is the main thread's flag, shared the same way.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import { parseListen } from './listen.ts';

/** Main event loop silent this long: /healthz and /readyz on the probe listener answer 503. */
export const EVENT_LOOP_STALL_LIMIT_MS = 10_000;
const HEARTBEAT_MS = 250;

/** Layout of the shared memory: [0] ready (Int32), [8..16) last heartbeat (hrtime ns, BigInt64). */
const READY = 0;
const BEAT_OFFSET = 8;

interface WorkerData {
  readonly host: string;
  readonly port: number;
  readonly stallLimitMs: number;
  readonly state: SharedArrayBuffer;
}

type WorkerMessage =
  | { readonly listening: string }
  | { readonly error: string; readonly code?: string | undefined };

/**
 * The worker's whole program. It runs from its source text (Worker `eval`),
 * so it imports nothing and uses no name from this module: the same text
 * works from the TypeScript checkout and from the esbuild bundle.
 */
function probeWorkerMain(): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const http = process.getBuiltinModule('node:http');
  const { host, port, stallLimitMs, state } = workerData as WorkerData;
  const flags = new Int32Array(state, 0, 1);
  const beat = new BigInt64Array(state, 8, 1);
  const send = (res: import('node:http').ServerResponse, code: number, body: string): void => {
    res.writeHead(code, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(body);
  };
  const server = http.createServer(
    // Probes are tiny: a client slower than this is not a probe.
    { headersTimeout: 5_000, requestTimeout: 5_000, keepAliveTimeout: 5_000, maxHeaderSize: 8_192 },
    (req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/healthz' && path !== '/readyz') {
        send(
          res,
          404,
          'this address serves /healthz and /readyz only; /metrics and the API are on --listen\n',
        );
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        send(res, 405, `${req.method} is not allowed: use GET\n`);
        return;
      }
      const silentMs = Number(process.hrtime.bigint() - Atomics.load(beat, 0)) / 1e6;
      if (silentMs > stallLimitMs) {
        send(
          res,
          503,
          `stalled: the main event loop has not run for ${(silentMs / 1000).toFixed(1)} s (limit ${stallLimitMs / 1000} s); inspections and /metrics are stuck\n`,
        );
        return;
      }
      if (path === '/healthz') send(res, 200, 'ok\n');
      else if (Atomics.load(flags, 0) === 1) send(res, 200, 'ready\n');
      else send(res, 503, 'not ready\n');
    },
  );
  // A handful of probers at most; a flood of this port must not grow without bound either.
  server.maxConnections = 64;
  server.on('error', (err: NodeJS.ErrnoException) =>
    parentPort?.postMessage({ error: err.message, code: err.code }),
  );
  server.listen({ host, port }, () => {
    const a = server.address();
    const text =
      a === null || typeof a === 'string'
        ? `${host}:${port}`
        : a.family === 'IPv6'
          ? `[${a.address}]:${a.port}`
          : `${a.address}:${a.port}`;
    parentPort?.postMessage({ listening: text });
  });
}

/** The probe listener's worker and the shared state it answers from. Owned by InspectionServer. */
export class ProbeListener {
  readonly #state = new SharedArrayBuffer(16);
  readonly #ready = new Int32Array(this.#state, READY, 1);
  readonly #beat = new BigInt64Array(this.#state, BEAT_OFFSET, 1);
  readonly #logger: Logger;
  readonly #stallLimitMs: number;
  #timer: NodeJS.Timeout | undefined;
  #worker: Worker | undefined;

  constructor(logger: Logger, stallLimitMs = EVENT_LOOP_STALL_LIMIT_MS) {
    this.#logger = logger.child({ component: 'probe-listener' });
    this.#stallLimitMs = stallLimitMs;
  }

  setReady(ready: boolean): void {
    Atomics.store(this.#ready, 0, ready ? 1 : 0);
  }

  /** Listens on HOST:PORT (`what` names the flag or field in errors); returns the bound address. */
  async listen(listen: string, what = '--probe-listen'): Promise<string> {
    if (this.#worker !== undefined) throw new Error('probe listener already started');
    const { host, port } = parseListen(listen, what);
    this.#stamp();
    // unref: the heartbeat never keeps the process alive; close() stops it.
    this.#timer = setInterval(() => this.#stamp(), HEARTBEAT_MS).unref();
    const data: WorkerData = { host, port, stallLimitMs: this.#stallLimitMs, state: this.#state };
    const worker = new Worker(`(${probeWorkerMain.toString()})();`, {
      eval: true,
      workerData: data,
      // Its own small heap: it holds no data, and a leak there must not grow the process.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
      stdout: false,
      stderr: false,
    });
    this.#worker = worker;
    let address: string;
    try {
      address = await new Promise<string>((resolve, reject) => {
        worker.once('message', (m: WorkerMessage) => {
          if ('listening' in m) resolve(m.listening);
          else reject(new Error(`cannot listen on ${what} ${listen}: ${m.error}`));
        });
        worker.once('error', (err) =>
          reject(new Error(`probe listener on ${listen} failed: ${err.message}`)),
        );
        worker.once('exit', (code) => reject(new Error(`probe listener on ${listen} exited (code ${code})`)));
      });
    } catch (err) {
      await this.close();
      throw err;
    }
    // Not expected; if it happens the probes go unanswered and the kubelet restarts the pod: say why.
    worker.on('error', (err) => this.#logger.error({ err: err.message, address }, 'probe listener failed'));
    worker.on('exit', (code) => {
      if (this.#worker === worker)
        this.#logger.error(
          { code, address },
          'probe listener stopped: /healthz and /readyz go unanswered there',
        );
    });
    return address;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }

  #stamp(): void {
    Atomics.store(this.#beat, 0, process.hrtime.bigint());
  }
}
