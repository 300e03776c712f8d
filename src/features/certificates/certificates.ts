/**
 * certificates: will a certificate expire or stop matching? Per member, one
 * short TLS connection per round reads the serving chain as presented in the
 * handshake; the configured client certificate and CA are read from the
 * cluster's tls settings. A long default interval (1 h) keeps the extra
 * connections near zero.
 */
import type { X509Certificate } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { errorMessage } from '../../errors.ts';
import { family, type MetricDefinition } from '../../metrics/catalogue.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import {
  defineFeature,
  failedOutcome,
  OptionsError,
  type ClusterHandle,
  type InspectionOutcome,
} from '../../engine/contract.ts';
import { forEachMember } from '../members.ts';
import { parseOptions } from '../options.ts';
import { humanDuration } from '../units.ts';
import { assessCertificates, type CertificatesVerdict, type MemberChain } from './assess.ts';
import { parsePemBundle } from './x509.ts';

const DAY = 86_400;

export const CERTIFICATE_METRICS = {
  expiry: family.gauge(
    'inspection_etcd_certificate_expiry_seconds',
    'Seconds until the certificate expires (negative once expired). source: the member host:port that presented it, "client" or "ca" for the configured ones.',
    ['source', 'kind', 'subject', 'serial'],
  ),
  hostMismatch: family.gauge(
    'inspection_etcd_certificate_host_mismatch',
    "1 when the member's serving certificate does not cover the host it is reached at (or the configured serverName), else 0.",
    ['endpoint'],
  ),
  verified: family.gauge(
    'inspection_etcd_certificate_chain_verified',
    "1 when the member's serving chain verifies against the configured CA (host name and dates included), else 0.",
    ['endpoint'],
  ),
} as const satisfies Record<string, MetricDefinition>;

export const CertificatesOptionsSchema = Type.Object(
  {
    warningDays: Type.Number({
      minimum: 0,
      default: 30,
      description: 'Warn this many days before a certificate expires.',
    }),
    criticalDays: Type.Number({ minimum: 0, default: 7, description: 'Critical this many days before.' }),
  },
  { additionalProperties: false },
);

export type CertificatesOptions = Static<typeof CertificatesOptionsSchema>;

export function parseCertificatesOptions(raw: unknown): CertificatesOptions {
  const o = parseOptions('certificates', CertificatesOptionsSchema, raw);
  if (o.criticalDays > o.warningDays) {
    throw new OptionsError(
      `options of feature certificates: criticalDays (${o.criticalDays}) must not exceed warningDays (${o.warningDays})`,
    );
  }
  return o;
}

export type CertificatesDetails = Omit<CertificatesVerdict, 'problems' | 'findings' | 'certificates'> & {
  readonly certificates: readonly (Omit<
    CertificatesVerdict['certificates'][number],
    'notAfter' | 'notBefore'
  > & {
    notAfter: string;
    notBefore: string;
  })[];
};

/**
 * The configured client certificate and CA. They were checked when loaded;
 * should they not parse, the rounds say so rather than the feature failing.
 */
function configuredCertificates(tls: ClusterHandle['tls']): {
  configured: { client: X509Certificate[]; ca: X509Certificate[] };
  error?: string;
} {
  try {
    return {
      configured: {
        client: tls?.clientCert !== undefined ? parsePemBundle(tls.clientCert, 'the client certificate') : [],
        ca: tls?.ca !== undefined ? parsePemBundle(tls.ca, 'the CA bundle') : [],
      },
    };
  } catch (err) {
    return { configured: { client: [], ca: [] }, error: errorMessage(err) };
  }
}

async function inspectCertificates(
  cluster: ClusterHandle,
  signal: AbortSignal,
  options: CertificatesOptions,
): Promise<InspectionOutcome> {
  const tls = cluster.tls;
  const { configured, error: configError } = configuredCertificates(tls);
  if (configError !== undefined) return failedOutcome(`the cluster's tls settings: ${configError}`);
  if (tls === undefined) {
    return {
      ok: true,
      summary: 'no TLS: no certificate to inspect',
      problems: [],
      details: null,
      metrics: [],
    };
  }
  const members = cluster.members().filter((m) => m.endpoint?.scheme === 'https');
  const results = await forEachMember(members, (m) => tls.peerCertificates(m.endpoint, signal));
  const chains: MemberChain[] = results.map((r) => ({
    endpoint: r.member.snapshot.endpoint,
    name: r.member.snapshot.name,
    expectedHost:
      tls?.serverName !== undefined && tls.serverName !== '' ? tls.serverName : r.member.endpoint!.host,
    ...(r.result !== undefined
      ? { chain: r.result.chain, verified: r.result.verified, verifyError: r.result.verifyError }
      : { error: r.error }),
  }));
  const t = {
    warningSeconds: options.warningDays * DAY,
    criticalSeconds: options.criticalDays * DAY,
  };
  const verdict = assessCertificates(chains, configured, Date.now(), t);
  const details: CertificatesDetails = {
    members: verdict.members,
    soonest: verdict.soonest,
    certificates: verdict.certificates.map((c) => ({
      ...c,
      notAfter: c.notAfter.toISOString(),
      notBefore: c.notBefore.toISOString(),
    })),
  };
  const failed = verdict.members.filter((m) => m.error !== undefined);
  if (members.length > 0 && failed.length === members.length && verdict.certificates.length === 0) {
    return failedOutcome(
      `no member completed a TLS handshake: ${failed.map((m) => `${m.endpoint}: ${m.error}`).join('; ')}`,
      { details },
    );
  }
  if (verdict.certificates.length === 0) {
    return { ok: true, summary: 'no TLS: no certificate to inspect', problems: [], details, metrics: [] };
  }
  const metrics: MetricSample[] = verdict.certificates.map((c) => ({
    name: CERTIFICATE_METRICS.expiry.name,
    labels: { source: c.source, kind: c.kind, subject: c.subject, serial: c.serial },
    value: c.secondsUntilExpiry,
  }));
  for (const m of verdict.members) {
    if (m.hostCovered !== undefined)
      metrics.push({
        name: CERTIFICATE_METRICS.hostMismatch.name,
        labels: { endpoint: m.endpoint },
        value: m.hostCovered ? 0 : 1,
      });
    if (m.verified !== undefined)
      metrics.push({
        name: CERTIFICATE_METRICS.verified.name,
        labels: { endpoint: m.endpoint },
        value: m.verified ? 1 : 0,
      });
  }
  const soonest = verdict.soonest!;
  const summary = [
    `${verdict.certificates.length} certificate(s) of ${verdict.members.length - failed.length} member(s)${configured.client.length + configured.ca.length > 0 ? ' and the configured ones' : ''}`,
    `soonest expiry: ${soonest.subject} (${soonest.source}) ${soonest.secondsUntilExpiry <= 0 ? 'EXPIRED' : `in ${humanDuration(soonest.secondsUntilExpiry)}`}`,
    ...(failed.length > 0 ? [`unknown: ${failed.map((m) => `${m.endpoint}: ${m.error}`).join('; ')}`] : []),
  ].join('; ');
  return { ok: true, summary, problems: verdict.problems, findings: verdict.findings, details, metrics };
}
export const certificatesFeature = defineFeature({
  name: 'certificates',
  description:
    "TLS clusters: each member's serving chain from the handshake, the client certificate and CA: expiry, host names, CAs expiring first.",
  defaultIntervalSeconds: 3600,
  metrics: CERTIFICATE_METRICS,
  optionsSchema: CertificatesOptionsSchema,
  parseOptions: parseCertificatesOptions,
  inspect: inspectCertificates,
});
