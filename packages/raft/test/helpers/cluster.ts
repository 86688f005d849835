import type { RaftConfig } from '../../src/config.js';
import type { Raft } from '../../src/raft.js';
import { createRandom } from '../../src/random.js';
import { inspectRaft, RawNode } from '../../src/raw-node.js';
import type { Ready } from '../../src/ready.js';
import { MemoryStorage } from '../../src/storage.js';
import type { Entry, HardState, LogIndex, Message, NodeId, ReadState, Snapshot, Term } from '../../src/types.js';
import { formatEntries, formatMessage } from './format.js';

export type NodeOptions = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;

export interface TestNode {
  readonly id: NodeId;
  storage: MemoryStorage;
  node: RawNode;
  /** Entries applied since the node (re)started, in order; a restored snapshot resets it. */
  applied: Entry[];
  /** The last snapshot the application restored from. */
  restored: Snapshot | undefined;
  readStates: ReadState[];
}

export const id = (n: number) => n as NodeId;
export const idx = (n: number) => n as LogIndex;
export const tm = (n: number) => n as Term;
export const bytes = (s: string) => new TextEncoder().encode(s);
export const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A storage whose log holds one entry per element of `terms` (entry i+1 has term terms[i]). */
export function storageWithLog(voters: number[], terms: number[], hardState?: Partial<HardState>): MemoryStorage {
  const storage = new MemoryStorage({ voters: voters.map(id), learners: [] });
  storage.append(
    terms.map((t, i) => ({ term: tm(t), index: idx(i + 1), type: 'normal' as const, data: new Uint8Array() })),
  );
  const lastTerm = terms[terms.length - 1] ?? 0;
  storage.setHardState({
    term: tm(hardState?.term ?? lastTerm),
    vote: hardState?.vote ?? 0,
    commit: hardState?.commit ?? idx(0),
  });
  return storage;
}

/**
 * A small in-process cluster for paper tests and transcripts. Messages sit in one FIFO until
 * `deliver` is called; links can be cut; every Ready is handled exactly as the contract says
 * (persist into the node's MemoryStorage, apply, queue messages, advance). With `trace` on, every
 * action is written to `lines` in a stable, readable form.
 */
