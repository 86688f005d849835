import { majority } from '../../src/quorum.js';
import type { Raft } from '../../src/raft.js';
import type { Ready } from '../../src/ready.js';
import type { MemoryStorage } from '../../src/storage.js';
import type { Entry, HardState, LogIndex, NodeId, Term } from '../../src/types.js';

/** A broken Raft property. The simulator stops at the first one and prints the seed. */
export class SafetyViolation extends Error {
  constructor(property: string, detail: string) {
    super(`${property}: ${detail}`);
    this.name = 'SafetyViolation';
  }
}

const decoder = new TextDecoder();

function digest(entry: Entry): string {
  return `${entry.type}:${decoder.decode(entry.data)}`;
}

interface RegisteredEntry {
  readonly digest: string;
  /** The term of the entry just before it, in every log that holds it. */
  readonly prevTerm: Term;
}

interface CommittedEntry {
  readonly term: Term;
  readonly digest: string | undefined;
}

/** What the checker may look at for one node: its durable storage and, while up, its live state. */
export interface CheckedNode {
  readonly id: NodeId;
  readonly incarnation: number;
  /** The durable state (what survives a crash). */
  readonly storage: MemoryStorage;
  /** The running state machine, or undefined while the node is down. */
  readonly raft: Raft | undefined;
}

/**
 * Checks Raft's safety properties (Figure 3 of the paper, plus durability) incrementally, so that
 * they can be checked after every simulator step at little cost:
 *
 * - Election Safety: at most one leader per term, ever.
 * - Log Matching: an entry is identified by (index, term). Every time an entry enters a log (a
 *   leader's append, an AppendEntries message, a follower's write) its content and the term of
 *   its predecessor are compared with the first sighting. Equal (index, term) ⇒ equal content and
 *   equal predecessor, so by induction equal prefixes. A full pairwise comparison runs at the end.
 * - Leader Completeness: a new leader's log holds every entry committed so far.
 * - State Machine Safety: every node applies the same entry at each index, in order, no gaps.
 * - Durability: when an entry is first seen committed, a majority holds it on disk (durable log
 *   or snapshot); whenever a durable log loses entries, every committed entry among them is
 *   still held by a majority.
 * - Monotonicity: a node's commit index never decreases within an incarnation; its durable term
 *   and commit never decrease; its durable vote never changes within a term.
 */
export class SafetyChecker {
  private readonly voters: readonly NodeId[];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly entries = new Map<string, RegisteredEntry>();
  /** committed[i] for every index known committed (undefined where only a snapshot vouched for it). */
  private readonly committed: (CommittedEntry | undefined)[] = [];
  private committedMax = 0;
  private readonly appliedDigests: string[] = [];
  private readonly seenCommit = new Map<NodeId, { incarnation: number; commit: number }>();
  private readonly leaderChecked = new Map<NodeId, { incarnation: number; term: number }>();
  private readonly nodes: () => readonly CheckedNode[];
  leadersElected = 0;

  constructor(voters: readonly NodeId[], nodes: () => readonly CheckedNode[]) {
    this.voters = voters;
    this.nodes = nodes;
  }

  get committedIndex(): number {
    return this.committedMax;
  }

  // -- Log Matching ------------------------------------------------------------------------------

  /** Registers entries that enter a log right after an entry of term `prevTerm`. */
  checkEntries(where: string, prevTerm: Term, entries: readonly Entry[]): void {
    let prev = prevTerm;
    for (const entry of entries) {
      const key = `${entry.index}/${entry.term}`;
      const d = digest(entry);
      const known = this.entries.get(key);
      if (known === undefined) {
        this.entries.set(key, { digest: d, prevTerm: prev });
      } else if (known.digest !== d || known.prevTerm !== prev) {
        throw new SafetyViolation(
          'Log Matching',
          `${where}: entry ${key} is ${d} after term ${prev}, but was ${known.digest} after term ${known.prevTerm}`,
        );
      }
      if (entry.term < prev) {
        throw new SafetyViolation('Log Matching', `${where}: entry ${key} has a term below its predecessor's ${prev}`);
      }
      prev = entry.term;
    }
  }

