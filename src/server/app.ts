import { Readable } from 'node:stream';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { SnapshotStore } from '../engine/snapshot.ts';
import type { InspectionCollector } from '../metrics/collector.ts';
import type { Shard } from '../engine/shard.ts';
import type { Exposition } from '../metrics/assembly.ts';
import { CONTENT_TYPE } from '../metrics/exposition.ts';
import { VERSION } from '../version.ts';
import { RenderAbandoned } from './shared-render.ts';
import { clustersJsonView, metricsView, statusPageView } from './views.ts';

export interface ServerOptions {
  readonly store: SnapshotStore;
  readonly collector: InspectionCollector;
  readonly logger: Logger;
  /** Ready to serve meaningful results (config loaded, engine started, leader elected...). */
  readonly ready: () => boolean;
  readonly limits?: Partial<ServerLimits>;
  /** This process's part of the clusters (sharding), for its own metrics. */
  readonly shard?: Pick<Shard, 'describe'>;
  /** Adds more of the process's own families (the engine's saturation) to its registry. */
  readonly registerOwnMetrics?: (registry: Registry) => void;
}

/** What one monitor serves at once; anything beyond is refused at once, never queued. */
export interface ServerLimits {
  /** /metrics, /api and the status page in flight at once; more get 503 (like node_exporter's --web.max-requests). */
  readonly maxRequests: number;
  /** Open client connections; more are closed on accept. */
  readonly maxConnections: number;
  /** A kept-alive connection with no request closes after this long. */
  readonly keepAliveTimeoutMs: number;
  /** A request must arrive whole (headers and body) within this long. */
  readonly requestTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxRequests: 40,
  maxConnections: 1024,
  keepAliveTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
};

/** Routes whose work grows with the number of clusters: bounded by maxRequests. */
const BOUNDED_ROUTES = new Set(['/metrics', '/api/v1/clusters', '/api/v1/clusters/:id', '/']);

/** Process metrics (prom-client reads /proc) are shared by scrapes within this window. */
const PROCESS_METRICS_TTL_MS = 1_000;

/**
 * The HTTP face: /metrics, the JSON API and the status page rendered from
 * the snapshot store (each once per change, shared by concurrent requests,
 * yielding to the event loop: see SharedRender), probes that never wait
 * behind them. Process metrics live in a registry this
 * app owns (never prom-client's global one).
 */
