/**
 * The wrong scheme on real etcd: http:// to a member that serves TLS and
 * https:// to one that serves plain HTTP fail with a hint saying which
 * scheme to use, from the v3 (gRPC) client, the HTTP client, the certificate
 * reader and `inspect`; the right scheme still works, and a port nobody
 * listens on gets no hint.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { createHttpMemberClient } from '../../src/etcd/http/client.ts';
import { fetchPeerChain } from '../../src/etcd/peer-certificates.ts';
import type { ClientOptions } from '../../src/etcd/types.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import { freePort, startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { cli, tlsFlags } from '../support/cli.ts';
import { clientOptionsFor } from '../support/specs.ts';

const USE_HTTPS = '(is this member serving TLS? use https:// and --cacert)';
const USE_HTTP = '(is this member serving plain HTTP? use http://)';

/** The message a failed call rejects with. */
async function failure(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  assert.fail('the call succeeded');
}

/** The failures of a v3 Status and an HTTP /health at `url`, with the cluster TLS options `options`. */
async function statusAndHealth(
  t: TestContext,
  url: string,
  options: ClientOptions,
): Promise<{ status: string; health: string }> {
  const v3 = createV3MemberClient(parseEndpoint(url), options);
  const http = createHttpMemberClient(parseEndpoint(url), options);
  t.after(() => {
    v3.close();
    return http.close();
  });
  return { status: await failure(() => v3.status()), health: await failure(() => http.health()) };
}

describe('the wrong scheme names the right one', () => {
  let tls: TestCluster;
  const plain: TestCluster[] = [];
  before(async () => {
    tls = await startEtcdCluster({ version: '3.6', members: 1, name: 'schemetls', tls: true });
    for (const version of ['3.4', '3.6'] as const)
      plain.push(
        await startEtcdCluster({ version, members: 1, name: `schemeplain${version.replace('.', '')}` }),
      );
  });
  after(async () => {
    await tls?.stop();
    for (const c of plain) await c.stop();
  });

  it('http:// to a TLS member: the v3 and HTTP clients say to use https://', async (t) => {
    const url = tls.endpoints[0]!.replace('https://', 'http://');
    const options = clientOptionsFor(tls);
    const { status, health } = await statusAndHealth(t, url, options);
    assert.match(status, /connection closed before it was established/);
    assert.ok(status.includes(USE_HTTPS), status);
    assert.ok(health.includes(USE_HTTPS), health);
    // The right scheme works with the same options.
    const right = createV3MemberClient(parseEndpoint(tls.endpoints[0]!), options);
    t.after(() => right.close());
    await right.status();
  });

  for (const [i, version] of ['3.4', '3.6'].entries()) {
    it(`https:// to a plain etcd ${version} member: the clients and the certificate reader say to use http://`, async (t) => {
      const cluster = plain[i]!;
      const url = cluster.endpoints[0]!.replace('http://', 'https://');
      // TLS material of the other cluster: what a user who added https:// by mistake would pass.
      const options = clientOptionsFor(tls);
      const { status, health } = await statusAndHealth(t, url, options);
      assert.ok(status.includes(USE_HTTP), status);
      assert.ok(health.includes(USE_HTTP), health);
      const chain = await failure(() =>
        fetchPeerChain(parseEndpoint(url), options.tls, 2000, AbortSignal.timeout(10_000)),
      );
      assert.ok(chain.includes(USE_HTTP), chain);
    });
  }

  it('nobody listening: refused, with no hint', async (t) => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const v3 = createV3MemberClient(parseEndpoint(url), clientOptionsFor(plain[0]!));
    t.after(() => v3.close());
    const status = await failure(() => v3.status());
    assert.match(status, /ECONNREFUSED/);
    assert.ok(!status.includes('is this member serving'), status);
  });

  it('inspect shows the hint where users read it', async () => {
    const url = tls.endpoints[0]!.replace('https://', 'http://');
    const r = await cli(['inspect', '--endpoints', url, '--dial-timeout', '2s']);
    assert.equal(r.code, 1);
    assert.ok(r.stdout.includes(USE_HTTPS), r.stdout);
    const back = await cli([
      'inspect',
      '--endpoints',
      plain[1]!.endpoints[0]!.replace('http://', 'https://'),
      ...tlsFlags(tls.tls!),
      '--dial-timeout',
      '2s',
    ]);
    assert.equal(back.code, 1);
    assert.ok(back.stdout.includes(USE_HTTP), back.stdout);
  });
});
