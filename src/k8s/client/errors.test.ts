import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  apiErrorFrom,
  isAlreadyExists,
  isConflict,
  isExpired,
  isForbidden,
  isNotFound,
  isTransient,
  isUnauthorized,
  KubeTransportError,
} from './errors.ts';

const status = (code: number, reason: string, message: string, details?: object) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  reason,
  message,
  ...(details && { details }),
});

describe('KubeApiError', () => {
  it('says what was asked and what the server answered', () => {
    const err = apiErrorFrom(
      'list etcdclusters.etcdmonitor.dev in namespace ops',
      403,
      status(
        403,
        'Forbidden',
        'etcdclusters.etcdmonitor.dev is forbidden: User "system:serviceaccount:ops:op" cannot list resource "etcdclusters"',
      ),
    );
    assert.equal(
      err.message,
      'list etcdclusters.etcdmonitor.dev in namespace ops: 403 Forbidden: etcdclusters.etcdmonitor.dev is forbidden: User "system:serviceaccount:ops:op" cannot list resource "etcdclusters"',
    );
    assert.ok(isForbidden(err));
    assert.ok(!isNotFound(err));
  });

  it('classifies by code and reason', () => {
    assert.ok(isNotFound(apiErrorFrom('get', 404, status(404, 'NotFound', 'x not found'))));
    assert.ok(isAlreadyExists(apiErrorFrom('create', 409, status(409, 'AlreadyExists', 'exists'))));
    assert.ok(!isConflict(apiErrorFrom('create', 409, status(409, 'AlreadyExists', 'exists'))));
    assert.ok(
      isConflict(apiErrorFrom('update', 409, status(409, 'Conflict', 'the object has been modified'))),
    );
    assert.ok(isUnauthorized(apiErrorFrom('get', 401, undefined)));
    assert.match(
      apiErrorFrom('get', 401, undefined).message,
      /401 Unauthorized: the credentials were not accepted/,
    );
    assert.ok(isTransient(apiErrorFrom('get', 503, 'upstream down')));
    assert.ok(isTransient(new KubeTransportError('connection refused')));
    assert.ok(!isTransient(apiErrorFrom('get', 422, status(422, 'Invalid', 'bad'))));
  });

  it('recognises every form of "resource version too old"', () => {
    assert.ok(
      isExpired(apiErrorFrom('watch', 410, status(410, 'Expired', 'too old resource version: 1 (200)'))),
    );
    assert.ok(isExpired(apiErrorFrom('watch', 410, undefined)));
    assert.ok(
      isExpired(
        apiErrorFrom(
          'watch',
          500,
          status(500, 'InternalError', 'The resourceVersion for the provided watch is too old.'),
        ),
      ),
    );
    assert.ok(!isExpired(apiErrorFrom('watch', 500, status(500, 'InternalError', 'etcd down'))));
    assert.ok(!isExpired(new Error('too old resource version')));
  });

  it('keeps causes and Retry-After', () => {
    const err = apiErrorFrom(
      'create',
      422,
      status(422, 'Invalid', 'invalid', {
        causes: [{ reason: 'FieldValueInvalid', message: 'bad port', field: 'spec.endpoints[0]' }],
      }),
    );
    assert.deepEqual(err.causes, [
      { reason: 'FieldValueInvalid', message: 'bad port', field: 'spec.endpoints[0]' },
    ]);
    assert.equal(
      apiErrorFrom('list', 429, status(429, 'TooManyRequests', 'slow down', { retryAfterSeconds: 3 }))
        .retryAfterSeconds,
      3,
    );
    assert.equal(apiErrorFrom('list', 429, 'slow down', '7').retryAfterSeconds, 7);
  });
});
