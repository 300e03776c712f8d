import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { createServer } from 'node:net';
import { silentLogger } from '../log.ts';
import { eventually } from '../testing/wait.ts';
import { ProbeListener } from './probe-listener.ts';

function request(
  address: string,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: string; type: string }> {
  const port = Number(address.split(':').at(-1));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('the probe listener answers /healthz, and /readyz after the ready flag; nothing else', async () => {
  const probes = new ProbeListener(silentLogger());
  const address = await probes.listen('127.0.0.1:0');
  try {
    assert.match(address, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(await request(address, '/healthz'), {
      status: 200,
      body: 'ok\n',
      type: 'text/plain; charset=utf-8',
    });
    assert.equal((await request(address, '/readyz')).status, 503);
    assert.equal((await request(address, '/readyz')).body, 'not ready\n');
    probes.setReady(true);
    assert.equal((await request(address, '/readyz')).status, 200);
    assert.equal((await request(address, '/readyz?verbose')).body, 'ready\n');
    probes.setReady(false);
    assert.equal((await request(address, '/readyz')).status, 503);
    const other = await request(address, '/metrics');
    assert.equal(other.status, 404);
    assert.match(other.body, /serves \/healthz and \/readyz only; \/metrics and the API are on --listen/);
    assert.equal((await request(address, '/healthz', 'POST')).status, 405);
    assert.equal((await request(address, '/healthz', 'HEAD')).status, 200);
  } finally {
    await probes.close();
  }
  // Closed: the port no longer answers.
  await assert.rejects(request(address, '/healthz'), /ECONNREFUSED/);
});

test('a main event loop blocked beyond the stall limit makes both probes answer 503, saying so', async () => {
  const probes = new ProbeListener(silentLogger(), 300);
  const address = await probes.listen('127.0.0.1:0');
  probes.setReady(true);
  try {
    // spawnSync blocks this thread (no heartbeat) while the child, after
    // well over the limit, asks the probe listener, which runs on its own thread.
    const ask = (path: string): string =>
      spawnSync(
        process.execPath,
        [
          '-e',
          `setTimeout(async () => { const r = await fetch('http://${address}${path}'); process.stdout.write(r.status + ' ' + (await r.text())); }, 1500)`,
        ],
        { encoding: 'utf8' },
      ).stdout;
    for (const path of ['/healthz', '/readyz']) {
      const answer = ask(path);
      assert.match(
        answer,
        /^503 stalled: the main event loop has not run for \d+\.\d s \(limit 0\.3 s\); inspections and \/metrics are stuck/,
      );
    }
    // Once the loop turns again, the heartbeat is fresh.
    await eventually(async () => (await request(address, '/healthz')).status === 200, 'healthy again');
  } finally {
    await probes.close();
  }
});

test('an address that does not parse or is taken is an error naming the flag', async () => {
  await assert.rejects(
    new ProbeListener(silentLogger()).listen('localhost'),
    /--probe-listen "localhost" is not HOST:PORT/,
  );
  await assert.rejects(
    new ProbeListener(silentLogger()).listen('nope', 'probeListen:'),
    /probeListen: "nope" is not HOST:PORT/,
  );
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    await assert.rejects(
      new ProbeListener(silentLogger()).listen(`127.0.0.1:${port}`),
      new RegExp(`cannot listen on --probe-listen 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
    );
  } finally {
    taken.close();
  }
});
