/**
 * The certificates verdict of one round, as a pure function of the chains
 * the members presented, the configured client certificate and CA, and the
 * time: expiry per certificate, host names not covered, CAs that expire
 * before what they signed, chains that do not verify.
 */
import type { X509Certificate } from 'node:crypto';
import type { Finding } from '../../findings.ts';
import { humanDuration } from '../units.ts';
import { coversHost, describe, type CertificateInfo } from './x509.ts';

export interface CertificateThresholds {
  readonly warningSeconds: number;
  readonly criticalSeconds: number;
}

export type CertificateKind = 'serving' | 'issuer' | 'client' | 'ca';

export interface MemberChain {
  /** host:port */
  readonly endpoint: string;
  /** The name the certificate must cover: the endpoint's host, or the configured serverName. */
  readonly expectedHost: string;
  readonly name: string;
  readonly chain?: readonly X509Certificate[];
  readonly verified?: boolean;
  readonly verifyError?: string;
  readonly error?: string;
}

export interface CertificateRecord extends CertificateInfo {
  /** Where it was seen: the member's host:port, "client" (the monitor's client certificate) or "ca" (the configured CA bundle). */
  readonly source: string;
  readonly kind: CertificateKind;
  readonly secondsUntilExpiry: number;
  readonly level: 'ok' | 'warning' | 'critical';
}

export interface MemberCertificateState {
  readonly endpoint: string;
  readonly name: string;
  readonly hostCovered: boolean | undefined;
  readonly verified: boolean | undefined;
  readonly verifyError: string;
  readonly error?: string;
}

export interface CertificatesVerdict {
  readonly certificates: readonly CertificateRecord[];
  readonly members: readonly MemberCertificateState[];
  readonly problems: readonly string[];
  /** The same problems for the why section. */
  readonly findings: readonly Finding[];
  readonly soonest: CertificateRecord | undefined;
}

/** The section of docs/runbooks.md (named after its alert) for each kind of finding. */
const runbook = (alert: string): string => `see docs/runbooks.md (${alert})`;
const CA_GAP_MS = 86_400_000;

function levelOf(seconds: number, t: CertificateThresholds): CertificateRecord['level'] {
  if (seconds <= t.criticalSeconds) return 'critical';
  if (seconds <= t.warningSeconds) return 'warning';
  return 'ok';
}

function what(r: { kind: CertificateKind; source: string; subject: string; serial: string }): string {
  const id = `${r.subject}, serial ${r.serial}`;
  switch (r.kind) {
    case 'serving':
      return `the serving certificate of member ${r.source} (${id})`;
    case 'issuer':
      return `the CA certificate ${id} in the chain of member ${r.source}`;
    case 'client':
      return `the monitor's client certificate (${id})`;
    case 'ca':
      return `the configured CA certificate (${id})`;
  }
}

/** Where a certificate is, for a finding: the member that presents it, or the monitor's own configuration. */
function whereOf(r: { kind: CertificateKind; source: string }, names: ReadonlyMap<string, string>): string {
  if (r.kind === 'client') return "the monitor's client certificate";
  if (r.kind === 'ca') return "the monitor's CA bundle";
  const name = names.get(r.source) ?? '';
  return name === '' ? r.source : `${r.source} (${name})`;
}

function remedy(kind: CertificateKind): string {
  switch (kind) {
    case 'serving':
      return 'issue a new one for the same names and replace the files (etcd reads them again for new connections)';
    case 'client':
      return "renew it where the monitor takes it from (the Secret or the files of the cluster's tls settings); once it expires the monitor cannot inspect this cluster";
    case 'issuer':
    case 'ca':
      return 'every certificate it signed stops verifying then: issue a new CA and put both in the trust bundles during the rotation';
  }
}

