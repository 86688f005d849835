import { isMillraceError } from '@millrace/protocol';
import { describe, expect, it } from 'vitest';
import { loadBrokerConfig } from '../src/config.js';

const flags = [
  ...['--broker-id', '1', '--cluster-id', 'dev', '--listen', '127.0.0.1:9092'],
  ...['--controllers', '127.0.0.1:9091,127.0.0.1:9093', '--data-dir', '/tmp/b1'],
  ...['--cluster-secret', 'cluster-secret-0123456789'],
];

function refusal(argv: string[]): string {
  try {
    loadBrokerConfig(argv, {});
  } catch (error) {
    if (isMillraceError(error, 'INVALID_CONFIG')) return error.message;
    throw error;
  }
  return 'accepted';
}

describe('broker configuration', () => {
  it('reads flags with defaults, advertising the listen address unless told otherwise', () => {
    const config = loadBrokerConfig(flags, {});
    expect(config).toMatchObject({
      brokerId: 1,
      advertised: { host: '127.0.0.1', port: 9092 },
      rack: null,
      clientToken: null,
      heartbeatIntervalMs: 250,
      logFlushPolicy: 'os',
      tailCacheBytes: 64 * 1024 * 1024,
    });
    expect(loadBrokerConfig([...flags, '--tail-cache-bytes', '0'], {}).tailCacheBytes).toBe(0);
    expect(config.controllers).toHaveLength(2);
    expect(loadBrokerConfig([...flags, '--advertised', 'broker-1.local:19092', '--rack', 'r1'], {})).toMatchObject({
      advertised: { host: 'broker-1.local', port: 19092 },
      rack: 'r1',
    });
    expect(loadBrokerConfig(flags, { MILLRACE_CLIENT_TOKEN: 'client-token-0123456789' }).clientToken).toBe(
      'client-token-0123456789',
    );
  });

  it('refuses each bad setting, naming it', () => {
    const cases: [string[], RegExp][] = [
      [[...flags, '--broker-id=-1'], /config\.brokerId/],
      [[...flags, '--broker-id', '-1'], /argument is ambiguous/],
      [[...flags, '--broker-id', 'x'], /config\.brokerId/],
      [[...flags, '--controllers', ''], /is not host:port/],
      [[...flags, '--log-flush-policy', 'sometimes'], /config\.logFlushPolicy/],
      [[...flags, '--heartbeat-interval-ms', '0'], /config\.heartbeatIntervalMs/],
      [[...flags, '--rack', 'has space'], /config\.rack/],
      [[...flags, '--tail-cache-bytes', '-1'], /argument is ambiguous/],
      [[...flags, '--tail-cache-bytes=-1'], /config\.tailCacheBytes/],
      [[...flags, '--tail-cache-bytes', '1.5'], /config\.tailCacheBytes/],
      [[...flags, '--client-token', 'short'], /client token must be at least 16 characters/],
      [[...flags, '--cluster-id', 'bad id!'], /config\.clusterId/],
      [['--broker-id', '1'], /config\.clusterId[\s\S]*\(read from flags\)/],
    ];
    for (const [argv, message] of cases) expect(refusal(argv), argv.join(' ')).toMatch(message);
  });
});
