import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { freePorts, type ProcessCluster, startProcessCluster, waitFor } from '@millrace/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/index.js';

// The millrace command against three controller and three broker processes, started once for
// this file; most cases call run() in-process with captured streams, a few spawn the built CLI.

const BROKER_MAIN = fileURLToPath(new URL('../../broker/dist/main.js', import.meta.url));
const CONTROLLER_MAIN = fileURLToPath(new URL('../../controller/dist/main.js', import.meta.url));
const CLI_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await startProcessCluster({
    controllerMain: CONTROLLER_MAIN,
    brokerMain: BROKER_MAIN,
    brokerFlags: ['--heartbeat-interval-ms', '200'],
    controllerFlags: ['--broker-session-timeout-ms', '1500'],
  });
  await cluster.waitReady();
}, 60_000);

afterAll(async () => {
  await cluster?.close();
}, 30_000);

async function cli(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const code = await run(args, {
    stdout,
    stderr,
    stdin: Readable.from([stdin]),
    env: { MILLRACE_BOOTSTRAP: cluster.bootstrap.join(','), MILLRACE_TOKEN: cluster.adminToken },
  });
  return { code, out, err };
}

describe('the millrace CLI', () => {
  it('topic create, list, describe (a table and --json), alter-config, add-partitions, delete', async () => {
    const created = await cli([
      'topic',
      'create',
      'cli-orders',
      '--partitions',
      '3',
      '--replication-factor',
      '3',
      '--config',
      'min.insync.replicas=2',
    ]);
    expect(created).toMatchObject({ code: 0, out: 'created topic cli-orders with 3 partitions\n' });
    const list = await cli(['topic', 'list']);
    expect(list.out).toMatch(/^TOPIC\s+PARTITIONS\s+REPLICATION\s+ID\n/);
    expect(list.out).toMatch(/\ncli-orders\s+3\s+3\s+/);
    const describe = await cli(['topic', 'describe', 'cli-orders']);
    expect(describe.out).toMatch(/PARTITION\s+LEADER\s+LEADER EPOCH\s+PARTITION EPOCH\s+REPLICAS\s+ISR/);
    expect(describe.out.trim().split('\n')).toHaveLength(5);
    const asJson = JSON.parse((await cli(['topic', 'describe', 'cli-orders', '--json'])).out) as {
      partitions: unknown[];
    };
    expect(asJson.partitions).toHaveLength(3);
    const altered = await cli(['topic', 'alter-config', 'cli-orders', '--set', 'retention.ms=3600000']);
    expect(altered.out).toMatch(/retention\.ms\s+3600000\s+topic/);
    expect((await cli(['topic', 'add-partitions', 'cli-orders', '--total', '4'])).out).toBe(
      'topic cli-orders has 4 partitions\n',
    );
    expect((await cli(['topic', 'delete', 'cli-orders'])).out).toBe('deleted topic cli-orders\n');
    expect((await cli(['topic', 'list', '--json'])).out).not.toContain('cli-orders');
  }, 60_000);

  it('cluster shows controllers, brokers and partition health', async () => {
    const { code, out } = await cli(['cluster']);
    expect(code).toBe(0);
    expect(out).toMatch(/CONTROLLER\s+ENDPOINT\s+ACTIVE/);
    expect(out.match(/\byes\b/g)).toHaveLength(1);
    expect(out).toMatch(/BROKER\s+ENDPOINT\s+STATE\s+EPOCH/);
    expect(out.match(/\balive\b/g)).toHaveLength(3);
    expect(out).toMatch(/offline partitions:\s+none/);
    const json = JSON.parse((await cli(['cluster', '--json'])).out) as {
      brokers: unknown[];
      health: { healthy: boolean };
    };
    expect(json.brokers).toHaveLength(3);
  }, 30_000);

  it('produce reads lines (keys, headers) and consume prints them back, from the beginning, an offset or a time', async () => {
    await cli(['topic', 'create', 'cli-lines', '--partitions', '1', '--replication-factor', '3']);
    const before = Date.now();
    const produced = await cli(
      ['produce', 'cli-lines', '--key-separator', ':', '--header', 'source=cli'],
      'k1:first\nk2:second\nno key here\n',
    );
    expect(produced).toMatchObject({ code: 0, err: 'produced 3 records to cli-lines\n' });
    const all = await cli(['consume', 'cli-lines']);
    expect(all.out).toBe('0\t0\tk1\tfirst\n0\t1\tk2\tsecond\n0\t2\t-\tno key here\n');
    const fromOffset = await cli(['consume', 'cli-lines', '--partition', '0', '--from', '1', '--json']);
    const records = fromOffset.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((r) => r.value)).toEqual(['second', 'no key here']);
    expect(records[0]).toMatchObject({ key: 'k2', offset: '1', headers: { source: 'cli' } });
    const fromTime = await cli([
      'consume',
      'cli-lines',
      '--from',
      new Date(before - 60_000).toISOString(),
      '--max-messages',
      '1',
    ]);
    expect(fromTime.out).toBe('0\t0\tk1\tfirst\n');
    const latest = await cli(['consume', 'cli-lines', '--from', 'latest']);
    expect(latest).toEqual({ code: 0, out: '', err: '' });
  }, 60_000);

  it('consume --group reads once and commits; group list, describe (lag), reset-offsets, delete', async () => {
    await cli(['topic', 'create', 'cli-group', '--partitions', '2', '--replication-factor', '3']);
    await cli(['produce', 'cli-group'], 'a\nb\nc\nd\n');
    const first = await cli(['consume', 'cli-group', '--group', 'cli-readers']);
    expect(first.code).toBe(0);
    expect(
      first.out
        .trim()
        .split('\n')
        .map((line) => line.split('\t')[3])
        .sort(),
    ).toEqual(['a', 'b', 'c', 'd']);
    // Committed: the group's next member has nothing left to read.
    const second = await cli(['consume', 'cli-group', '--group', 'cli-readers']);
    expect(second).toMatchObject({ code: 0, out: '' });
    const listed = await cli(['group', 'list', '--json']);
    expect(JSON.parse(listed.out)).toContainEqual({ groupId: 'cli-readers', state: 'empty', members: 0 });
    const described = await cli(['group', 'describe', 'cli-readers']);
    expect(described.out).toMatch(/group cli-readers: empty/);
    expect(described.out).toMatch(/TOPIC\s+PARTITION\s+COMMITTED\s+END\s+LAG/);
    expect(
      described.out
        .trim()
        .split('\n')
        .slice(-2)
        .map((line) => line.trim().split(/\s+/).at(-1)),
    ).toEqual(['0', '0']);
    const reset = await cli([
      'group',
      'reset-offsets',
      'cli-readers',
      '--topic',
      'cli-group',
      '--to',
      'earliest',
      '--json',
    ]);
    expect(JSON.parse(reset.out).map((o: { offset: string }) => o.offset)).toEqual(['0', '0']);
    const again = await cli(['consume', 'cli-group', '--group', 'cli-readers', '--max-messages', '4']);
    expect(again.out.trim().split('\n')).toHaveLength(4);
    expect(await cli(['group', 'reset-offsets', 'cli-readers', '--topic', 'cli-group'])).toMatchObject({ code: 2 });
    expect(await cli(['consume', 'cli-group', '--group', 'g', '--partition', '0'])).toMatchObject({ code: 2 });
    expect(await cli(['group', 'delete', 'cli-readers'])).toMatchObject({
      code: 0,
      out: 'deleted group cli-readers\n',
    });
    const gone = await cli(['group', 'describe', 'cli-readers']);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/GROUP_ID_NOT_FOUND/);
  }, 90_000);

  it('mistakes are one line on stderr and a non-zero exit, never a stack trace', async () => {
    const cases: [string[], RegExp, number][] = [
      [['topic', 'describe', 'no-such-topic'], /^millrace: .*UNKNOWN_TOPIC_OR_PARTITION/, 1],
      [['topic', 'create'], /^millrace: missing TOPIC/, 2],
      [['topic', 'create', 'x', '--partitions', 'many'], /--partitions takes a non-negative integer/, 2],
      [['topic', 'create', 'bad name!'], /^millrace: .*INVALID_REQUEST/, 1],
      [['frobnicate'], /unknown command "frobnicate"/, 2],
      [['topic', 'list', '--colour'], /Unknown option '--colour'/, 2],
      [['consume', 'x', '--from', 'yesterday-ish'], /--from takes beginning, latest/, 2],
      [['produce', 'x', '--acks', '2'], /--acks must be all, 1 or 0/, 2],
      [['topic', 'alter-config', 'x', '--set', 'novalue'], /--set takes name=value/, 2],
    ];
    for (const [args, message, code] of cases) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(code);
      expect(result.err, args.join(' ')).toMatch(message);
      expect(result.err.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(result.err).not.toMatch(/\n\s+at /);
    }
  }, 60_000);

  it('--help for every command; an unreachable cluster is one clear line', async () => {
    for (const command of [[], ['cluster'], ['topic', 'create'], ['topic', 'alter-config'], ['produce'], ['consume']]) {
      const { code, out } = await cli([...command, '--help']);
      expect(code).toBe(0);
      expect(out).toMatch(/^millrace/);
    }
    const [port] = await freePorts(1);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const code = await run(['topic', 'list', '--bootstrap', `127.0.0.1:${port}`], {
      stdout,
      stderr,
      stdin: Readable.from([]),
      env: {},
    });
    expect(code).toBe(1);
    expect(err).toMatch(/^millrace: .*NETWORK_EXCEPTION.*is the cluster running\?/);
  }, 60_000);

  it('consume --follow as a process: prints new records as they come, and Ctrl-C exits 0 within seconds', async () => {
    await cli(['topic', 'create', 'cli-follow', '--partitions', '1', '--replication-factor', '3']);
    const child = spawn(process.execPath, [CLI_MAIN, 'consume', 'cli-follow', '--follow'], {
      env: { ...process.env, MILLRACE_BOOTSTRAP: cluster.bootstrap.join(','), MILLRACE_TOKEN: cluster.adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await cli(['produce', 'cli-follow'], 'one\ntwo\n');
      await waitFor(`both records printed (stderr: ${err})`, () => out.includes('two'), 20_000);
      child.kill('SIGINT');
      const started = performance.now();
      expect(await exited).toBe(0);
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(out).toBe('0\t0\t-\tone\n0\t1\t-\ttwo\n');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
