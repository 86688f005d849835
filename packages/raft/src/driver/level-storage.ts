import { existsSync } from 'node:fs';
import { crc32c, MillraceError } from '@millrace/protocol';
import { Level } from 'level';
import type { Ready } from '../ready.js';
import { MemoryStorage } from '../storage.js';
import type { ConfState, Entry, EntryType, HardState, LogIndex, NodeId, Snapshot, Term } from '../types.js';

/**
 * The durable Raft state of one node in LevelDB, mirrored into a MemoryStorage that the core
 * reads synchronously. At start everything is read back, checksummed and checked for shape, then
 * loaded into memory; a Ready is written to disk (one batch, synced when it must be) before it is
 * mirrored into memory, which is before any of its messages may be sent.
 *
 * Keys (one byte tag, then the index for entries):
 *   `M` meta: format version, cluster id, node id, voters    `H` hard state
 *   `S` snapshot: metadata and data                          `C` compaction point (index, term)
 *   `E` + u64 index: one entry (term, type, data)
 * Every value is `crc32c(payload) u32 | payload`, verified on every read.
 *
 * A store is created only by `initialize: true` on an empty folder. A folder that is missing,
 * empty, belongs to another node or cluster, or fails a check makes `open` throw
 * KAFKA_STORAGE_ERROR naming the folder and the problem: it is never silently reset, because a
 * voter that forgets its vote or its log can break Raft's safety.
 */
const FORMAT_VERSION = 1;
const KEY_META = Buffer.from('M');
const KEY_HARD_STATE = Buffer.from('H');
const KEY_SNAPSHOT = Buffer.from('S');
const KEY_COMPACTED = Buffer.from('C');
const ENTRY_TAG = 0x45; // 'E'

export interface OpenLevelStorageOptions {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  /** The voters, written at initialization and checked at every later start. */
  readonly voters: readonly NodeId[];
  /** Create the store if the folder is missing or empty. Only a deliberate first start sets this. */
  readonly initialize?: boolean;
}

interface Meta {
  readonly format: number;
  readonly clusterId: string;
  readonly nodeId: number;
  readonly voters: number[];
}

export class LevelRaftStorage {
  readonly memory: MemoryStorage;
  readonly #db: Level<Buffer, Buffer>;
  readonly #path: string;

  /** Background clears of compacted entries, awaited before closing. */
  #pending: Promise<unknown> = Promise.resolve();

  private constructor(db: Level<Buffer, Buffer>, path: string, memory: MemoryStorage) {
    this.#db = db;
    this.#path = path;
    this.memory = memory;
    // Entries left at or below the compaction point by a clear that a crash interrupted.
    this.#clearThrough(memory.firstIndex() - 1);
  }