export function buildServer(opts: ServerOptions) {
  const limits = { ...DEFAULT_SERVER_LIMITS, ...opts.limits };
  const app = Fastify({
    // Request logs would drown the inspection logs (Prometheus scrapes every few seconds): warnings and errors only.
    loggerInstance: opts.logger.child({ component: 'http' }, { level: 'warn' }),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.requestTimeoutMs * 2,
    // Shutdown must not wait for clients: in-flight scrapes are cut, Prometheus retries.
    forceCloseConnections: true,
  });
  app.server.maxConnections = limits.maxConnections;
  app.server.headersTimeout = Math.min(10_000, limits.requestTimeoutMs);

  const scrapes = metricsView(opts.store, opts.collector);
  const clustersJson = clustersJsonView(opts.store);
  const page = statusPageView(opts.store);
  app.addHook('onClose', async () => {
    for (const view of [scrapes, clustersJson, page]) view.close();
  });

  const processMetrics = new Registry();
  collectDefaultMetrics({ register: processMetrics, prefix: 'etcd_monitor_' });
  new Gauge({
    name: 'etcd_monitor_build_info',
    help: 'Always 1: the version of etcd-monitor and of Node.js it runs on.',
    labelNames: ['version', 'node_version'],
    registers: [processMetrics],
  }).set({ version: VERSION, node_version: process.versions.node }, 1);
  new Gauge({
    name: 'etcd_monitor_shard_members',
    help: 'Replicas sharing the clusters as this process counts them (1 without sharding); each inspects and exports only its own share.',
    registers: [processMetrics],
    collect() {
      this.set(opts.shard?.describe().members ?? 1);
    },
  });
  new Gauge({
    name: 'etcd_monitor_clusters',
    help: 'Clusters the monitor is configured to inspect.',
    registers: [processMetrics],
    collect() {
      this.set(opts.store.size);
    },
  });
  opts.registerOwnMetrics?.(processMetrics);
  const rejected = new Counter({
    name: 'etcd_monitor_http_requests_rejected_total',
    help: 'Requests answered 503 at once because the maximum of concurrent requests was reached (the monitor is being scraped too hard).',
    registers: [processMetrics],
  });
  new Counter({
    name: 'etcd_monitor_metrics_renders_total',
    help: 'Renderings of /metrics, /api/v1/clusters and the status page; fewer than requests when concurrent requests share one.',
    registers: [processMetrics],
    collect() {
      this.reset();
      this.inc(scrapes.renders + clustersJson.renders + page.renders);
    },
  });
  new Gauge({
    name: 'etcd_monitor_http_requests_in_flight',
    help: 'Requests to /metrics, /api and the status page being served now.',
    registers: [processMetrics],
    collect() {
      this.set(inFlight);
    },
  });
  let own: { at: number; text: Promise<string> } | undefined;
  const processText = (): Promise<string> => {
    const now = performance.now();
    if (own === undefined || now - own.at > PROCESS_METRICS_TTL_MS)
      own = { at: now, text: processMetrics.metrics() };
    return own.text;
  };

  // Heavy routes share one bound; probes are outside it and answer at once.
  let inFlight = 0;
  const clientGone = new WeakMap<FastifyRequest['raw'], AbortSignal>();
  app.addHook('onRequest', async (req, reply) => {
    if (!BOUNDED_ROUTES.has(req.routeOptions.url ?? '')) return;
    if (inFlight >= limits.maxRequests) {
      rejected.inc();
      await reply
        .code(503)
        .header('retry-after', '1')
        .type('text/plain')
        .send(`too many concurrent requests (limit ${limits.maxRequests}); try again\n`);
      return reply;
    }
    inFlight++;
    // A client that hangs up stops its share of the work.
    const gone = new AbortController();
    clientGone.set(req.raw, gone.signal);
    reply.raw.once('close', () => {
      inFlight--;
      if (!reply.raw.writableFinished) gone.abort();
    });
  });
  const signalOf = (req: FastifyRequest): AbortSignal =>
    clientGone.get(req.raw) ?? new AbortController().signal;

  /** Sends what `body` resolves to; nothing when the client left first (nobody to answer). */
  const answer = async (
    reply: FastifyReply,
    type: string,
    body: Promise<Buffer | Exposition>,
  ): Promise<FastifyReply> => {
    try {
      const sent = await body;
      if (Buffer.isBuffer(sent)) return reply.type(type).send(sent);
      // Chunks written one after the other (shared by every scrape, never copied into one Buffer).
      return reply.type(type).header('content-length', sent.length).send(Readable.from(sent.chunks));
    } catch (err) {
      if (err instanceof RenderAbandoned) return reply;
      throw err;
    }
  };

  let joined: { inspection: Exposition; process: string; body: Exposition } | undefined;
  app.get('/metrics', async (req, reply) =>
    answer(
      reply,
      CONTENT_TYPE,
      Promise.all([scrapes.get(signalOf(req)), processText()]).then(([inspection, process]) => {
        // Both parts change at most once a second or per store change: scrapes in between share one body.
        if (joined?.inspection !== inspection || joined.process !== process) {
          const own = Buffer.from(process);
          const body = { chunks: [...inspection.chunks, own], length: inspection.length + own.length };
          joined = { inspection, process, body };
        }
        return joined.body;
      }),
    ),
  );

  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));

  app.get('/readyz', async (_req, reply) => {
    const ready = opts.ready();
    return reply
      .code(ready ? 200 : 503)
      .type('text/plain')
      .send(ready ? 'ready\n' : 'not ready\n');
  });

  const JSON_TYPE = 'application/json; charset=utf-8';
  app.get('/api/v1/clusters', async (req, reply) =>
    answer(reply, JSON_TYPE, clustersJson.get(signalOf(req))),
  );

  app.get<{ Params: { id: string } }>('/api/v1/clusters/:id', async (req, reply) => {
    const found = opts.store.get(req.params.id) ?? opts.store.list().find((c) => c.name === req.params.id);
    if (found === undefined) return reply.code(404).send({ error: `no cluster "${req.params.id}"` });
    return reply.type(JSON_TYPE).send(clustersJson.pieceOf(found));
  });

  app.get('/', async (req, reply) => answer(reply, 'text/html; charset=utf-8', page.get(signalOf(req))));

  return app;
}

export { parseListen } from './listen.ts';
