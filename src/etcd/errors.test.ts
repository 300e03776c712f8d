import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyHttpError } from './http/agent.ts';
import { unansweredDialText } from './v3/transport.ts';
import {
  GrpcCode,
  classifyGrpcStatus,
  cleanGrpcDetails,
  friendlyNetworkText,
  schemeHint,
  scrub,
} from './errors.ts';

describe('error classification', () => {
  // etcd's message decides first, then the transport status; TLS failures are told apart.
  const statuses: [code: number, details: string, expected: string][] = [
    [GrpcCode.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted', 'compacted'],
    [GrpcCode.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision', 'future_revision'],
    [GrpcCode.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password', 'auth'],
    [GrpcCode.INVALID_ARGUMENT, 'etcdserver: user name is empty', 'auth'],
    [GrpcCode.PERMISSION_DENIED, 'etcdserver: permission denied', 'auth'],
    [GrpcCode.UNAUTHENTICATED, 'etcdserver: invalid auth token', 'auth'],
    [GrpcCode.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled', 'unknown'],
    [
      GrpcCode.UNAVAILABLE,
      'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1',
      'unavailable',
    ],
    [GrpcCode.UNAVAILABLE, 'etcdserver: no leader', 'unavailable'],
    // A member that accepts and never answers is unavailable, on a TLS channel too.
    [
      GrpcCode.UNAVAILABLE,
      `No connection established. Last error: ${unansweredDialText(1000)}`,
      'unavailable',
    ],
    [
      GrpcCode.UNAVAILABLE,
      'No connection established. Last error: unable to verify the first certificate',
      'tls',
    ],
    [GrpcCode.UNAVAILABLE, "Hostname/IP does not match certificate's altnames", 'tls'],
    [GrpcCode.UNAVAILABLE, 'ssl/tls alert bad certificate: SSL alert number 42', 'tls'],
    [GrpcCode.DEADLINE_EXCEEDED, 'Deadline exceeded', 'timeout'],
    [GrpcCode.CANCELLED, 'Cancelled on client', 'canceled'],
    [GrpcCode.UNIMPLEMENTED, 'unknown service', 'unsupported'],
  ];
  for (const [code, details, expected] of statuses) {
    it(`classifies gRPC status ${code} "${details}" as ${expected}`, () => {
      assert.equal(classifyGrpcStatus(code, details), expected);
    });
  }

  it('shortens grpc-js connection failures', () => {
    assert.equal(
      cleanGrpcDetails(
        'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1 (2026-11-26T07:43:05.238Z). Resolution note: ',
      ),
      'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1',
    );
    assert.equal(
      cleanGrpcDetails(
        'Last error: 400D6620D87F0000:error:0A000412:SSL routines:ssl3_read_bytes:ssl/tls alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number 42\n',
      ),
      'Last error: ssl/tls alert bad certificate: SSL alert number 42',
    );
    assert.equal(friendlyNetworkText('connect ECONNREFUSED 1.2.3.4:5'), 'connection refused');
    assert.equal(friendlyNetworkText('getaddrinfo ENOTFOUND nowhere'), 'cannot resolve host');
  });

  it('classifies undici failures from their code and cause', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    assert.equal(classifyHttpError(refused).code, 'unavailable');
    assert.match(classifyHttpError(refused).detail, /^connection refused/);
    const cert = Object.assign(new Error('unable to verify the first certificate'), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    assert.equal(classifyHttpError(new Error('fetch failed', { cause: cert })).code, 'tls');
    assert.equal(
      classifyHttpError(
        Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
      ).code,
      'unavailable',
    );
  });

  it('scrubs secrets from texts', () => {
    assert.equal(
      scrub('user root password hunter2 rejected', ['hunter2', '']),
      'user root password [REDACTED] rejected',
    );
  });
});

describe('the wrong scheme', () => {
  it('a plaintext connection a TLS member closes at once hints at https://', () => {
    for (const detail of [
      'No connection established. Last error: connection closed before it was established',
      'connection reset: socket hang up (ECONNRESET)',
    ])
      assert.equal(
        schemeHint(detail, false),
        ' (is this member serving TLS? use https:// and --cacert)',
        detail,
      );
  });
  it('a TLS connection a plaintext member drops, or answers in clear, hints at http://', () => {
    for (const detail of [
      'Client network socket disconnected before secure TLS connection was established',
      'TLS handshake failed: ssl3_get_record: wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)',
    ])
      assert.equal(schemeHint(detail, true), ' (is this member serving plain HTTP? use http://)', detail);
  });
  it('other failures, and the other direction of each text, have no hint', () => {
    assert.equal(schemeHint('connect ECONNREFUSED 127.0.0.1:1', false), '');
    assert.equal(schemeHint('connect ECONNREFUSED 127.0.0.1:1', true), '');
    assert.equal(schemeHint('unable to verify the first certificate', true), '');
    assert.equal(schemeHint('connection closed before it was established', true), '');
    assert.equal(schemeHint('wrong version number', false), '');
  });
});
