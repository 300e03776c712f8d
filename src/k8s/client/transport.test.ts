import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDualProtocolServer } from '../../testing/h2-server.ts';
import { KubeTransport } from './transport.ts';

// Regression: over HTTP/2 (which undici negotiates by default), aborting a
// Lease renewal in flight could leave Node's HTTP/2 session spinning in its
// native send loop until the process died of std::bad_alloc (the leader
// election test under load). The transport keeps to HTTP/1.1.
test('the Kubernetes transport speaks HTTP/1.1 to a server that offers HTTP/2', async (t) => {
  const server = await startDualProtocolServer({ kind: 'Status' });
  t.after(() => server.close());
  const transport = new KubeTransport({
    server: server.url,
    tls: { ca: server.ca },
    credentials: { type: 'none' },
    source: 'test',
  });
  t.after(() => transport.close());
  assert.deepEqual(await transport.request({ method: 'GET', path: '/version' }), { kind: 'Status' });
  const aborted = new AbortController();
  aborted.abort(new Error('cut short'));
  await assert.rejects(
    transport.request({ method: 'PUT', path: '/lease', body: { spec: {} }, signal: aborted.signal }),
    /cut short/,
  );
  assert.deepEqual(await transport.request({ method: 'GET', path: '/version' }), { kind: 'Status' });
  assert.deepEqual(server.versions, ['1.1', '1.1']);
});
