import { describe, expect, it } from 'vitest';
import { DEV_ADMIN_TOKEN, target } from '../src/index.js';

describe('where the CLI connects', () => {
  it('defaults to the pnpm dev cluster, with its admin token', () => {
    expect(target({}, {})).toEqual({ bootstrap: ['127.0.0.1:9092', '127.0.0.1:9093'], token: DEV_ADMIN_TOKEN });
  });

  it('never sends the dev token to a cluster named by flag or environment', () => {
    expect(target({ bootstrap: 'kafka-1:9092' }, {})).toEqual({ bootstrap: ['kafka-1:9092'], token: undefined });
    expect(target({}, { MILLRACE_BOOTSTRAP: 'a:1, b:2,' })).toEqual({ bootstrap: ['a:1', 'b:2'], token: undefined });
  });

  it('takes the flag over the environment, for either', () => {
    const env = { MILLRACE_BOOTSTRAP: 'env:1', MILLRACE_TOKEN: 'env-token' };
    expect(target({}, env)).toEqual({ bootstrap: ['env:1'], token: 'env-token' });
    expect(target({ bootstrap: 'flag:1', token: 'flag-token' }, env)).toEqual({
      bootstrap: ['flag:1'],
      token: 'flag-token',
    });
    expect(target({ token: 'flag-token' }, {})).toEqual({
      bootstrap: ['127.0.0.1:9092', '127.0.0.1:9093'],
      token: 'flag-token',
    });
  });
});
