import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEV_ADMIN_TOKEN } from '@millrace/cli';
import { killHard, type Proc, spawnNode, tail, waitFor } from '@millrace/test-kit';
import { afterEach, describe, expect, it } from 'vitest';

// `pnpm dev` (scripts/dev.mjs) as a user runs it, on six free consecutive ports and a temp data
// folder instead of the documented 9092–9097 and .millrace, driven with the `millrace` CLI.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEV = join(ROOT, 'scripts/dev.mjs');
const CLI = join(ROOT, 'apps/cli/bin/millrace.mjs');
const run = promisify(execFile);

const started: Proc[] = [];
const folders: string[] = [];

afterEach(async () => {
  // Whatever a test left: the dev scripts, then any node they recorded, by PID.
  for (const proc of started.splice(0)) await killHard(proc);
  for (const folder of folders.splice(0)) {
    for (const pid of recordedNodes(folder)) killPid(pid);
    rmSync(folder, { recursive: true, force: true });
  }
});

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function recordedNodes(folder: string): number[] {
  try {
    return (JSON.parse(readFileSync(join(folder, 'dev-pids.json'), 'utf8')) as { nodes: number[] }).nodes;
  } catch {
    return [];
  }
}

/** Six consecutive ports free on 127.0.0.1 a moment ago. */
async function freePortRun(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const held: Server[] = [];
    try {
      for (let port = base; port < base + 6; port++) held.push(await listen(port));
      return base;
    } catch {
      // One is taken: try elsewhere.
    } finally {
      await Promise.all(held.map((server) => new Promise((done) => server.close(done))));
    }
  }
  throw new Error('no six consecutive free ports found');
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function startDev(base: number, folder: string, ...flags: string[]): Proc {
  const proc = spawnNode('pnpm-dev', DEV, ['--port-base', String(base), '--data-dir', folder, ...flags]);
  started.push(proc);
  return proc;
}

async function waitReady(dev: Proc): Promise<string> {
  const exited = dev.exited.then((code) => {
    throw new Error(`pnpm dev exited (code ${code}) before the banner\n${tail(dev)}`);
  });
  const banner = waitFor('the banner', () => dev.output.join('').includes('cluster is ready'), 60_000);
  await Promise.race([banner, exited]);
  exited.catch(() => undefined); // it exits later, when the test stops it
  return dev.output.join('');
}

/**
 * Ctrl-C as a terminal delivers it under pnpm: SIGINT, then the same interrupt passed on by pnpm
 * as SIGTERM a moment later (which must not turn an orderly stop into kill -9). Resolves to the
 * time until the script has exited.
 */
async function interrupt(dev: Proc): Promise<{ code: number | null; ms: number }> {
  const began = Date.now();
  dev.child.kill('SIGINT');
  setTimeout(() => dev.child.kill('SIGTERM'), 100).unref();
  const code = await Promise.race([dev.exited, new Promise<'late'>((done) => setTimeout(() => done('late'), 30_000))]);
  if (code === 'late') throw new Error(`pnpm dev did not stop within 30 s\n${tail(dev)}`);
  return { code, ms: Date.now() - began };
}

async function cli(base: number, args: string[], input?: string): Promise<string> {
  const child = run(process.execPath, [CLI, ...args], {
    env: {
      ...process.env,
      MILLRACE_BOOTSTRAP: `127.0.0.1:${base},127.0.0.1:${base + 1}`,
      MILLRACE_TOKEN: DEV_ADMIN_TOKEN,
    },
    timeout: 30_000,
  });
  if (input !== undefined) child.child.stdin?.end(input);
  return (await child).stdout;
}

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'millrace-dev-'));
  folders.push(folder);
  return folder;
}

