/**
 * /health and /version of one member over its own kept-alive connections.
 * No credentials are sent: etcd serves both without authentication, and a
 * password that is not needed should not travel.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Endpoint } from '../endpoint.ts';
import type {
  CallOptions,
  ClientOptions,
  EtcdHttpMemberClient,
  HealthResult,
  MetricsOptions,
  MetricsText,
  VersionResult,
} from '../types.ts';
import { MemberHttp, describeMismatch, parseJson, type HttpResponse } from './agent.ts';

// 3.4: {"health":"true"}; 3.5+: {"health":"false","reason":"..."}.
const HealthBody = Type.Object({ health: Type.String(), reason: Type.Optional(Type.String()) });
const VersionBody = Type.Object({ etcdserver: Type.String(), etcdcluster: Type.String() });

/** An etcd member's /metrics is 150-250 KB; anything near this limit is not etcd's. */
export const METRICS_MAX_BYTES = 8 * 1024 * 1024;

export type HealthOptions = CallOptions & {
  readonly serializable?: boolean;
  readonly exclude?: readonly string[];
};

/** The query string of /health: parameters only when asked (3.4 ignores them, 3.5+ honours them). */
export function healthPath(opts: HealthOptions = {}): string {
  const q = new URLSearchParams();
  if (opts.serializable === true) q.set('serializable', 'true');
  for (const alarm of opts.exclude ?? []) q.append('exclude', alarm);
  const s = q.toString();
  return s === '' ? '/health' : `/health?${s}`;
}

/** Interprets a /health answer of any etcd version. */
export function interpretHealth(res: HttpResponse, body: unknown): HealthResult | undefined {
  if (!Value.Check(HealthBody, body)) return undefined;
  const b: Static<typeof HealthBody> = body;
  const healthy = res.status === 200 && b.health === 'true';
  return { healthy, reason: healthy ? '' : (b.reason ?? ''), httpStatus: res.status };
}

export function createHttpMemberClient(endpoint: Endpoint, options: ClientOptions): EtcdHttpMemberClient {
  const http = new MemberHttp(endpoint, options);

  return {
    endpoint,

    async health(opts?: HealthOptions): Promise<HealthResult> {
      const call = 'GET /health';
      const res = await http.request(call, healthPath(opts), { ...opts });
      let body: unknown;
      try {
        body = JSON.parse(res.body);
      } catch {
        body = undefined;
      }
      const result = interpretHealth(res, body);
      if (result !== undefined) return result;
      // A proxy or an overloaded member may answer 5xx without etcd's JSON: still a clear "unhealthy".
      if (res.status >= 500) {
        const text = res.body.slice(0, 200).replace(/\s+/g, ' ').trim();
        return {
          healthy: false,
          reason: `HTTP ${res.status}${text !== '' ? `: ${text}` : ''}`,
          httpStatus: res.status,
        };
      }
      if (res.status === 404)
        throw http.error(
          'not_found',
          call,
          'HTTP 404: this endpoint does not serve /health (not an etcd client URL?)',
        );
      throw http.error(
        'protocol',
        call,
        `HTTP ${res.status}: unexpected body ${JSON.stringify(res.body.slice(0, 120))}`,
      );
    },

    async version(opts?: CallOptions): Promise<VersionResult> {
      const call = 'GET /version';
      const res = await http.request(call, '/version', { ...opts });
      if (res.status !== 200)
        throw http.error(res.status === 404 ? 'not_found' : 'protocol', call, `HTTP ${res.status}`);
      const body = parseJson(http, call, res);
      if (!Value.Check(VersionBody, body)) {
        throw http.error('protocol', call, `unexpected body: ${describeMismatch(VersionBody, body)}`);
      }
      return { etcdserver: body.etcdserver, etcdcluster: body.etcdcluster };
    },

    async metrics(opts: MetricsOptions = {}): Promise<MetricsText> {
      const path = opts.path ?? '/metrics';
      const call = `GET ${path}`;
      const res = await http.request(call, path, {
        ...opts,
        // The text format etcd (client_golang) serves; no gzip: node:http would not undo it.
        accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1',
        maxBodyBytes: opts.maxBytes ?? METRICS_MAX_BYTES,
      });
      if (res.status !== 200) {
        const text = res.body.slice(0, 120).replace(/\s+/g, ' ').trim();
        throw http.error(
          res.status === 404 ? 'not_found' : 'protocol',
          call,
          `HTTP ${res.status}${text !== '' ? `: ${text}` : ''}`,
        );
      }
      return { text: res.body, bytes: res.bytes };
    },

    close(): Promise<void> {
      return http.close();
    },
  };
}
