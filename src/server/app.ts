import Fastify from 'fastify';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { SnapshotStore } from '../engine/snapshot.ts';
import { clusterToJson } from '../engine/json.ts';
import type { InspectionCollector } from '../metrics/collector.ts';
import { CONTENT_TYPE } from '../metrics/exposition.ts';
import { VERSION } from '../version.ts';
import { statusPage } from './status-page.ts';

export interface ServerOptions {
  readonly store: SnapshotStore;
  readonly collector: InspectionCollector;
  readonly logger: Logger;
  /** Ready to serve meaningful results (config loaded, engine started, leader elected...). */
  readonly ready: () => boolean;
}

/**
 * The HTTP face: /metrics rendered from the snapshot store at scrape time,
 * probes, and the JSON API. Process metrics live in a registry this app
 * owns (never prom-client's global one).
 */
export function buildServer(opts: ServerOptions) {
  // Request logs would drown the inspection logs (Prometheus scrapes every few seconds): warnings and errors only.
  const app = Fastify({ loggerInstance: opts.logger.child({ component: 'http' }, { level: 'warn' }) });
  const processMetrics = new Registry();
  collectDefaultMetrics({ register: processMetrics, prefix: 'etcd_monitor_' });
  new Gauge({
    name: 'etcd_monitor_build_info',
    help: 'Always 1: the version of etcd-monitor and of Node.js it runs on.',
    labelNames: ['version', 'node_version'],
    registers: [processMetrics],
  }).set({ version: VERSION, node_version: process.versions.node }, 1);
  new Gauge({
    name: 'etcd_monitor_clusters',
    help: 'Clusters the monitor is configured to inspect.',
    registers: [processMetrics],
    collect() {
      this.set(opts.store.size);
    },
  });

  app.get('/metrics', async (_req, reply) => {
    const inspection = opts.collector.render();
    const own = await processMetrics.metrics();
    return reply.type(CONTENT_TYPE).send(inspection + own);
  });

  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));

  app.get('/readyz', async (_req, reply) => {
    const ready = opts.ready();
    return reply
      .code(ready ? 200 : 503)
      .type('text/plain')
      .send(ready ? 'ready\n' : 'not ready\n');
  });

  app.get('/api/v1/clusters', async () => ({ clusters: opts.store.list().map(clusterToJson) }));

  app.get<{ Params: { id: string } }>('/api/v1/clusters/:id', async (req, reply) => {
    const found = opts.store.get(req.params.id) ?? opts.store.list().find((c) => c.name === req.params.id);
    if (found === undefined) return reply.code(404).send({ error: `no cluster "${req.params.id}"` });
    return clusterToJson(found);
  });

  app.get('/', async (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(statusPage(opts.store.list())),
  );

  return app;
}

/** "HOST:PORT" -> listen options; clear errors for anything else. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 0 && port <= 65535))
    throw new Error(`--listen "${listen}" is not HOST:PORT (e.g. 127.0.0.1:8080)`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}
