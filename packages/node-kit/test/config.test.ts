import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMillraceError } from '@millrace/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig, parseEndpoint, parseVoters } from '../src/index.js';

const schema = z.strictObject({
  id: z.int().min(1),
  listen: z.strictObject({ host: z.string(), port: z.int().min(1).max(65535) }),
  peers: z.array(z.strictObject({ host: z.string(), port: z.int() })).default([]),
  secret: z.string().min(8),
  verbose: z.boolean().default(false),
});
const flags = [
  { flag: 'id', field: 'id', kind: 'int' },
  { flag: 'listen', field: 'listen', kind: 'endpoint' },
  { flag: 'peers', field: 'peers', kind: 'endpoints' },
  { flag: 'secret', field: 'secret', kind: 'string', env: 'TEST_SECRET' },
  { flag: 'verbose', field: 'verbose', kind: 'boolean' },
] as const;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function load(argv: string[], env: NodeJS.ProcessEnv = {}) {
  return loadConfig({ schema, flags, usage: 'usage text', argv, env });
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isMillraceError(error, 'INVALID_CONFIG')) return error.message;
    throw error;
  }
  return 'accepted';
}

describe('loadConfig', () => {
  it('takes the file, then flags over it, then the environment for what neither gives', () => {
    const dir = mkdtempSync(join(tmpdir(), 'node-kit-'));
    dirs.push(dir);
    const path = join(dir, 'c.json');
    writeFileSync(path, JSON.stringify({ id: 1, listen: { host: 'a', port: 1 }, secret: 'from-the-file' }));
    expect(load(['--config', path, '--id', '2', '--verbose'])).toEqual({
      id: 2,
      listen: { host: 'a', port: 1 },
      peers: [],
      secret: 'from-the-file',
      verbose: true,
    });
    expect(
      load(['--id', '3', '--listen', '[::1]:9000', '--peers', 'x:1, y:2'], { TEST_SECRET: 'from-the-env' }),
    ).toMatchObject({
      listen: { host: '::1', port: 9000 },
      peers: [
        { host: 'x', port: 1 },
        { host: 'y', port: 2 },
      ],
      secret: 'from-the-env',
    });
  });

  it('refuses with INVALID_CONFIG naming the field and the source', () => {
    expect(refusal(() => load(['--id', 'one', '--listen', 'a:1', '--secret', 'long-enough']))).toMatch(
      /config\.id: .*\(read from flags\)/,
    );
    expect(refusal(() => load(['--id', '1', '--listen', 'a', '--secret', 'long-enough']))).toMatch(
      /--listen "a" is not host:port/,
    );
    expect(refusal(() => load(['--nope']))).toMatch(/Unknown option '--nope'[\s\S]*usage text/);
    expect(refusal(() => load(['--config', '/does/not/exist.json']))).toMatch(/Cannot read config file/);
  });
});

describe('address parsing', () => {
  it('reads host:port and id@host:port lists', () => {
    expect(parseEndpoint('127.0.0.1:9092', 'x')).toEqual({ host: '127.0.0.1', port: 9092 });
    expect(parseVoters('1@a:1,2@b:2', 'x')).toEqual([
      { nodeId: 1, endpoint: { host: 'a', port: 1 } },
      { nodeId: 2, endpoint: { host: 'b', port: 2 } },
    ]);
    expect(refusal(() => parseEndpoint('a:b', '--x'))).toMatch(/--x "a:b" is not host:port/);
    expect(refusal(() => parseVoters('a:1', '--voters'))).toMatch(/--voters item "a:1" is not id@host:port/);
  });
});
