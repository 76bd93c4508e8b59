import { describe, expect, it } from 'vitest';
import { errorTypeOf } from '../src/index.js';

describe('errorTypeOf', () => {
  it('names each status we answer with by its OpenAI-style type; other 4xx are invalid requests, other 5xx server errors', () => {
    const types = Object.fromEntries([400, 401, 403, 404, 409, 410, 413, 429, 500, 502, 503, 507].map((s) => [s, errorTypeOf(s)]));
    expect(types).toEqual({
      400: 'invalid_request_error',
      401: 'authentication_error',
      403: 'permission_error',
      404: 'not_found_error',
      409: 'invalid_request_error',
      410: 'invalid_request_error',
      413: 'invalid_request_error',
      429: 'rate_limit_error',
      500: 'server_error',
      502: 'server_error',
      503: 'service_unavailable',
      507: 'server_error',
    });
  });
});