export function assessCertificates(
  members: readonly MemberChain[],
  configured: { readonly client: readonly X509Certificate[]; readonly ca: readonly X509Certificate[] },
  nowMs: number,
  t: CertificateThresholds,
): CertificatesVerdict {
  const records: CertificateRecord[] = [];
  const record = (cert: X509Certificate, source: string, kind: CertificateKind): CertificateRecord => {
    const info = describe(cert);
    const seconds = (info.notAfter.getTime() - nowMs) / 1000;
    const r: CertificateRecord = {
      ...info,
      source,
      kind,
      secondsUntilExpiry: seconds,
      level: levelOf(seconds, t),
    };
    records.push(r);
    return r;
  };
  const problems: string[] = [];
  const findings: Finding[] = [];
  const names = new Map(members.map((m) => [m.endpoint, m.name]));
  const states: MemberCertificateState[] = [];
  /** Issuer of a leaf: the next certificate of its chain, else a configured CA that signed it. */
  const issuerOf = (leaf: X509Certificate, rest: readonly X509Certificate[]): X509Certificate | undefined =>
    rest.find((c) => leaf.checkIssued(c)) ?? configured.ca.find((c) => leaf.checkIssued(c));
  const caBeforeLeaf = (
    leaf: X509Certificate,
    leafRecord: CertificateRecord,
    rest: readonly X509Certificate[],
  ): void => {
    const issuer = issuerOf(leaf, rest);
    if (issuer === undefined || issuer.fingerprint256 === leaf.fingerprint256) return;
    const ca = describe(issuer);
    // A leaf issued together with its CA for the same period outlives it by
    // seconds: only a real gap is worth saying (the CA's own expiry is reported anyway).
    if (ca.notAfter.getTime() < leafRecord.notAfter.getTime() - CA_GAP_MS) {
      problems.push(
        `the CA ${ca.subject} expires ${ca.notAfter.toISOString()}, before ${what(leafRecord)} it signed (${leafRecord.notAfter.toISOString()}): the certificate stops verifying on the CA's date, not its own; renew the CA first and re-issue what it signs; ${runbook('EtcdCertificateExpiryWarning')}`,
      );
      findings.push({
        member: whereOf(leafRecord, names),
        cause: 'CA expires before the certificate it signed',
        measure: `CA ${ca.subject} expires ${ca.notAfter.toISOString()}, the certificate ${leafRecord.notAfter.toISOString()}`,
        severity: 'warning',
        action:
          "the certificate stops verifying on the CA's date, not its own: renew the CA first and re-issue what it signs",
        runbook: 'EtcdCertificateExpiryWarning',
      });
    }
  };

  for (const m of members) {
    if (m.chain === undefined || m.chain.length === 0) {
      states.push({
        endpoint: m.endpoint,
        name: m.name,
        hostCovered: undefined,
        verified: undefined,
        verifyError: '',
        error: m.error ?? 'no certificate',
      });
      continue;
    }
    const [leaf, ...rest] = m.chain as [X509Certificate, ...X509Certificate[]];
    const leafRecord = record(leaf, m.endpoint, 'serving');
    for (const c of rest) record(c, m.endpoint, 'issuer');
    const hostCovered = coversHost(leaf, m.expectedHost);
    if (!hostCovered) {
      problems.push(
        `${what(leafRecord)} does not cover ${m.expectedHost} (names: ${leafRecord.sans.join(', ') || 'none'}): clients that verify host names cannot connect to this address; re-issue it with ${m.expectedHost} in subjectAltName (or set serverName in the monitor's tls settings if the members are reached through another name); ${runbook('EtcdCertificateHostMismatch')}`,
      );
      findings.push({
        member: whereOf(leafRecord, names),
        cause: 'certificate does not cover the host',
        measure: `serving certificate names ${leafRecord.sans.join(', ') || 'none'}, not ${m.expectedHost}`,
        severity: 'warning',
        action: `re-issue it with ${m.expectedHost} in subjectAltName (or set serverName in the monitor's tls settings if the members are reached through another name)`,
        runbook: 'EtcdCertificateHostMismatch',
      });
    }
    caBeforeLeaf(leaf, leafRecord, rest);
    const verifyError = m.verifyError ?? '';
    const explained = leafRecord.secondsUntilExpiry <= 0 || !hostCovered;
    if (m.verified === false && !explained) {
      problems.push(
        `the serving chain of member ${m.endpoint} does not verify against the configured CA (${verifyError}): the monitor and other clients refuse it; check that the member's certificate was issued by the CA in the monitor's tls settings; ${runbook('EtcdCertificateNotVerified')}`,
      );
      findings.push({
        member: whereOf(leafRecord, names),
        cause: 'certificate chain does not verify',
        measure: `against the configured CA: ${verifyError}`,
        severity: 'warning',
        action:
          "the monitor and other clients refuse it: check that the member's certificate was issued by the CA in the monitor's tls settings",
        runbook: 'EtcdCertificateNotVerified',
      });
    }
    states.push({ endpoint: m.endpoint, name: m.name, hostCovered, verified: m.verified, verifyError });
  }
  const [clientLeaf, ...clientRest] = configured.client;
  if (clientLeaf !== undefined) {
    const r = record(clientLeaf, 'client', 'client');
    caBeforeLeaf(clientLeaf, r, clientRest);
  }
  for (const c of configured.ca) record(c, 'ca', 'ca');

  // One problem per certificate, however many members present it.
  const reported = new Set<string>();
  // The configured copy names a CA best ("the configured CA"), so it goes first.
  const rank = (r: CertificateRecord): number => (r.kind === 'ca' || r.kind === 'client' ? 0 : 1);
  for (const r of [...records].sort((a, b) => rank(a) - rank(b))) {
    if (r.level === 'ok' || reported.has(r.fingerprint256)) continue;
    reported.add(r.fingerprint256);
    const elsewhere = records
      .filter((o) => o.fingerprint256 === r.fingerprint256 && o.source !== r.source)
      .map((o) => o.source);
    const when =
      r.secondsUntilExpiry <= 0
        ? `expired ${r.notAfter.toISOString()} (${humanDuration(-r.secondsUntilExpiry)} ago)`
        : `expires ${r.notAfter.toISOString()}, in ${humanDuration(r.secondsUntilExpiry)} (${r.level} at ${humanDuration(r.level === 'critical' ? t.criticalSeconds : t.warningSeconds)})`;
    const alert = r.level === 'critical' ? 'EtcdCertificateExpiryCritical' : 'EtcdCertificateExpiryWarning';
    problems.push(
      `${r.level}: ${what(r)}${elsewhere.length > 0 ? ` (also presented by ${elsewhere.join(', ')})` : ''} ${when}: ${remedy(r.kind)}; ${runbook(alert)}`,
    );
    const certificate = `${r.kind === 'issuer' ? 'CA certificate' : 'certificate'} ${r.subject}${elsewhere.length > 0 ? ` (also presented by ${elsewhere.join(', ')})` : ''}`;
    findings.push({
      member: whereOf(r, names),
      ...(r.secondsUntilExpiry <= 0
        ? {
            cause: 'certificate expired',
            measure: `${certificate} expired ${r.notAfter.toISOString()}`,
          }
        : {
            cause: 'certificate expiring',
            measure: `time until ${certificate} expires`,
            value: r.secondsUntilExpiry,
            threshold: r.level === 'critical' ? t.criticalSeconds : t.warningSeconds,
            unit: 'seconds' as const,
          }),
      severity: r.level,
      action: remedy(r.kind),
      runbook: alert,
    });
  }
  const soonest = records.reduce<CertificateRecord | undefined>(
    (min, r) => (min === undefined || r.secondsUntilExpiry < min.secondsUntilExpiry ? r : min),
    undefined,
  );
  return { certificates: records, members: states, problems, findings, soonest };
}
