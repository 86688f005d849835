import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMillraceError } from '@millrace/protocol';
import { Level } from 'level';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelRaftStorage } from '../../src/driver/level-storage.js';
import type { Entry, HardState, LogIndex, NodeId, Ready, Snapshot, Term } from '../../src/index.js';

const voters = [1, 2, 3] as NodeId[];
const options = { clusterId: 'c1', nodeId: 1 as NodeId, voters };
const folders: string[] = [];

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'millrace-raft-'));
  folders.push(dir);
  return join(dir, 'raft');
}

afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const entry = (index: number, term: number, text = `e${index}`): Entry => ({
  index: index as LogIndex,
  term: term as Term,
  type: 'normal',
  data: new Uint8Array(Buffer.from(text)),
});

function ready(parts: { entries?: Entry[]; hardState?: HardState; snapshot?: Snapshot }): Ready {
  return {
    softState: undefined,
    hardState: parts.hardState,
    entries: parts.entries ?? [],
    snapshot: parts.snapshot,
    committedEntries: [],
    messages: [],
    readStates: [],
    mustSync: true,
  };
}

const hs = (term: number, vote: number, commit: number) =>
  ({ term: term as Term, vote: vote as NodeId, commit: commit as LogIndex }) as HardState;

async function refusal(path: string, opts = options): Promise<string> {
  try {
    const storage = await LevelRaftStorage.open(path, opts);
    await storage.close();
  } catch (error) {
    if (isMillraceError(error, 'KAFKA_STORAGE_ERROR')) return error.message;
    throw error;
  }
  return 'opened';
}