describe('pnpm dev', () => {
  it('starts six nodes, serves the CLI, stops them all on Ctrl-C within seconds, and keeps the data until --fresh', async () => {
    const base = await freePortRun();
    const folder = tempFolder();
    const first = startDev(base, folder);
    const banner = await waitReady(first);
    expect(banner).toContain(`127.0.0.1:${base},127.0.0.1:${base + 1},127.0.0.1:${base + 2}`);
    expect(banner).toContain(DEV_ADMIN_TOKEN);
    expect(banner).toContain(`http://127.0.0.1:${base}/v1`);
    for (const name of ['controller-1', 'controller-2', 'controller-3', 'broker-1', 'broker-2', 'broker-3'])
      expect(banner).toMatch(new RegExp(`^${name} +\\| `, 'm'));
    const nodes = recordedNodes(folder);
    expect(nodes).toHaveLength(6);

    await cli(base, ['topic', 'create', 'dev-test', '--partitions', '3', '--replication-factor', '3']);
    await cli(base, ['produce', 'dev-test', '--key-separator', ':'], 'a:one\nb:two\nc:three\n');
    const values = async () =>
      (await cli(base, ['consume', 'dev-test', '--json']))
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { value: string }).value)
        .sort();
    expect(await values()).toEqual(['one', 'three', 'two']);

    const stopped = await interrupt(first);
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(15_000);
    expect(nodes.filter(alive)).toEqual([]);
    expect(first.output.join('')).toContain('every node stopped');
    expect(first.output.join('')).not.toContain('killing every node');
    // Brokers stopped with a controlled shutdown, not killed.
    expect(first.output.join('').match(/leaderships moved away; stopping/g)).toHaveLength(3);

    const second = startDev(base, folder);
    await waitReady(second);
    expect(await values()).toEqual(['one', 'three', 'two']);
    expect((await interrupt(second)).code).toBe(0);

    const third = startDev(base, folder, '--fresh');
    await waitReady(third);
    expect(await cli(base, ['topic', 'list'])).not.toContain('dev-test');
    expect((await interrupt(third)).code).toBe(0);
  }, 180_000);

  it('names a port that is taken, with no stack trace, and starts nothing', async () => {
    const base = await freePortRun();
    const folder = tempFolder();
    const holder = await listen(base + 1);
    try {
      const dev = startDev(base, folder);
      expect(await dev.exited).toBe(1);
      const output = dev.output.join('');
      expect(output).toContain(`port ${base + 1} for broker-2 is taken`);
      expect(output).not.toMatch(/\n\s+at /);
      expect(recordedNodes(folder)).toEqual([]);
    } finally {
      await new Promise((done) => holder.close(done));
    }
  });

  it('refuses a bad option with one line and exit code 2', async () => {
    const dev = spawnNode('pnpm-dev', DEV, ['--port-base', 'nine']);
    started.push(dev);
    expect(await dev.exited).toBe(2);
    expect(dev.output.join('')).toContain('--port-base must be an integer from 1024 to 65530, got "nine"');
  });

  it('stops the nodes a pnpm dev killed with kill -9 left running, then starts', async () => {
    const base = await freePortRun();
    const folder = tempFolder();
    const first = startDev(base, folder);
    await waitReady(first);
    const orphans = recordedNodes(folder);
    await killHard(first);
    expect(orphans.filter(alive)).toHaveLength(6); // each node has its own process group: they outlive it

    const second = startDev(base, folder);
    await waitReady(second);
    expect(second.output.join('')).toContain('left running by an earlier pnpm dev');
    expect(orphans.filter(alive)).toEqual([]);
    expect((await interrupt(second)).code).toBe(0);
  }, 120_000);

  it('refuses to start a second pnpm dev on a data folder in use', async () => {
    const base = await freePortRun();
    const folder = tempFolder();
    const first = startDev(base, folder);
    await waitReady(first);
    const second = startDev(base, folder);
    expect(await second.exited).toBe(1);
    expect(second.output.join('')).toContain(`another pnpm dev (pid ${first.child.pid}) is running on ${folder}`);
    expect(recordedNodes(folder).filter(alive)).toHaveLength(6);
    expect((await interrupt(first)).code).toBe(0);
  }, 120_000);
});