  static async open(path: string, options: OpenLevelStorageOptions): Promise<LevelRaftStorage> {
    const fail = (problem: string, cause?: unknown): never => {
      throw new MillraceError('KAFKA_STORAGE_ERROR', `Raft storage at ${path}: ${problem}`, { cause });
    };
    const existed = existsSync(path);
    if (!existed && !options.initialize) fail('the folder does not exist (initialize a new node deliberately)');
    const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open();
    } catch (error) {
      fail('LevelDB would not open', error);
    }
    try {
      const memory = await load(db, options, fail);
      return new LevelRaftStorage(db, path, memory);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  /**
   * Writes a Ready's snapshot, entries and hard state to disk in one batch (synced when
   * `mustSync`), then mirrors them into memory. Call before sending the Ready's messages.
   */
  async persistReady(ready: Ready): Promise<void> {
    const ops: BatchOp[] = [];
    const memory = this.memory;
    let lastIndex = memory.lastIndex();
    let clearThrough: number | undefined;
    if (ready.snapshot !== undefined) {
      // An installed snapshot replaces the whole log. Entries after its index (a divergent tail,
      // a few at most) go in this batch; those it covers are dropped afterwards (#clearThrough).
      const { index, term } = ready.snapshot.metadata;
      for (let i = index + 1; i <= lastIndex; i++) ops.push({ type: 'del', key: entryKey(i) });
      ops.push({ type: 'put', key: KEY_SNAPSHOT, value: sealed(encodeSnapshot(ready.snapshot)) });
      ops.push({ type: 'put', key: KEY_COMPACTED, value: sealed(json({ index, term })) });
      lastIndex = index;
      clearThrough = index;
    }
    if (ready.entries.length > 0) {
      for (const entry of ready.entries) {
        ops.push({ type: 'put', key: entryKey(entry.index), value: sealedEntry(entry) });
      }
      // Entries that the new ones overwrite beyond their end are gone from the log.
      const newLast = (ready.entries[ready.entries.length - 1] as Entry).index;
      for (let i = newLast + 1; i <= lastIndex; i++) ops.push({ type: 'del', key: entryKey(i) });
    }
    if (ready.hardState !== undefined) {
      ops.push({ type: 'put', key: KEY_HARD_STATE, value: sealed(json(ready.hardState)) });
    }
    if (ops.length > 0) await this.#write(ops, ready.mustSync);

    if (ready.snapshot !== undefined) memory.applySnapshot(ready.snapshot);
    if (ready.entries.length > 0) memory.append(ready.entries);
    if (ready.hardState !== undefined) memory.setHardState(ready.hardState);
    if (clearThrough !== undefined) this.#clearThrough(clearThrough);
  }

  /**
   * Records a snapshot of the application's state machine as of `index` (already applied), and
   * discards the log up to `compactIndex` (≤ index), keeping a tail for followers slightly behind.
   * The snapshot and the new compaction point are written together and synced; the entries they
   * make obsolete are cleared afterwards.
   */
  async saveSnapshot(
    index: LogIndex,
    confState: ConfState,
    data: Uint8Array,
    compactIndex: LogIndex,
  ): Promise<Snapshot> {
    const snapshot: Snapshot = {
      metadata: { index, term: this.memory.term(index), confState },
      data,
    };
    const ops: BatchOp[] = [{ type: 'put', key: KEY_SNAPSHOT, value: sealed(encodeSnapshot(snapshot)) }];
    const compacting = compactIndex >= this.memory.firstIndex();
    if (compacting) {
      ops.push({
        type: 'put',
        key: KEY_COMPACTED,
        value: sealed(json({ index: compactIndex, term: this.memory.term(compactIndex) })),
      });
    }
    await this.#write(ops, true);
    const created = this.memory.createSnapshot(index, confState, data);
    if (compacting) {
      this.memory.compact(compactIndex);
      this.#clearThrough(compactIndex);
    }
    return created;
  }

  /**
   * Drops the entries at or below `index`, which the compaction point already declares gone.
   * LevelDB's range clear runs off the event loop: deleting a hundred thousand entries in one
   * batch built in JavaScript stalled a node for over half a second, long enough for its peers to
   * start an election. Readers never see these entries (loading starts after the compaction
   * point), and a clear that a crash interrupts is done again at the next start.
   */
  #clearThrough(index: number): void {
    if (index < 1) return;
    const cleared = this.#db.clear({ gte: entryKey(0), lte: entryKey(index) }).catch(() => {
      // Nothing is lost: the entries stay as garbage below the compaction point, and the next
      // start clears them again.
    });
    this.#pending = this.#pending.then(() => cleared);
  }

  async close(): Promise<void> {
    await this.#pending;
    await this.#db.close();
  }

  /**
   * One atomic LevelDB batch. It is built as a chained batch: `db.batch(array)` copies every
   * operation with an object spread and costs about four times the CPU per entry (measured in
   * BENCHMARKS.md), which under load was a tenth of a node's time.
   */
  async #write(ops: BatchOp[], sync: boolean): Promise<void> {
    let batch: ReturnType<Level<Buffer, Buffer>['batch']> | undefined;
    try {
      batch = this.#db.batch();
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
      await batch.write({ sync });
    } catch (error) {
      // A batch that failed before `write` took it over still holds native resources.
      await batch?.close().catch(() => undefined);
      throw new MillraceError('KAFKA_STORAGE_ERROR', `Raft storage at ${this.#path}: a write failed`, { cause: error });
    }
  }
}

