import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelLogStore } from '../../src/log/level-log-store.js';
import { LogManager } from '../../src/log/log-manager.js';
import { type FlushPolicy, topicIdPartition } from '../../src/log/types.js';
import { newPartition, readAll, removeTempFolders, tempFolder } from './helpers.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const script = join(here, 'fixtures', 'append-until-killed.ts');
const broker = join(here, '..', '..');
const children: ChildProcess[] = [];

afterEach(() => {
  // A writer still running after a failure is killed by its PID, never by name.
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
    }
  }
  removeTempFolders();
});

/**
 * Runs the writer until it has acknowledged `acks` appends, then kills it with SIGKILL at once
 * (by its PID) while it keeps appending. Returns the acknowledged offsets. Every wait is bounded.
 */
async function appendThenKill(
  path: string,
  topicId: string,
  flushPolicy: FlushPolicy,
  acks: number,
): Promise<bigint[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, path, topicId, flushPolicy], {
    cwd: broker,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const acked: bigint[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the writer acknowledged ${acked.length} appends in 15 s; stderr: ${stderr}`)),
      15_000,
    );
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('ready') || acked.length >= acks) continue;
        acked.push(BigInt(line));
        if (acked.length === acks) {
          process.kill(child.pid!, 'SIGKILL');
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (acked.length < acks) reject(new Error(`the writer exited (${code}) early; stderr: ${stderr}`));
    });
  });
  const signal = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('timeout'), 5_000))]);
  expect(signal).toBe('SIGKILL');
  return acked;
}

describe('kill -9 of a writer right after appends return', () => {
  for (const [flushPolicy, acks] of [
    ['os', 300],
    ['every-batch', 100],
  ] as const) {
    it(`flush policy ${flushPolicy}: every acknowledged batch is there after a restart, twice over`, async () => {
      const path = join(tempFolder(), 'log');
      const topicId = newPartition().topicId;
      const first = await appendThenKill(path, topicId, flushPolicy, acks);
      const second = await appendThenKill(path, topicId, flushPolicy, acks);
      expect(second[0]).toBeGreaterThan(first[first.length - 1]!);

      const logs = await LogManager.open(await LevelLogStore.open(path), { highWatermarkCheckpointIntervalMs: 0 });
      try {
        const log = logs.require(topicIdPartition(topicId, 0));
        const records = await readAll(log);
        // Dense from 0, each record the value its writer gave it, and every acknowledged one present.
        expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => BigInt(i)));
        for (const r of records) expect(r.value).toBe(`v${r.offset}`);
        for (const offset of [...first, ...second]) expect(offset).toBeLessThan(log.logEndOffset);
      } finally {
        await logs.close();
      }
    });
  }
});