export class Cluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered. */
  queue: Message[] = [];
  private readonly cut = new Set<string>();
  readonly lines: string[] = [];
  trace = false;

  constructor(
    readonly voters: NodeId[],
    private readonly options: NodeOptions = {},
    storages: Map<NodeId, MemoryStorage> = new Map(),
    readonly learners: NodeId[] = [],
  ) {
    for (const nodeIdValue of [...voters, ...learners]) {
      const storage = storages.get(nodeIdValue) ?? new MemoryStorage({ voters, learners });
      this.nodes.set(nodeIdValue, this.makeNode(nodeIdValue, storage, 0));
    }
  }

  static of(count: number, options: NodeOptions = {}): Cluster {
    return new Cluster(
      Array.from({ length: count }, (_, i) => id(i + 1)),
      options,
    );
  }

  private makeNode(nodeIdValue: NodeId, storage: MemoryStorage, incarnation: number): TestNode {
    const applied = storage.snapshot().metadata.index;
    const node = new RawNode({
      id: nodeIdValue,
      storage,
      random: createRandom(nodeIdValue * 7919 + incarnation),
      applied,
      ...this.options,
    });
    return { id: nodeIdValue, storage, node, applied: [], restored: undefined, readStates: [] };
  }

  get(nodeIdValue: number): TestNode {
    const n = this.nodes.get(id(nodeIdValue));
    if (n === undefined) throw new Error(`no node ${nodeIdValue}`);
    return n;
  }

  raft(nodeIdValue: number): Raft {
    return inspectRaft(this.get(nodeIdValue).node);
  }

  private log(line: string): void {
    if (this.trace) this.lines.push(line);
  }

  // -- Readies -----------------------------------------------------------------------------------

  /** Handles one Ready of one node. Returns whether there was one. */
  processReady(nodeIdValue: number): boolean {
    const n = this.get(nodeIdValue);
    if (!n.node.hasReady()) return false;
    const rd = n.node.ready();
    this.handleReady(n, rd);
    return true;
  }

  private handleReady(n: TestNode, rd: Ready): void {
    const who = `${n.id}`;
    if (rd.softState !== undefined) {
      const lead = rd.softState.lead === 0 ? 'none' : rd.softState.lead;
      this.log(`  ${who} is ${rd.softState.role} (lead=${lead})`);
    }
    if (rd.hardState !== undefined) {
      const hs = rd.hardState;
      this.log(`  ${who} persists HardState term=${hs.term} vote=${hs.vote} commit=${hs.commit}`);
    }
    if (rd.snapshot !== undefined) {
      const m = rd.snapshot.metadata;
      this.log(`  ${who} persists Snapshot index=${m.index} term=${m.term} bytes=${rd.snapshot.data.byteLength}`);
      n.storage.applySnapshot(rd.snapshot);
      n.restored = rd.snapshot;
      n.applied = [];
    }
    if (rd.entries.length > 0) {
      this.log(`  ${who} persists Entries ${formatEntries(rd.entries)}`);
      n.storage.append(rd.entries);
    }
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) {
      this.log(`  ${who} sends ${formatMessage(m)}`);
      this.queue.push(m);
    }
    if (rd.committedEntries.length > 0) {
      this.log(`  ${who} applies ${formatEntries(rd.committedEntries)}`);
      n.applied.push(...rd.committedEntries);
    }
    for (const rs of rd.readStates) {
      this.log(`  ${who} ReadState index=${rs.index} ctx=${text(rs.context)}`);
      n.readStates.push(rs);
    }
    n.node.advance(rd);
  }

  processAllReady(): boolean {
    let any = false;
    for (const nodeIdValue of this.nodes.keys()) {
      while (this.processReady(nodeIdValue)) any = true;
    }
    return any;
  }

  // -- Network -----------------------------------------------------------------------------------

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}->${to}`);
  }

  /** Drops every future message from `from` to `to` (one direction). */
  drop(from: number, to: number): void {
    this.cut.add(`${from}->${to}`);
  }

  /** Cuts `nodeIdValue` off from everyone, both directions. */
  isolate(nodeIdValue: number): void {
    for (const other of this.nodes.keys()) {
      if (other === nodeIdValue) continue;
      this.drop(nodeIdValue, other);
      this.drop(other, nodeIdValue);
    }
  }

  /** Splits the cluster into groups that cannot talk to each other. */
  partition(...groups: number[][]): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.drop(x, y);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /**
   * Delivers the messages queued right now (not the ones their delivery produces), optionally
   * only those matching `filter`. Messages over cut links are lost. Returns how many were stepped.
   */
  deliver(filter: (m: Message) => boolean = () => true): number {
    const batch = this.queue.filter(filter);
    this.queue = this.queue.filter((m) => !filter(m));
    let delivered = 0;
    for (const m of batch) {
      if (this.isCut(m.from, m.to)) {
        this.log(`  dropped ${formatMessage(m)}`);
        continue;
      }
      const target = this.nodes.get(m.to);
      if (target === undefined) continue;
      this.log(`  ${m.to} receives ${formatMessage(m)}`);
      target.node.step(m);
      delivered++;
    }
    return delivered;
  }

  /** Removes and returns queued messages matching `filter` without delivering them. */
  take(filter: (m: Message) => boolean = () => true): Message[] {
    const taken = this.queue.filter(filter);
    this.queue = this.queue.filter((m) => !filter(m));
    return taken;
  }

  /** Handles Readies and delivers messages until nothing is left to do. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      const readied = this.processAllReady();
      const delivered = this.queue.length > 0 ? this.deliver() : 0;
      if (!readied && delivered === 0 && this.queue.length === 0) return;
    }
    throw new Error(`cluster did not stabilize within ${maxRounds} rounds`);
  }

  // -- Node actions ------------------------------------------------------------------------------

  tick(nodeIdValue: number, times = 1): void {
    for (let i = 0; i < times; i++) this.get(nodeIdValue).node.tick();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) for (const n of this.nodes.values()) n.node.tick();
  }

  campaign(nodeIdValue: number): void {
    this.get(nodeIdValue).node.campaign();
  }

  propose(nodeIdValue: number, data: string): void {
    this.get(nodeIdValue).node.propose(bytes(data));
  }

  /** Elects `nodeIdValue` and lets the cluster settle. */
  elect(nodeIdValue: number): void {
    this.campaign(nodeIdValue);
    this.stabilize();
  }

  /** Simulates a crash and restart: everything not in storage is lost. */
  restart(nodeIdValue: number, incarnation = 1): void {
    const n = this.get(nodeIdValue);
    const storage = MemoryStorage.fromContents(n.storage.contents());
    this.nodes.set(n.id, this.makeNode(n.id, storage, incarnation));
    this.queue = this.queue.filter((m) => m.to !== n.id);
  }

  /** The application snapshots its state at `index` and compacts the log up to `compactTo`. */
  snapshotAndCompact(nodeIdValue: number, index: number, compactTo = index, data = `state@${index}`): void {
    const n = this.get(nodeIdValue);
    n.storage.createSnapshot(idx(index), n.storage.snapshot().metadata.confState, bytes(data));
    n.storage.compact(idx(compactTo));
  }

  /** Data of all applied normal entries with a payload, as strings. */
  appliedData(nodeIdValue: number): string[] {
    return this.get(nodeIdValue)
      .applied.filter((e) => e.data.byteLength > 0)
      .map((e) => text(e.data));
  }

  /** The (term) of every entry in the node's log, from firstIndex, for comparing logs. */
  logTerms(nodeIdValue: number): number[] {
    const r = this.raft(nodeIdValue);
    const out: number[] = [];
    for (let i = r.raftLog.firstIndex(); i <= r.raftLog.lastIndex(); i++) out.push(r.raftLog.term(idx(i)) ?? -1);
    return out;
  }

  leader(): NodeId | undefined {
    let found: NodeId | undefined;
    for (const n of this.nodes.values()) {
      const s = n.node.status();
      if (s.role === 'leader') {
        if (found === undefined || this.raft(found).term < s.term) found = n.id;
      }
    }
    return found;
  }
}