type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

async function load(
  db: Level<Buffer, Buffer>,
  options: OpenLevelStorageOptions,
  fail: (problem: string, cause?: unknown) => never,
): Promise<MemoryStorage> {
  const read = async (key: Buffer, what: string): Promise<Buffer | undefined> => {
    const value = await db.get(key);
    return value === undefined ? undefined : unsealed(value, what, fail);
  };
  const voters = [...options.voters].sort((a, b) => a - b);
  let metaBytes = await read(KEY_META, 'the metadata');
  if (metaBytes === undefined) {
    const empty = (await db.keys({ limit: 1 }).all()).length === 0;
    if (!empty) fail('it holds data but no metadata record: it is not a Millrace Raft store, or it is damaged');
    if (!options.initialize) fail('it is empty (initialize a new node deliberately)');
    const meta: Meta = { format: FORMAT_VERSION, clusterId: options.clusterId, nodeId: options.nodeId, voters };
    await db.put(KEY_META, sealed(json(meta)), { sync: true });
    metaBytes = json(meta);
  }
  const meta = parseJson(metaBytes, 'the metadata', fail) as Partial<Meta>;
  if (meta.format !== FORMAT_VERSION) fail(`format ${meta.format} is not ${FORMAT_VERSION}`);
  if (meta.clusterId !== options.clusterId)
    fail(`it belongs to cluster "${meta.clusterId}", not "${options.clusterId}"`);
  if (meta.nodeId !== options.nodeId) fail(`it belongs to node ${meta.nodeId}, not ${options.nodeId}`);
  if (JSON.stringify(meta.voters) !== JSON.stringify(voters)) {
    fail(`it was created for voters ${meta.voters}, not ${voters} (membership changes are not supported yet)`);
  }

  const hardStateBytes = await read(KEY_HARD_STATE, 'the hard state');
  const hardState = (
    hardStateBytes === undefined ? { term: 0, vote: 0, commit: 0 } : parseJson(hardStateBytes, 'the hard state', fail)
  ) as HardState;
  checkCounts(hardState, ['term', 'vote', 'commit'], 'the hard state', fail);

  const snapshotBytes = await read(KEY_SNAPSHOT, 'the snapshot');
  const confState: ConfState = { voters: voters as NodeId[], learners: [] };
  const snapshot =
    snapshotBytes === undefined
      ? { metadata: { index: 0 as LogIndex, term: 0 as Term, confState }, data: new Uint8Array(0) }
      : decodeSnapshot(snapshotBytes, fail);
  const compactedBytes = await read(KEY_COMPACTED, 'the compaction point');
  const compacted = (
    compactedBytes === undefined ? { index: 0, term: 0 } : parseJson(compactedBytes, 'the compaction point', fail)
  ) as {
    index: LogIndex;
    term: Term;
  };
  checkCounts(compacted, ['index', 'term'], 'the compaction point', fail);

  const entries: Entry[] = [];
  // Entries at or below the compaction point may remain from a clear that a crash interrupted:
  // they are no longer part of the log, so reading starts after it.
  for await (const [key, value] of db.iterator({ gt: entryKey(compacted.index), lt: Buffer.from([ENTRY_TAG + 1]) })) {
    const index = Number(key.readBigUInt64BE(1));
    const entry = decodeEntry(index as LogIndex, unsealed(value, `entry ${index}`, fail), fail);
    const expected = compacted.index + 1 + entries.length;
    if (index !== expected) fail(`entry ${index} follows ${expected - 1}: the log has a hole`);
    entries.push(entry);
  }
  const lastIndex = compacted.index + entries.length;
  if (compacted.index > snapshot.metadata.index)
    fail(`the log is compacted to ${compacted.index}, past the snapshot at ${snapshot.metadata.index}`);
  if (lastIndex < snapshot.metadata.index)
    fail(`the log ends at ${lastIndex}, before the snapshot at ${snapshot.metadata.index}`);
  if (hardState.commit > lastIndex) fail(`the commit index ${hardState.commit} is past the last entry ${lastIndex}`);
  for (let i = 1; i < entries.length; i++) {
    if ((entries[i] as Entry).term < (entries[i - 1] as Entry).term)
      fail(`entry ${(entries[i] as Entry).index} has a smaller term than its predecessor`);
  }
  return MemoryStorage.fromContents({
    hardState,
    snapshot,
    compactedIndex: compacted.index,
    compactedTerm: compacted.term,
    entries,
  });
}

function entryKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = ENTRY_TAG;
  writeU64(key, index, 1);
  return key;
}

/**
 * A safe integer as a big-endian u64, the same bytes as `writeBigUInt64BE(BigInt(value))` without
 * allocating a BigInt: this runs for every entry written.
 */
function writeU64(out: Buffer, value: number, at: number): void {
  out.writeUInt32BE(Math.floor(value / 0x1_0000_0000), at);
  out.writeUInt32BE(value >>> 0, at + 4);
}

function sealed(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(crc32c(payload), 0);
  out.set(payload, 4);
  return out;
}

function unsealed(value: Buffer, what: string, fail: (problem: string) => never): Buffer {
  if (value.length < 4) fail(`${what} is truncated (${value.length} bytes)`);
  const payload = value.subarray(4);
  const stored = value.readUInt32BE(0);
  const computed = crc32c(payload);
  if (stored !== computed)
    fail(`${what} fails its checksum (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`);
  return payload;
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function parseJson(bytes: Buffer, what: string, fail: (problem: string) => never): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return fail(`${what} is not valid JSON`);
  }
}

function checkCounts(value: unknown, fields: readonly string[], what: string, fail: (problem: string) => never): void {
  for (const field of fields) {
    const n = (value as Record<string, unknown> | null)?.[field];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) fail(`${what} has a bad ${field}: ${String(n)}`);
  }
}

/** An entry's value, sealed: crc32c u32 | term u64 | type u8 (0 normal, 1 config) | data. Built in one buffer. */
function sealedEntry(entry: Entry): Buffer {
  const out = Buffer.allocUnsafe(4 + 9 + entry.data.length);
  writeU64(out, entry.term, 4);
  out[12] = entry.type === 'normal' ? 0 : 1;
  out.set(entry.data, 13);
  out.writeUInt32BE(crc32c(out.subarray(4)), 0);
  return out;
}

function decodeEntry(index: LogIndex, payload: Buffer, fail: (problem: string) => never): Entry {
  if (payload.length < 9) fail(`entry ${index} is truncated`);
  const term = Number(payload.readBigUInt64BE(0));
  const tag = payload[8];
  if (!Number.isSafeInteger(term) || (tag !== 0 && tag !== 1)) fail(`entry ${index} has a bad term or type`);
  const type: EntryType = tag === 0 ? 'normal' : 'config';
  return { term: term as Term, index, type, data: new Uint8Array(payload.subarray(9)) };
}

/** metadataLength u32 | metadata JSON | data */
function encodeSnapshot(snapshot: Snapshot): Buffer {
  const metadata = json(snapshot.metadata);
  const out = Buffer.allocUnsafe(4 + metadata.length + snapshot.data.length);
  out.writeUInt32BE(metadata.length, 0);
  metadata.copy(out, 4);
  out.set(snapshot.data, 4 + metadata.length);
  return out;
}

function decodeSnapshot(payload: Buffer, fail: (problem: string) => never): Snapshot {
  if (payload.length < 4 || payload.readUInt32BE(0) > payload.length - 4) fail('the snapshot is truncated');
  const length = payload.readUInt32BE(0);
  const metadata = parseJson(payload.subarray(4, 4 + length), 'the snapshot metadata', fail) as Snapshot['metadata'];
  checkCounts(metadata, ['index', 'term'], 'the snapshot metadata', fail);
  if (!Array.isArray(metadata.confState?.voters)) fail('the snapshot metadata has no voters');
  return { metadata, data: new Uint8Array(payload.subarray(4 + length)) };
}
