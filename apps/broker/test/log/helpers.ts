import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRecordBatch, encodeRecordBatch, isMillraceError, type MillraceError } from '@millrace/protocol';
import { LevelLogStore, type LevelLogStoreOptions } from '../../src/log/level-log-store.js';
import type { LogStore } from '../../src/log/log-store.js';
import { MemoryLogStore } from '../../src/log/memory-log-store.js';
import type { PartitionLog } from '../../src/log/partition-log.js';
import { type TopicIdPartition, topicIdPartition } from '../../src/log/types.js';

/** A fresh partition: a new topic id each time, so tests can share one store. */
export function newPartition(partition = 0): TopicIdPartition {
  return topicIdPartition(randomUUID(), partition);
}

export const META = { topic: 'orders', createdAtMs: 1_700_000_000_000 } as const;

/** A producer's batch (base offset 0, no epoch) holding `values`, with timestamps `timestampMs + i` unless given. */
export function batchOf(
  values: readonly string[],
  options: { timestampMs?: number; timestamps?: number[] } = {},
): Buffer {
  const base = options.timestampMs ?? 1_000;
  return ownBuffer(
    encodeRecordBatch({
      records: values.map((value, i) => ({ value, timestamp: options.timestamps?.[i] ?? base + i })),
      now: base,
    }),
  );
}

/**
 * A copy of `bytes` in memory of its own. A small Buffer is normally a slice of Node's shared
 * 8 KiB pool, and the tail cache counts the whole backing memory a batch keeps alive; tests of a
 * small cache give each batch its own, so that the cache sees each batch's size.
 */
export function ownBuffer(bytes: Buffer): Buffer {
  const own = Buffer.alloc(bytes.length);
  bytes.copy(own);
  return own;
}

/** `count` batches of `perBatch` records named `${prefix}${n}`. */
export function batchesOf(prefix: string, count: number, perBatch = 1): Buffer[] {
  const out: Buffer[] = [];
  for (let b = 0; b < count; b++) {
    out.push(batchOf(Array.from({ length: perBatch }, (_, i) => `${prefix}${b * perBatch + i}`)));
  }
  return out;
}

export interface Rec {
  readonly offset: bigint;
  readonly value: string;
}

/** Every record of the given batches, decoded. */
export function recordsOf(batches: readonly Buffer[]): Rec[] {
  return batches.flatMap((b) =>
    decodeRecordBatch(b).records.map((r) => ({ offset: r.offset, value: r.value!.toString() })),
  );
}

/** Every record of the log from `from` to its end (or `until`), read in small fetches to cross batch boundaries. */
export async function readAll(log: PartitionLog, from = log.logStartOffset, until = log.logEndOffset): Promise<Rec[]> {
  const out: Rec[] = [];
  let next = from;
  while (next < until) {
    const { batches } = await log.read(next, { maxBytes: 1, maxOffset: until });
    if (batches.length === 0) break;
    const records = recordsOf(batches);
    for (const rec of records) if (rec.offset >= next) out.push(rec);
    next = records[records.length - 1]!.offset + 1n;
  }
  return out;
}

export function values(records: readonly Rec[]): string[] {
  return records.map((r) => r.value);
}

/** The typed error `run` rejects with. */
export async function refusal(run: () => Promise<unknown>): Promise<MillraceError> {
  try {
    await run();
  } catch (error) {
    if (isMillraceError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal, but it succeeded');
}

const folders: string[] = [];

export function tempFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'millrace-log-'));
  folders.push(dir);
  return dir;
}

export function removeTempFolders(): void {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** How the shared suite gets a store: a fresh one, and the same data after a clean restart. */
export interface StoreHarness {
  readonly name: string;
  /** The LogManager's tail cache (LogManagerOptions.tailCacheBytes): 0 reads everything from the store. */
  readonly tailCacheBytes: number;
  open(): Promise<LogStore>;
  /** Closes `store` (if it has a disk) and opens the same data again. */
  restart(store: LogStore): Promise<LogStore>;
}

export const memoryHarness: StoreHarness = {
  name: 'MemoryLogStore',
  tailCacheBytes: 0,
  open: async () => new MemoryLogStore(),
  restart: async (store) => {
    await store.close();
    return (store as MemoryLogStore).reopen();
  },
};

/** The memory store behind a tail cache of `tailCacheBytes`: reads at the tail come from the cache. */
export function cachedMemoryHarness(tailCacheBytes: number): StoreHarness {
  return { ...memoryHarness, name: `MemoryLogStore with a ${tailCacheBytes}-byte tail cache`, tailCacheBytes };
}

export function levelHarness(options: LevelLogStoreOptions = {}, tailCacheBytes = 0): StoreHarness {
  const paths = new WeakMap<LogStore, string>();
  const cache = tailCacheBytes === 0 ? '' : ` with a ${tailCacheBytes}-byte tail cache`;
  return {
    name: `LevelLogStore${options.flushPolicy === undefined ? '' : ` (${options.flushPolicy})`}${cache}`,
    tailCacheBytes,
    open: async () => {
      const path = join(tempFolder(), 'log');
      const store = await LevelLogStore.open(path, options);
      paths.set(store, path);
      return store;
    },
    restart: async (store) => {
      const path = paths.get(store)!;
      await store.close();
      const reopened = await LevelLogStore.open(path, options);
      paths.set(reopened, path);
      return reopened;
    },
  };
}
