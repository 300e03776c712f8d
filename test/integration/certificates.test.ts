/**
 * certificates on a real TLS cluster (etcd 3.6) whose members serve, for
 * client traffic, an already expired certificate, one that expires in two
 * days, and one whose names do not cover the address; the CA itself expires
 * in 20 days, before the certificates it signed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CertificatesDetails } from '../../src/features/certificates/certificates.ts';
import { eventually } from '../../src/testing/wait.ts';
import { family, scrape } from '../support/scrape.ts';
import { every, hostPort, specFor } from '../support/specs.ts';
import { startInspectionServer } from '../support/inspection-server.ts';
import { clusterForTest } from '../support/clusters.ts';

const DAY = 86_400;

describe('certificates on etcd 3.6 with TLS', () => {
  test('expired, short-lived and mismatched serving certificates, and a CA that expires first', async (t) => {
    const cluster = await clusterForTest(t, {
      version: '3.6',
      members: 3,
      tls: true,
      tlsCerts: {
        caDays: 20,
        serving: [{ days: -1 }, { days: 2 }, { hosts: ['etcd.example.invalid'] }],
      },
      name: 'certs',
    });
    const { daemon, address } = await startInspectionServer(t);
    await daemon.engine.upsert(specFor('c', cluster, { certificates: every(3600) }));
    const [expired, shortLived, mismatched] = cluster.endpoints.map(hostPort) as [string, string, string];

    const run = await eventually(() => {
      const last = daemon.store.get('c')?.features['certificates']?.last;
      return last?.ok === true && (last.details as CertificatesDetails).members.length === 3
        ? last
        : undefined;
    }, 'a certificates round over the three members');
    const details = run.details as CertificatesDetails;
    const problems = run.problems.join('\n');
    const esc = (s: string): string => s.replaceAll('.', '\\.');

    // The expired one: critical, named, and it does not verify.
    assert.match(
      problems,
      new RegExp(
        `critical: the serving certificate of member ${esc(expired)} \\(CN=etcd-monitor-test-serving-0, serial [0-9a-f]+\\) expired `,
      ),
    );
    // Two days left: critical (under 7 days), with the time left.
    assert.match(
      problems,
      new RegExp(
        `critical: the serving certificate of member ${esc(shortLived)} .* expires [^,]*, in 4[78]\\.\\dh \\(critical at 7\\.0d\\)`,
      ),
    );
    // Names that do not cover 127.0.0.1.
    assert.match(
      problems,
      new RegExp(
        `serving certificate of member ${esc(mismatched)} .* does not cover 127\\.0\\.0\\.1 \\(names: DNS:etcd\\.example\\.invalid\\)`,
      ),
    );
    // The CA: a warning (20 days < 30), and it expires before what it signed.
    assert.match(
      problems,
      /warning: the configured CA certificate \(CN=etcd-monitor-test-ca, .*\) expires .*, in 20\.0d \(warning at 30\.0d\)/,
    );
    assert.match(
      problems,
      /the CA CN=etcd-monitor-test-ca expires .*, before the monitor's client certificate/,
    );

    // The same problems in the why section: where, the figure or fact, what to do, the runbook.
    const why = (run.findings ?? []).map((f) => [f.member.split(' ')[0], f.cause, f.severity, f.runbook]);
    for (const expected of [
      [expired, 'certificate expired', 'critical', 'EtcdCertificateExpiryCritical'],
      [shortLived, 'certificate expiring', 'critical', 'EtcdCertificateExpiryCritical'],
      [mismatched, 'certificate does not cover the host', 'warning', 'EtcdCertificateHostMismatch'],
    ])
      assert.ok(
        why.some((w) => JSON.stringify(w) === JSON.stringify(expected)),
        `${JSON.stringify(expected)} in ${JSON.stringify(why)}`,
      );
    const shortFinding = run.findings?.find((f) => f.member.startsWith(shortLived));
    assert.ok(
      shortFinding !== undefined && shortFinding.value! < 2 * DAY && shortFinding.threshold === 7 * DAY,
    );
    assert.match(shortFinding.member, / \(certs-1\)$/, 'the member, with its name');
    assert.ok(
      run.findings?.some((f) => f.member === "the monitor's CA bundle" && f.cause === 'certificate expiring'),
    );

    const m = await scrape(address);
    const expiry = family(m, 'inspection_etcd_certificate_expiry_seconds');
    const servingOf = (endpoint: string): number | undefined =>
      [...expiry].find(
        ([labels]) => labels.includes(`source="${endpoint}"`) && labels.includes('kind="serving"'),
      )?.[1];
    assert.ok(servingOf(expired)! < 0, 'expired: negative seconds');
    assert.ok(
      servingOf(shortLived)! > 1.5 * DAY && servingOf(shortLived)! <= 2 * DAY,
      `two days: ${servingOf(shortLived)}`,
    );
    assert.ok(servingOf(mismatched)! > 300 * DAY);
    const ca = [...expiry].find(([labels]) => labels.includes('source="ca"'))?.[1];
    assert.ok(ca! > 19 * DAY && ca! <= 20 * DAY);
    const client = [...expiry].find(([labels]) => labels.includes('source="client"'))?.[1];
    assert.ok(client! > 300 * DAY);
    const mismatch = family(m, 'inspection_etcd_certificate_host_mismatch');
    assert.equal(mismatch.get(`{clusterName="c",endpoint="${mismatched}"}`), 1);
    assert.equal(mismatch.get(`{clusterName="c",endpoint="${shortLived}"}`), 0);
    const verified = family(m, 'inspection_etcd_certificate_chain_verified');
    assert.equal(verified.get(`{clusterName="c",endpoint="${expired}"}`), 0);
    assert.equal(verified.get(`{clusterName="c",endpoint="${mismatched}"}`), 0);
    assert.equal(verified.get(`{clusterName="c",endpoint="${shortLived}"}`), 1);

    const leaf = details.certificates.find((c) => c.source === mismatched && c.kind === 'serving')!;
    assert.equal(leaf.issuer, 'CN=etcd-monitor-test-ca');
    assert.deepEqual(leaf.sans, ['DNS:etcd.example.invalid']);
    assert.ok(Date.parse(leaf.notAfter) > Date.now());
  });

  test('a healthy TLS cluster: no problems, one expiry series per certificate', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.6', members: 1, tls: true, name: 'certsok' });
    const { daemon, address } = await startInspectionServer(t);
    await daemon.engine.upsert(specFor('ok', cluster, { certificates: every(3600) }));
    const run = await eventually(() => daemon.store.get('ok')?.features['certificates']?.last, 'a round');
    assert.equal(run.ok, true, run.error);
    assert.deepEqual(run.problems, []);
    const expiry = family(await scrape(address), 'inspection_etcd_certificate_expiry_seconds');
    const sources = [...expiry.keys()]
      .map((k) => /source="([^"]+)",kind="([^"]+)"/.exec(k)!.slice(1).join('/'))
      .sort();
    // The member's leaf, the CA it chains to (as verified), the client certificate and the CA bundle.
    assert.deepEqual(
      sources,
      [
        'ca/ca',
        'client/client',
        `${hostPort(cluster.endpoints[0]!)}/issuer`,
        `${hostPort(cluster.endpoints[0]!)}/serving`,
      ].sort(),
    );
  });
});
