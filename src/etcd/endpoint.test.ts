import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpoint, redactUserinfo } from './endpoint.ts';

test('endpoints parse to scheme, host, port and the host:port label', () => {
  assert.deepEqual(parseEndpoint('https://10.0.0.1:2379'), {
    url: 'https://10.0.0.1:2379',
    scheme: 'https',
    host: '10.0.0.1',
    port: 2379,
    hostPort: '10.0.0.1:2379',
  });
  assert.equal(parseEndpoint(' http://etcd-0.etcd:2379/ ').hostPort, 'etcd-0.etcd:2379');
  assert.deepEqual(parseEndpoint('http://[::1]:2379'), {
    url: 'http://[::1]:2379',
    scheme: 'http',
    host: '::1',
    port: 2379,
    hostPort: '[::1]:2379',
  });
});

test('malformed endpoints are errors that say what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['', /endpoint is empty/],
    ['10.0.0.1:2379', /has no scheme: write http:\/\/10.0.0.1:2379 or https:\/\/10.0.0.1:2379/],
    ['https://10.0.0.1', /has no port: write https:\/\/10.0.0.1:2379/],
    ['unix://etcd.sock:0', /only http and https/],
    ['https://user:pw@10.0.0.1:2379', /carries credentials in the URL/],
    ['https://10.0.0.1:2379/v3', /has a path or query/],
    ['http://:2379', /not a valid URL|has no host/],
  ];
  for (const [raw, message] of cases) assert.throws(() => parseEndpoint(raw), message, raw);
});

test('an endpoint error never repeats a password given in the URL', () => {
  assert.throws(
    () => parseEndpoint('https://root:hunter2@10.0.0.1:2379'),
    (err: Error) => !err.message.includes('hunter2'),
  );
});

test('user info is redacted before any other check, whatever else is wrong with the endpoint', () => {
  const secret = 'pa:ss@w0rd/x';
  const cases = [
    `root:${secret}@127.0.0.1:2379`,
    `etcd://root:${secret}@127.0.0.1:2379`,
    `https://root:${secret}@127.0.0.1:2379`,
    `https://root:${secret}@127.0.0.1`,
    `unix://root:${secret}@sock`,
    `root:${secret}@`,
    `http://root:${secret}@[::1]:2379/v3?x=1`,
  ];
  for (const raw of cases) {
    assert.throws(
      () => parseEndpoint(raw),
      (err: Error) =>
        !err.message.includes('pa:ss') &&
        !err.message.includes('w0rd') &&
        !err.message.includes('root') &&
        /carries credentials/.test(err.message),
      raw,
    );
  }
  assert.throws(
    () => parseEndpoint('root:pw@10.0.0.1:2379'),
    /write http:\/\/10\.0\.0\.1:2379 or https:\/\/10\.0\.0\.1:2379/,
  );
  assert.equal(redactUserinfo('https://u:p@h:1/v3'), 'https://[REDACTED]@h:1/v3');
  assert.equal(redactUserinfo('https://h:1'), 'https://h:1');
});

test('port 0 is refused', () => {
  assert.throws(() => parseEndpoint('http://127.0.0.1:0'), /has port 0/);
});
