import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMillraceError } from '@millrace/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { loadControllerConfig } from '../src/config.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function file(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'millrace-cfg-'));
  dirs.push(dir);
  const path = join(dir, 'controller.json');
  writeFileSync(path, content);
  return path;
}

const flags = [
  '--node-id',
  '1',
  '--cluster-id',
  'dev',
  '--listen',
  '127.0.0.1:9091',
  '--voters',
  '1@127.0.0.1:9091,2@127.0.0.1:9092,3@127.0.0.1:9093',
  '--data-dir',
  '/tmp/c1',
  '--admin-token',
  'admin-token-0123456789',
  '--cluster-secret',
  'cluster-secret-0123456789',
];

function refusal(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    loadControllerConfig(argv, env);
  } catch (error) {
    if (isMillraceError(error, 'INVALID_CONFIG')) return error.message;
    throw error;
  }
  return 'accepted';
}

describe('controller configuration', () => {
  it('reads flags, with defaults for everything optional', () => {
    const config = loadControllerConfig(flags, {});
    expect(config).toMatchObject({
      nodeId: 1,
      listen: { host: '127.0.0.1', port: 9091 },
      initialize: false,
      brokerSessionTimeoutMs: 2000,
      raftTickMs: 50,
    });
    expect(config.voters.map((v) => v.nodeId)).toEqual([1, 2, 3]);
  });

  it('reads a file, with flags and the environment overriding it', () => {
    const path = file(
      JSON.stringify({
        nodeId: 2,
        clusterId: 'dev',
        listen: { host: '127.0.0.1', port: 9092 },
        voters: [{ nodeId: 2, endpoint: { host: '127.0.0.1', port: 9092 } }],
        dataDir: '/tmp/c2',
        brokerSessionTimeoutMs: 5000,
      }),
    );
    const config = loadControllerConfig(['--config', path, '--log-level', 'debug'], {
      MILLRACE_ADMIN_TOKEN: 'from-the-environment-1',
      MILLRACE_CLUSTER_SECRET: 'from-the-environment-2',
    });
    expect(config).toMatchObject({
      nodeId: 2,
      brokerSessionTimeoutMs: 5000,
      logLevel: 'debug',
      adminToken: 'from-the-environment-1',
    });
  });

  it('refuses each bad setting with a message naming the field', () => {
    const without = (flag: string) => {
      const i = flags.indexOf(flag);
      return [...flags.slice(0, i), ...flags.slice(i + 2)];
    };
    const cases: [string[], RegExp][] = [
      [without('--node-id'), /config\.nodeId: .*\(read from flags\)/],
      [[...flags, '--node-id', '4'], /voters: the voters must include this node \(4\)/],
      [[...flags, '--node-id', '0'], /\.nodeId/],
      [[...flags, '--node-id', 'x'], /\.nodeId/],
      [[...flags, '--listen', '127.0.0.1'], /--listen "127\.0\.0\.1" is not host:port/],
      [[...flags, '--listen', '127.0.0.1:70000'], /\.listen\.port/],
      [[...flags, '--voters', '1@127.0.0.1:9091,1@127.0.0.1:9092'], /voter ids must be unique/],
      [[...flags, '--voters', 'one'], /--voters item "one" is not id@host:port/],
      [[...flags, '--admin-token', 'short'], /admin token must be at least 16 characters/],
      [[...flags, '--cluster-id', 'bad id'], /\.clusterId/],
      [[...flags, '--log-level', 'loud'], /\.logLevel/],
      [[...flags, '--unknown-flag'], /Unknown option '--unknown-flag'/],
      [['--config', '/nonexistent/controller.json'], /Cannot read config file \/nonexistent\/controller\.json/],
      [['--config', file('{not json')], /is not valid JSON/],
      [['--config', file('[1,2]')], /must hold a JSON object/],
      [['--config', file('{"nodeId": 1, "surprise": true}'), ...flags], /surprise/],
      [['--config', file('{"__proto__": {"nodeId": 1}}'), ...flags], /__proto__/],
    ];
    for (const [argv, message] of cases) expect(refusal(argv), argv.join(' ')).toMatch(message);
  });
});
