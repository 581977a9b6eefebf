import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { classifyApiError, describeApiError, isRetryable, KubeError } from '../../kube/errors.js';
import { ApiStatusError } from '../../kube/rest.js';

const api = (code: number, body: unknown = '') =>
  new ApiException(code, 'Unsuccessful HTTP Request', body, {});

describe('classifyApiError', () => {
  const table: Array<[string, unknown, string]> = [
    ['404', api(404), 'gone'],
    ['409', api(409), 'conflict'],
    ['422', api(422), 'invalid'],
    ['400', api(400), 'invalid'],
    ['403', api(403), 'forbidden'],
    ['401', api(401), 'forbidden'],
    ['429', api(429), 'retry'],
    ['500', api(500), 'retry'],
    ['503', api(503), 'retry'],
    ['410 from a watch', new ApiStatusError(410, {}), 'retry'],
    ['ECONNREFUSED', Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'retry'],
    [
      'wrapped network error',
      new KubeError('NETWORK', 'x', Object.assign(new Error('y'), { code: 'ECONNRESET' })),
      'retry',
    ],
    ['wrapped api error', new KubeError('WRITE', 'x', api(409)), 'conflict'],
    ['plain error', new Error('?'), 'unknown'],
    ['non-error', 'nope', 'unknown'],
    ['418', api(418), 'unknown'],
  ];
  for (const [name, err, want] of table) it(name, () => expect(classifyApiError(err)).toBe(want));

  it('isRetryable covers retry and conflict only', () => {
    expect(isRetryable(api(503))).toBe(true);
    expect(isRetryable(api(409))).toBe(true);
    expect(isRetryable(api(422))).toBe(false);
  });
});

describe('KubeError / describeApiError', () => {
  it('carries code and cause', () => {
    const cause = new Error('root');
    const e = new KubeError('X', 'msg', cause);
    expect(e.code).toBe('X');
    expect(e.cause).toBe(cause);
    expect(e).toBeInstanceOf(Error);
  });
  it('uses the Status message from object or JSON-text bodies', () => {
    expect(describeApiError(api(422, { message: 'spec.x: Invalid' }))).toBe('HTTP 422: spec.x: Invalid');
    expect(describeApiError(api(409, '{"kind":"Status","message":"conflict!"}'))).toBe('HTTP 409: conflict!');
    expect(describeApiError(new Error('plain'))).toBe('plain');
  });
});