describe('LevelDB raft storage', () => {
  it('comes back after a restart with exactly its durable state', async () => {
    const path = folder();
    const storage = await LevelRaftStorage.open(path, { ...options, initialize: true });
    await storage.persistReady(ready({ entries: [entry(1, 1), entry(2, 1), entry(3, 2)], hardState: hs(2, 1, 2) }));
    const before = storage.memory.contents();
    await storage.close();

    const reopened = await LevelRaftStorage.open(path, options);
    expect(reopened.memory.contents()).toEqual(before);
    expect(reopened.memory.initialState().hardState).toEqual(hs(2, 1, 2));
    await reopened.close();
  });

  it('persists a follower’s log repair: the overwritten suffix is gone after restart', async () => {
    const path = folder();
    const storage = await LevelRaftStorage.open(path, { ...options, initialize: true });
    await storage.persistReady(ready({ entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1)), hardState: hs(1, 2, 1) }));
    await storage.persistReady(ready({ entries: [entry(3, 2, 'new3')], hardState: hs(2, 3, 1) }));
    await storage.close();
    const reopened = await LevelRaftStorage.open(path, options);
    expect(reopened.memory.lastIndex()).toBe(3);
    expect(Buffer.from(reopened.memory.entries(3 as LogIndex, 4 as LogIndex, 1 << 20)[0]!.data).toString()).toBe(
      'new3',
    );
    await reopened.close();
  });

  it('installs a leader’s snapshot, replacing the log', async () => {
    const path = folder();
    const storage = await LevelRaftStorage.open(path, { ...options, initialize: true });
    await storage.persistReady(ready({ entries: [entry(1, 1), entry(2, 1)], hardState: hs(1, 0, 1) }));
    const snapshot: Snapshot = {
      metadata: { index: 10 as LogIndex, term: 3 as Term, confState: { voters, learners: [] } },
      data: new Uint8Array(Buffer.from('image@10')),
    };
    await storage.persistReady(ready({ snapshot, hardState: hs(3, 0, 10) }));
    await storage.persistReady(ready({ entries: [entry(11, 3)] }));
    await storage.close();
    const reopened = await LevelRaftStorage.open(path, options);
    expect(reopened.memory.firstIndex()).toBe(11);
    expect(reopened.memory.lastIndex()).toBe(11);
    expect(Buffer.from(reopened.memory.snapshot().data).toString()).toBe('image@10');
    expect(reopened.memory.term(10 as LogIndex)).toBe(3);
    await reopened.close();
  });

  it('saves the application’s snapshot and compacts the log up to a kept tail', async () => {
    const path = folder();
    const storage = await LevelRaftStorage.open(path, { ...options, initialize: true });
    await storage.persistReady(ready({ entries: [1, 2, 3, 4, 5, 6].map((i) => entry(i, 1)), hardState: hs(1, 1, 6) }));
    await storage.saveSnapshot(5 as LogIndex, { voters, learners: [] }, new Uint8Array([5]), 3 as LogIndex);
    await storage.close();
    const reopened = await LevelRaftStorage.open(path, options);
    expect(reopened.memory.firstIndex()).toBe(4);
    expect(reopened.memory.lastIndex()).toBe(6);
    expect(reopened.memory.snapshot().metadata.index).toBe(5);
    await reopened.close();
  });

  it('ignores and clears entries a crash left below the compaction point', async () => {
    const path = folder();
    const storage = await LevelRaftStorage.open(path, { ...options, initialize: true });
    await storage.persistReady(ready({ entries: [1, 2, 3, 4, 5, 6].map((i) => entry(i, 1)), hardState: hs(1, 1, 6) }));
    await storage.saveSnapshot(5 as LogIndex, { voters, learners: [] }, new Uint8Array([5]), 4 as LogIndex);
    await storage.close();
    // As if the background clear had not run: an old entry is still on disk below the compaction point.
    const leftover = Buffer.concat([Buffer.from('E'), Buffer.alloc(8)]);
    leftover.writeBigUInt64BE(2n, 1);
    const raw = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.put(leftover, Buffer.from('garbage that is not even sealed'));
    await raw.close();

    const reopened = await LevelRaftStorage.open(path, options);
    expect(reopened.memory.firstIndex()).toBe(5);
    expect(reopened.memory.lastIndex()).toBe(6);
    await reopened.close();
    const check = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    expect(await check.get(leftover)).toBeUndefined();
    await check.close();
  });

  it('refuses to start from a missing, empty or foreign store instead of resetting it', async () => {
    const missing = folder();
    expect(await refusal(missing)).toMatch(/does not exist \(initialize a new node deliberately\)/);

    const path = folder();
    const storage = await LevelRaftStorage.open(path, { ...options, initialize: true });
    await storage.close();
    expect(await refusal(path, { ...options, nodeId: 2 as NodeId })).toMatch(/belongs to node 1, not 2/);
    expect(await refusal(path, { ...options, clusterId: 'c9' })).toMatch(/belongs to cluster "c1", not "c9"/);
    expect(await refusal(path, { ...options, voters: [1, 2] as NodeId[] })).toMatch(
      /created for voters 1,2,3, not 1,2/,
    );

    const foreign = folder();
    const db = new Level(foreign);
    await db.put('something', 'else');
    await db.close();
    expect(await refusal(foreign, { ...options, initialize: true } as typeof options)).toMatch(
      /holds data but no metadata/,
    );
  });

  it('fails the start on a corrupt entry, a hole in the log or an impossible commit index', async () => {
    const build = async () => {
      const path = folder();
      const storage = await LevelRaftStorage.open(path, { ...options, initialize: true });
      await storage.persistReady(ready({ entries: [1, 2, 3].map((i) => entry(i, 1)), hardState: hs(1, 1, 3) }));
      await storage.close();
      return path;
    };
    const tamper = async (path: string, change: (db: Level<Buffer, Buffer>) => Promise<void>) => {
      const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      await change(db);
      await db.close();
    };
    const key = (index: number) =>
      Buffer.concat([Buffer.from('E'), Buffer.from(new BigUint64Array([0n]).buffer)]).fill(index, 8);

    const flipped = await build();
    await tamper(flipped, async (db) => {
      const value = (await db.get(key(2)))!;
      value[value.length - 1]! ^= 0xff;
      await db.put(key(2), value);
    });
    expect(await refusal(flipped)).toMatch(/entry 2 fails its checksum/);

    const holed = await build();
    await tamper(holed, (db) => db.del(key(2)));
    expect(await refusal(holed)).toMatch(/entry 3 follows 1: the log has a hole/);

    const truncated = await build();
    await tamper(truncated, (db) => db.put(Buffer.from('H'), Buffer.from([1, 2])));
    expect(await refusal(truncated)).toMatch(/the hard state is truncated/);

    const beyond = await build();
    await tamper(beyond, (db) => db.del(key(3)));
    expect(await refusal(beyond)).toMatch(/commit index 3 is past the last entry 2/);
  });
});