  /** Checks a Ready as it is handed out: its new entries, and entries in the appends it sends. */
  onReady(node: CheckedNode, raft: Raft, rd: Ready): void {
    const first = rd.entries[0];
    if (first !== undefined) {
      const prevTerm = raft.raftLog.term((first.index - 1) as LogIndex);
      if (prevTerm === undefined)
        throw new SafetyViolation('Log Matching', `node ${node.id} appends after an unknown entry`);
      this.checkEntries(`node ${node.id} ready`, prevTerm, rd.entries);
    }
    for (const m of rd.messages) {
      if (m.type === 'App' && m.entries.length > 0) {
        const firstEntry = m.entries[0]!;
        if (firstEntry.index !== m.prevLogIndex + 1) {
          throw new SafetyViolation(
            'Log Matching',
            `append from ${m.from} starts at ${firstEntry.index} after ${m.prevLogIndex}`,
          );
        }
        this.checkEntries(`append ${m.from}->${m.to}`, m.prevLogTerm, m.entries);
      }
    }
  }

  // -- Durable state -----------------------------------------------------------------------------

  /**
   * Called when a node has made a Ready durable. `before` is its durable HardState and last index
   * before the write.
   */
  onPersisted(node: CheckedNode, rd: Ready, before: { hardState: HardState; lastIndex: LogIndex }): void {
    const hs = rd.hardState;
    if (hs !== undefined) {
      const old = before.hardState;
      if (hs.term < old.term)
        throw new SafetyViolation('Durable term', `node ${node.id} term ${old.term} -> ${hs.term}`);
      if (hs.commit < old.commit) {
        throw new SafetyViolation('Durable commit', `node ${node.id} commit ${old.commit} -> ${hs.commit}`);
      }
      if (hs.term === old.term && old.vote !== 0 && hs.vote !== old.vote) {
        throw new SafetyViolation(
          'One vote per term',
          `node ${node.id} voted ${old.vote} then ${hs.vote} in term ${hs.term}`,
        );
      }
    }
    let lostFrom: number | undefined;
    if (rd.snapshot !== undefined) lostFrom = rd.snapshot.metadata.index + 1;
    const first = rd.entries[0];
    if (first !== undefined && first.index <= before.lastIndex) {
      lostFrom = Math.min(lostFrom ?? Number.POSITIVE_INFINITY, first.index);
    }
    if (lostFrom !== undefined) {
      for (let i = lostFrom; i <= this.committedMax; i++)
        this.checkMajorityHolds(i, `after node ${node.id} rewrote its log`);
    }
  }

  /** Whether a node's durable state holds committed entry `index`: in its log, or under its snapshot. */
  private holds(storage: MemoryStorage, index: number, entry: CommittedEntry): boolean {
    if (storage.snapshot().metadata.index >= index) return true;
    if (index < storage.firstIndex() || index > storage.lastIndex()) return false;
    return storage.term(index as LogIndex) === entry.term;
  }

  private checkMajorityHolds(index: number, when: string): void {
    const entry = this.committed[index];
    if (entry === undefined) return;
    let holders = 0;
    for (const n of this.nodes()) {
      if (this.voters.includes(n.id) && this.holds(n.storage, index, entry)) holders++;
    }
    if (holders < majority(this.voters.length)) {
      throw new SafetyViolation(
        'Committed entry lost',
        `${when}: committed entry ${index}/${entry.term} is durable on ${holders} of ${this.voters.length} voters`,
      );
    }
  }

  // -- After every step --------------------------------------------------------------------------

  afterStep(): void {
    for (const n of this.nodes()) {
      const r = n.raft;
      if (r === undefined) continue;
      this.checkElectionSafety(n, r);
      this.checkCommit(n, r);
    }
  }

  private checkElectionSafety(n: CheckedNode, r: Raft): void {
    if (r.role !== 'leader') return;
    const other = this.leaderOfTerm.get(r.term);
    if (other !== undefined && other !== n.id) {
      throw new SafetyViolation('Election Safety', `nodes ${other} and ${n.id} both led term ${r.term}`);
    }
    const checked = this.leaderChecked.get(n.id);
    if (checked !== undefined && checked.incarnation === n.incarnation && checked.term === r.term) return;
    this.leaderOfTerm.set(r.term, n.id);
    this.leaderChecked.set(n.id, { incarnation: n.incarnation, term: r.term });
    this.leadersElected++;
    this.checkLeaderCompleteness(n, r);
  }

  /** §5.4: the log of a new leader holds every entry committed in earlier terms. */
  private checkLeaderCompleteness(n: CheckedNode, r: Raft): void {
    const log = r.raftLog;
    if (log.lastIndex() < this.committedMax) {
      throw new SafetyViolation(
        'Leader Completeness',
        `leader ${n.id} of term ${r.term} has last index ${log.lastIndex()} < committed ${this.committedMax}`,
      );
    }
    for (let i = Math.max(1, log.firstIndex() - 1); i <= this.committedMax; i++) {
      const entry = this.committed[i];
      if (entry === undefined) continue;
      const t = log.term(i as LogIndex);
      if (t !== entry.term) {
        throw new SafetyViolation(
          'Leader Completeness',
          `leader ${n.id} of term ${r.term} has term ${t} at ${i}, committed entry has term ${entry.term}`,
        );
      }
    }
  }

  private checkCommit(n: CheckedNode, r: Raft): void {
    const commit = r.raftLog.committed;
    const seen = this.seenCommit.get(n.id);
    let from = 0;
    if (seen !== undefined && seen.incarnation === n.incarnation) {
      if (commit < seen.commit) {
        throw new SafetyViolation('Commit monotonic', `node ${n.id} commit ${seen.commit} -> ${commit}`);
      }
      from = seen.commit;
    }
    // A restarted node resumes from its durable commit index, which may trail its last in-memory
    // one (the durable one never decreases: onPersisted checks it). Its committed entries are
    // then checked again from the start.
    if (commit === from) return;
    this.seenCommit.set(n.id, { incarnation: n.incarnation, commit });
    for (let i = from + 1; i <= commit; i++) this.registerCommitted(n, r, i);
  }

  private registerCommitted(n: CheckedNode, r: Raft, index: number): void {
    const log = r.raftLog;
    const t = log.term(index as LogIndex);
    if (t === undefined) return; // compacted into this node's snapshot: vouched for when it was first committed
    let d: string | undefined;
    if (index >= log.firstIndex())
      d = digest(log.slice(index as LogIndex, (index + 1) as LogIndex, Number.MAX_SAFE_INTEGER)[0]!);
    const known = this.committed[index];
    if (known !== undefined) {
      if (known.term !== t || (known.digest !== undefined && d !== undefined && known.digest !== d)) {
        throw new SafetyViolation(
          'State Machine Safety',
          `node ${n.id} committed ${index}/${t} but ${index}/${known.term} was committed before`,
        );
      }
      if (known.digest === undefined && d !== undefined) this.committed[index] = { term: t, digest: d };
      return;
    }
    this.committed[index] = { term: t, digest: d };
    if (index > this.committedMax) this.committedMax = index;
    this.checkMajorityHolds(index, `when node ${n.id} committed it`);
  }

  // -- Application -------------------------------------------------------------------------------

  /** Called for each entry a node applies, in order. `appliedBefore` is its applied index before. */
  onApply(nodeId: NodeId, appliedBefore: number, entry: Entry): void {
    if (entry.index !== appliedBefore + 1) {
      throw new SafetyViolation('State Machine Safety', `node ${nodeId} applied ${entry.index} after ${appliedBefore}`);
    }
    const d = `${entry.term}:${digest(entry)}`;
    const known = this.appliedDigests[entry.index];
    if (known === undefined) this.appliedDigests[entry.index] = d;
    else if (known !== d) {
      throw new SafetyViolation(
        'State Machine Safety',
        `node ${nodeId} applied ${d} at ${entry.index}, another node applied ${known}`,
      );
    }
  }

  // -- At the end --------------------------------------------------------------------------------

  /** A full comparison of every pair of durable logs, and the durability of everything committed. */
  finalCheck(): void {
    const nodes = this.nodes();
    for (let a = 0; a < nodes.length; a++) {
      for (let b = a + 1; b < nodes.length; b++)
        this.compareLogs(nodes[a]!.storage, nodes[b]!.storage, nodes[a]!.id, nodes[b]!.id);
    }
    for (let i = 1; i <= this.committedMax; i++) this.checkMajorityHolds(i, 'at the end');
  }

  private compareLogs(x: MemoryStorage, y: MemoryStorage, xId: NodeId, yId: NodeId): void {
    const lo = Math.max(x.firstIndex(), y.firstIndex());
    const hi = Math.min(x.lastIndex(), y.lastIndex());
    // Find the highest index where both hold an entry of the same term; below it all must match.
    let top = -1;
    for (let i = hi; i >= lo; i--) {
      if (x.term(i as LogIndex) === y.term(i as LogIndex)) {
        top = i;
        break;
      }
    }
    for (let i = lo; i <= top; i++) {
      const ex = x.entries(i as LogIndex, (i + 1) as LogIndex, Number.MAX_SAFE_INTEGER)[0]!;
      const ey = y.entries(i as LogIndex, (i + 1) as LogIndex, Number.MAX_SAFE_INTEGER)[0]!;
      if (ex.term !== ey.term || digest(ex) !== digest(ey)) {
        throw new SafetyViolation(
          'Log Matching',
          `durable logs of ${xId} and ${yId} agree at ${top} but differ at ${i} (${ex.term} vs ${ey.term})`,
        );
      }
    }
  }
}
