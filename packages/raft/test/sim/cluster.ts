import { isRaftError } from '../../src/errors.js';
import type { Raft } from '../../src/raft.js';
import { inspectRaft, RawNode } from '../../src/raw-node.js';
import type { Ready } from '../../src/ready.js';
import { MemoryStorage } from '../../src/storage.js';
import type { Entry, LogIndex, Message, NodeId } from '../../src/types.js';
import { formatMessage } from '../helpers/format.js';
import { EventQueue } from './event-queue.js';
import type { SafetyChecker } from './invariants.js';
import { type Command, decodeCommand, encodeCommand, KvStore, opKey } from './kv.js';
import type { HistoryOp } from './linearizability.js';
import { type NetworkFaults, SimNetwork } from './network.js';
import type { SimRandom } from './rng.js';

/** Simulated time: one tick is TICK_UNITS units; message and disk delays are in units. */
export const TICK_UNITS = 10;

export interface SimOptions {
  readonly nodeCount: number;
  readonly electionTimeoutTicks: number;
  readonly heartbeatTimeoutTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxSizePerMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly snapshotChunkBytes: number;
  /** Each node's disk takes 1..diskDelayUnitsMax units to make a Ready durable. */
  readonly diskDelayUnitsMax: number;
  readonly faults: NetworkFaults;
  /** Per-tick probabilities of each kind of event during the chaos phase. */
  readonly crashRate: number;
  /**
   * Faults at interesting moments, which per-tick rates rarely hit: a node that just became leader
   * is cut off (before its first entries spread), a node that just made a write durable crashes.
   */
  readonly isolateNewLeaderRate: number;
  readonly crashAfterPersistRate: number;
  readonly partitionRate: number;
  readonly snapshotRate: number;
  readonly transferRate: number;
  readonly clientOpRate: number;
  readonly readFraction: number;
  readonly clientCount: number;
  readonly keyCount: number;
  /** A client gives up on an operation after this many ticks (a put is then indeterminate). */
  readonly clientTimeoutTicks: number;
}

type SimEvent =
  | { readonly kind: 'nodeTick'; readonly node: NodeId }
  | { readonly kind: 'chaos' }
  | { readonly kind: 'deliver'; readonly message: Message }
  | { readonly kind: 'persist'; readonly node: NodeId; readonly incarnation: number }
  | { readonly kind: 'restart'; readonly node: NodeId }
  | { readonly kind: 'heal' };

/** One member of the simulated cluster: durable storage that survives crashes, everything else volatile. */
export class SimNode {
  /** Durable: the only state a restart sees. Written only when a Ready is persisted or a snapshot taken. */
  storage: MemoryStorage;
  incarnation = 0;
  rawNode: RawNode | undefined;
  raft: Raft | undefined;
  pendingReady: Ready | undefined;
  kv = new KvStore();
  appliedIndex = 0;
  /** Puts submitted here in this incarnation, by op key. */
  readonly puts = new Map<string, HistoryOp>();
  /** Gets submitted here, by ReadIndex context. */
  readonly reads = new Map<string, HistoryOp>();
  /** Gets whose ReadState arrived, waiting for the applied index to reach it. */
  waitingReads: { index: number; op: HistoryOp }[] = [];
  tickUnits: number;

  constructor(
    readonly id: NodeId,
    storage: MemoryStorage,
    tickUnits: number,
  ) {
    this.storage = storage;
    this.tickUnits = tickUnits;
  }

  get up(): boolean {
    return this.rawNode !== undefined;
  }
}

interface Client {
  process: number;
  busy: HistoryOp | undefined;
  /** After a refusal (no leader known), the client waits before trying again. */
  backoffUntilUnits: number;
}

/**
 * The simulated cluster and its event loop. One SimRandom drives everything: network delays and
 * faults, disk latency, node clocks, crashes, partitions, the workload and the nodes' election
 * timeouts. The safety checker runs after every event.
 */
export class SimCluster {
  readonly nodes: SimNode[] = [];
  readonly voters: NodeId[];
  readonly network: SimNetwork;
  readonly history: HistoryOp[] = [];
  private readonly events = new EventQueue<SimEvent>();
  now = 0;
  steps = 0;
  private historyClock = 0;
  private readonly clients: Client[] = [];
  private nextProcess = 0;
  private nextOp = 0;
  private phase: 'chaos' | 'calm' = 'chaos';
  private flappingUntil = 0;
  readonly markersApplied = new Map<number, Set<NodeId>>();
  private nextMarker = 1;
  /** When each put was first applied by any node (history clock): it had taken effect by then. */
  private readonly firstApplied = new Map<string, number>();
  readonly stats = {
    crashes: 0,
    partitions: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    snapshotChunks: 0,
    transfers: 0,
    timeoutNows: 0,
    proposals: 0,
    appendRejects: 0,
  };
  readonly trace: string[] = [];
  readonly checker: SafetyChecker;

  constructor(
    private readonly random: SimRandom,
    readonly options: SimOptions,
    makeChecker: (voters: NodeId[], nodes: () => readonly SimNode[]) => SafetyChecker,
    readonly tracing: boolean,
  ) {
    this.voters = Array.from({ length: options.nodeCount }, (_, i) => (i + 1) as NodeId);
    this.network = new SimNetwork(random, options.faults);
    this.checker = makeChecker(this.voters, () => this.nodes);
    for (const id of this.voters) {
      const storage = new MemoryStorage({ voters: this.voters, learners: [] });
      const node = new SimNode(id, storage, TICK_UNITS + random.range(-1, 1));
      this.nodes.push(node);
      this.start(node);
      this.events.push(random.int(TICK_UNITS), { kind: 'nodeTick', node: id });
    }
    for (let i = 0; i < options.clientCount; i++)
      this.clients.push({ process: this.nextProcess++, busy: undefined, backoffUntilUnits: 0 });
    this.events.push(TICK_UNITS, { kind: 'chaos' });
  }

  private log(line: string): void {
    if (this.tracing) this.trace.push(`[${(this.now / TICK_UNITS).toFixed(1)}] ${line}`);
  }

  node(id: NodeId): SimNode {
    return this.nodes[id - 1]!;
  }

  // -- Node lifecycle ----------------------------------------------------------------------------

  /** Starts (or restarts) a node from its durable state alone. */
  private start(node: SimNode): void {
    node.incarnation++;
    node.storage = MemoryStorage.fromContents(node.storage.contents());
    const snapshot = node.storage.snapshot();
    node.kv = KvStore.deserialize(snapshot.data);
    node.appliedIndex = snapshot.metadata.index;
    node.rawNode = new RawNode({
      id: node.id,
      storage: node.storage,
      random: this.random.fork(),
      applied: snapshot.metadata.index as LogIndex,
      electionTimeoutTicks: this.options.electionTimeoutTicks,
      heartbeatTimeoutTicks: this.options.heartbeatTimeoutTicks,
      preVote: this.options.preVote,
      checkQuorum: this.options.checkQuorum,
      maxSizePerMsgBytes: this.options.maxSizePerMsgBytes,
      maxInflightMsgs: this.options.maxInflightMsgs,
      maxInflightBytes: Math.max(this.options.maxSizePerMsgBytes, 4096),
      snapshotChunkBytes: this.options.snapshotChunkBytes,
    });
    node.raft = inspectRaft(node.rawNode);
    node.pendingReady = undefined;
    node.waitingReads = [];
  }

  /** Loses everything volatile: the state machine, unpersisted log entries, the Ready in flight. */
  crash(node: SimNode): void {
    if (!node.up) return;
    this.stats.crashes++;
    this.log(`CRASH ${node.id}`);
    node.rawNode = undefined;
    node.raft = undefined;
    node.pendingReady = undefined;
    for (const op of node.puts.values()) this.abandon(op);
    for (const op of node.reads.values()) this.abandon(op);
    node.puts.clear();
    node.reads.clear();
    node.waitingReads = [];
  }

  restart(node: SimNode): void {
    if (node.up) return;
    this.log(`RESTART ${node.id}`);
    this.start(node);
  }

  // -- The event loop ----------------------------------------------------------------------------

  /** Runs until simulated time `untilUnits`, or until `stop` returns true after some event. */
  runUntil(untilUnits: number, stop: () => boolean = () => false): boolean {
    for (;;) {
      const at = this.events.peekTime();
      if (at === undefined || at > untilUnits) {
        this.now = untilUnits;
        return false;
      }
      const { event } = this.events.pop()!;
      this.now = at;
      this.steps++;
      this.handle(event);
      this.pumpReadies();
      this.checker.afterStep();
      if (stop()) return true;
    }
  }

  private handle(event: SimEvent): void {
    switch (event.kind) {
      case 'nodeTick': {
        const node = this.node(event.node);
        node.rawNode?.tick();
        this.events.push(this.now + node.tickUnits, event);
        return;
      }
      case 'chaos':
        this.chaos();
        this.events.push(this.now + TICK_UNITS, event);
        return;
      case 'deliver':
        this.deliver(event.message);
        return;
      case 'persist':
        this.persist(this.node(event.node), event.incarnation);
        return;
      case 'restart':
        this.restart(this.node(event.node));
        return;
      case 'heal':
        if (this.now >= this.flappingUntil) {
          this.network.healAll();
          this.log('HEAL');
        }
        return;
    }
  }

  private deliver(m: Message): void {
    const target = this.node(m.to);
    if (!target.up || !this.network.canDeliver(m)) return;
    if (this.tracing) this.log(`recv ${formatMessage(m)}`);
    target.rawNode!.step(m);
  }

  /** Takes a Ready from every idle node that has one; its write completes after a disk delay. */
  private pumpReadies(): void {
    for (const node of this.nodes) {
      const rn = node.rawNode;
      if (rn === undefined || node.pendingReady !== undefined || !rn.hasReady()) continue;
      const rd = rn.ready();
      this.checker.onReady(node, node.raft!, rd);
      if (rd.softState?.role === 'leader') this.onNewLeader(node);
      node.pendingReady = rd;
      this.events.push(this.now + this.random.range(1, this.options.diskDelayUnitsMax), {
        kind: 'persist',
        node: node.id,
        incarnation: node.incarnation,
      });
    }
  }

  /** The Ready's write is durable: mirror it into storage, send, apply, advance. */
  private persist(node: SimNode, incarnation: number): void {
    const rd = node.pendingReady;
    if (node.incarnation !== incarnation || rd === undefined || node.rawNode === undefined) return;
    node.pendingReady = undefined;
    const before = { hardState: node.storage.initialState().hardState, lastIndex: node.storage.lastIndex() };
    if (rd.snapshot !== undefined) node.storage.applySnapshot(rd.snapshot);
    node.storage.append(rd.entries);
    if (rd.hardState !== undefined) node.storage.setHardState(rd.hardState);
    this.checker.onPersisted(node, rd, before);

    for (const m of rd.messages) this.send(m);

    if (rd.snapshot !== undefined) {
      this.stats.snapshotsInstalled++;
      this.log(`node ${node.id} installs snapshot ${rd.snapshot.metadata.index}`);
      node.kv = KvStore.deserialize(rd.snapshot.data);
      node.appliedIndex = rd.snapshot.metadata.index;
      // Puts that the snapshot covers have taken effect; their clients may hear so now.
      for (const [key, op] of node.puts) {
        if (node.kv.hasApplied(op.process, op.opId)) this.complete(op, undefined, node.puts, key);
      }
    }
    for (const entry of rd.committedEntries) this.apply(node, entry);
    for (const rs of rd.readStates) {
      const op = node.reads.get(new TextDecoder().decode(rs.context));
      if (op !== undefined) node.waitingReads.push({ index: rs.index, op });
    }
    this.serveReads(node);
    node.rawNode.advance(rd);
    if (this.phase === 'chaos' && this.random.chance(this.options.crashAfterPersistRate)) {
      this.crash(node);
      this.events.push(this.now + this.random.range(1, 30) * TICK_UNITS, { kind: 'restart', node: node.id });
    }
  }

  private onNewLeader(node: SimNode): void {
    if (this.phase !== 'chaos' || !this.random.chance(this.options.isolateNewLeaderRate)) return;
    const others = this.voters.filter((x) => x !== node.id);
    this.network.partition([[node.id], others], `isolate new leader ${node.id}`);
    this.stats.partitions++;
    this.log(`PARTITION ${this.network.description}`);
    this.events.push(this.now + this.random.range(1, 30) * TICK_UNITS, { kind: 'heal' });
  }

  private send(m: Message): void {
    freezeMessage(m);
    if (m.type === 'Snap') this.stats.snapshotChunks++;
    else if (m.type === 'TimeoutNow') this.stats.timeoutNows++;
    else if (m.type === 'AppResp' && m.reject) this.stats.appendRejects++;
    if (this.tracing) this.log(`send ${formatMessage(m)}`);
    for (const delay of this.network.deliveryDelays(m))
      this.events.push(this.now + delay, { kind: 'deliver', message: m });
  }

  private apply(node: SimNode, entry: Entry): void {
    this.checker.onApply(node.id, node.appliedIndex, entry);
    node.appliedIndex = entry.index;
    const command: Command | undefined = decodeCommand(entry.data);
    if (command?.kind === 'marker') {
      let set = this.markersApplied.get(command.marker);
      if (set === undefined) {
        set = new Set();
        this.markersApplied.set(command.marker, set);
      }
      set.add(node.id);
      return;
    }
    const took = node.kv.apply(command);
    if (took !== undefined && !this.firstApplied.has(took)) this.firstApplied.set(took, ++this.historyClock);
    if (command?.kind === 'put') {
      const key = opKey(command.client, command.op);
      const op = node.puts.get(key);
      if (op !== undefined) this.complete(op, undefined, node.puts, key);
    }
  }

  private serveReads(node: SimNode): void {
    if (node.waitingReads.length === 0) return;
    const still: { index: number; op: HistoryOp }[] = [];
    for (const w of node.waitingReads) {
      if (w.index > node.appliedIndex) {
        still.push(w);
        continue;
      }
      const ctx = `r${w.op.opId}`;
      if (node.reads.get(ctx) === w.op) this.complete(w.op, node.kv.get(w.op.key), node.reads, ctx);
    }
    node.waitingReads = still;
  }

  // -- Clients -----------------------------------------------------------------------------------

  private complete(op: HistoryOp, output: string | null | undefined, index: Map<string, HistoryOp>, key: string): void {
    index.delete(key);
    if (op.completeAt !== undefined) return;
    op.completeAt = ++this.historyClock;
    if (op.kind === 'get') op.output = output ?? null;
    const client = this.clients.find((c) => c.busy === op);
    if (client !== undefined) client.busy = undefined;
    this.log(`client ${op.process} completes ${op.kind} ${op.key}${op.kind === 'get' ? ` -> ${op.output}` : ''}`);
  }

  /**
   * The client stops waiting. A put may still take effect later (it stays in the history with no
   * completion); a get that never answered has no effect and is dropped from the history.
   */
  private abandon(op: HistoryOp): void {
    if (op.completeAt !== undefined) return;
    if (op.kind === 'get') {
      const at = this.history.indexOf(op);
      if (at >= 0) this.history.splice(at, 1);
    }
    const client = this.clients.find((c) => c.busy === op);
    if (client !== undefined) {
      client.busy = undefined;
      // A client that gave up on a put may not issue another op as the same process: its put
      // might still be pending, and a process's ops must not overlap.
      client.process = this.nextProcess++;
    }
  }

  private clientStep(): void {
    const o = this.options;
    for (const client of this.clients) {
      const op = client.busy;
      if (op !== undefined) {
        if (this.now - op.invokeUnits > o.clientTimeoutTicks * TICK_UNITS) {
          for (const node of this.nodes) {
            node.puts.delete(opKey(op.process, op.opId));
            node.reads.delete(`r${op.opId}`);
          }
          this.log(`client ${op.process} gives up on ${op.kind} ${op.key}`);
          this.abandon(op);
        }
        continue;
      }
      if (this.phase !== 'chaos' || this.now < client.backoffUntilUnits || !this.random.chance(o.clientOpRate))
        continue;
      const up = this.nodes.filter((n) => n.up);
      if (up.length === 0) continue;
      const node = this.random.pick(up);
      const key = `k${this.random.int(o.keyCount)}`;
      const opId = this.nextOp++;
      if (this.random.chance(o.readFraction)) this.issueGet(client, node, key, opId);
      else this.issuePut(client, node, key, opId);
    }
  }

  private issuePut(client: Client, node: SimNode, key: string, opId: number): void {
    const value = `v${opId}`;
    const data = encodeCommand({ kind: 'put', client: client.process, op: opId, key, value });
    try {
      node.rawNode!.propose(data);
    } catch (error) {
      if (!isRaftError(error)) throw error;
      // Refused at once: it will never take effect. Try again a little later.
      client.backoffUntilUnits = this.now + this.random.range(1, 5) * TICK_UNITS;
      return;
    }
    this.stats.proposals++;
    const op: HistoryOp = {
      process: client.process,
      opId,
      kind: 'put',
      key,
      value,
      output: undefined,
      invokeAt: ++this.historyClock,
      completeAt: undefined,
      invokeUnits: this.now,
    };
    this.history.push(op);
    client.busy = op;
    node.puts.set(opKey(client.process, opId), op);
    this.log(`client ${client.process} put ${key}=${value} at node ${node.id}`);
  }

  private issueGet(client: Client, node: SimNode, key: string, opId: number): void {
    const ctx = `r${opId}`;
    try {
      node.rawNode!.readIndex(new TextEncoder().encode(ctx));
    } catch (error) {
      if (!isRaftError(error)) throw error;
      client.backoffUntilUnits = this.now + this.random.range(1, 5) * TICK_UNITS;
      return;
    }
    const op: HistoryOp = {
      process: client.process,
      opId,
      kind: 'get',
      key,
      value: undefined,
      output: undefined,
      invokeAt: ++this.historyClock,
      completeAt: undefined,
      invokeUnits: this.now,
    };
    this.history.push(op);
    client.busy = op;
    node.reads.set(ctx, op);
    this.log(`client ${client.process} get ${key} at node ${node.id}`);
  }

  // -- Faults ------------------------------------------------------------------------------------

  private chaos(): void {
    this.clientStep();
    if (this.phase !== 'chaos') return;
    const o = this.options;
    const r = this.random;
    if (this.now < this.flappingUntil && r.chance(0.5)) {
      const a = r.pick(this.voters);
      const b = r.pick(this.voters);
      if (a !== b) {
        if (this.network.isBlocked(a, b)) this.network.unblock(a, b);
        else this.network.block(a, b);
      }
    }
    if (r.chance(o.crashRate)) {
      const up = this.nodes.filter((n) => n.up);
      if (up.length > 0) {
        // Leaders are the interesting victims: half the crashes go to the current leader.
        const leader = this.currentLeader();
        const victim = leader !== undefined && r.chance(0.5) ? leader : r.pick(up);
        this.crash(victim);
        this.events.push(this.now + r.range(1, 60) * TICK_UNITS, { kind: 'restart', node: victim.id });
      }
    }
    if (r.chance(o.partitionRate)) this.startPartition();
    if (r.chance(o.snapshotRate)) this.takeSnapshot(r.pick(this.nodes));
    if (r.chance(o.transferRate)) this.transferLeadership();
  }

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes) {
      if (n.raft?.role === 'leader' && (best === undefined || n.raft.term > best.raft!.term)) best = n;
    }
    return best;
  }

  private startPartition(): void {
    const r = this.random;
    this.stats.partitions++;
    const ids = [...this.voters];
    const kind = r.int(6);
    const leader = this.currentLeader()?.id ?? r.pick(ids);
    if (kind === 5) {
      // The leader keeps a minority with it: it goes on appending entries that only the minority
      // holds, while the majority elects another leader — the divergent tails of Figures 7 and 8.
      const buddy = r.pick(ids.filter((x) => x !== leader));
      const minority = ids.length === 5 && r.chance(0.5) ? [leader] : [leader, buddy];
      if (ids.length === 3) minority.splice(1);
      const groups = [minority, ids.filter((x) => !minority.includes(x))];
      this.network.partition(groups, `leader minority ${JSON.stringify(groups)}`);
    } else if (kind === 0) {
      r.shuffle(ids);
      const cut = r.range(1, ids.length - 1);
      const groups = [ids.slice(0, cut), ids.slice(cut)];
      this.network.partition(groups, `split ${JSON.stringify(groups)}`);
    } else if (kind === 1) {
      this.network.partition([[leader], ids.filter((x) => x !== leader)], `isolate ${leader}`);
    } else if (kind === 2) {
      this.network.healAll();
      const links = r.range(1, ids.length);
      for (let i = 0; i < links; i++) {
        const a = r.pick(ids);
        const b = r.pick(ids);
        if (a !== b) this.network.block(a, b);
      }
      this.network.description = 'one-way cuts';
    } else if (kind === 3) {
      this.network.healAll();
      this.network.description = 'flapping';
      this.flappingUntil = this.now + r.range(10, 60) * TICK_UNITS;
    } else {
      this.network.healAll();
    }
    this.log(`PARTITION ${this.network.description}`);
    this.events.push(this.now + r.range(5, 80) * TICK_UNITS, { kind: 'heal' });
  }

  /** The application snapshots its state machine and compacts the log, keeping a random tail. */
  takeSnapshot(node: SimNode): void {
    if (!node.up) return;
    const snapIndex = node.storage.snapshot().metadata.index;
    if (node.appliedIndex <= snapIndex) return;
    node.storage.createSnapshot(
      node.appliedIndex as LogIndex,
      node.storage.snapshot().metadata.confState,
      node.kv.serialize(),
    );
    this.stats.snapshotsTaken++;
    const compactTo = node.appliedIndex - this.random.int(5);
    if (compactTo > node.storage.firstIndex() - 1) node.storage.compact(compactTo as LogIndex);
    this.log(`node ${node.id} snapshots at ${node.appliedIndex}, compacts to ${compactTo}`);
  }

  private transferLeadership(): void {
    const up = this.nodes.filter((n) => n.up);
    if (up.length === 0) return;
    // Usually ask the leader; sometimes a follower, which forwards the request.
    const asked = this.random.chance(0.7) ? (this.currentLeader() ?? this.random.pick(up)) : this.random.pick(up);
    const to = this.random.pick(this.voters);
    try {
      asked.rawNode!.transferLeadership(to);
      this.stats.transfers++;
      this.log(`TRANSFER asked ${asked.id} to hand over to ${to}`);
    } catch (error) {
      if (!isRaftError(error)) throw error;
    }
  }

  // -- Phases ------------------------------------------------------------------------------------

  /** (Re)enters the chaos phase: the seed's network faults and fault rates apply. */
  startChaos(): void {
    this.phase = 'chaos';
    this.network.faults = this.options.faults;
    this.log('CHAOS');
  }

  /** Ends the chaos: heal the network, make it reliable, restart every node, stop injecting faults. */
  calm(): void {
    this.phase = 'calm';
    this.flappingUntil = 0;
    this.network.healAll();
    this.network.faults = {
      dropRate: 0,
      duplicateRate: 0,
      maxDelayUnits: Math.min(this.options.faults.maxDelayUnits, 10),
    };
    for (const node of this.nodes) this.restart(node);
    this.log('CALM: network healed and reliable, all nodes up');
  }

  /**
   * Liveness after the faults heal (network reliable, every node up): within `commitTicksMax` a
   * leader must be elected and an entry proposed through it must be committed (applied on a
   * majority); within `convergeTicksMax` it must be applied on every node, which can take longer
   * when a node catches up through a snapshot sent in small chunks.
   */
  awaitLiveness(
    commitTicksMax: number,
    convergeTicksMax: number,
  ): { committedTicks: number | undefined; convergedTicks: number | undefined } {
    const start = this.now;
    const proposed = new Set<number>();
    let proposedAt = Number.NEGATIVE_INFINITY;
    const retryUnits = 2 * this.options.electionTimeoutTicks * TICK_UNITS;
    const quorum = Math.floor(this.nodes.length / 2) + 1;
    const appliedBy = (atLeast: number) => {
      for (const marker of proposed) if ((this.markersApplied.get(marker)?.size ?? 0) >= atLeast) return true;
      return false;
    };
    const ticksSinceStart = () => Math.ceil((this.now - start) / TICK_UNITS);
    let committedTicks: number | undefined;
    while (this.now < start + commitTicksMax * TICK_UNITS) {
      const leader = this.currentLeader();
      if (leader !== undefined && this.now - proposedAt >= retryUnits) {
        try {
          const marker = this.nextMarker++;
          leader.rawNode!.propose(encodeCommand({ kind: 'marker', marker }));
          proposed.add(marker);
          proposedAt = this.now;
          this.log(`LIVENESS proposes marker ${marker} at leader ${leader.id}`);
        } catch (error) {
          if (!isRaftError(error)) throw error;
        }
      }
      if (this.runUntil(this.now + TICK_UNITS, () => appliedBy(quorum))) {
        committedTicks = ticksSinceStart();
        break;
      }
    }
    if (committedTicks === undefined) return { committedTicks, convergedTicks: undefined };
    const all = this.nodes.length;
    const converged = appliedBy(all) || this.runUntil(start + convergeTicksMax * TICK_UNITS, () => appliedBy(all));
    return { committedTicks, convergedTicks: converged ? ticksSinceStart() : undefined };
  }

  /**
   * The history to check for linearizability. A put takes effect when it commits, which precedes
   * the first time any node applies it, so that time is a sound completion for it, often earlier
   * than the client heard (or than never, for a client that gave up). A put that no node applied
   * influenced no read and is left out. Both keep the search small without weakening the check.
   */
  checkedHistory(): HistoryOp[] {
    const out: HistoryOp[] = [];
    for (const op of this.history) {
      if (op.kind === 'get') {
        out.push(op);
        continue;
      }
      const applied = this.firstApplied.get(opKey(op.process, op.opId));
      if (applied === undefined) continue;
      out.push({ ...op, completeAt: Math.min(op.completeAt ?? Number.POSITIVE_INFINITY, applied) });
    }
    return out;
  }

  /** Lets pending client operations finish or time out, with no new ones. */
  drainClients(): void {
    const deadline = this.now + (this.options.clientTimeoutTicks + 1) * TICK_UNITS;
    this.runUntil(deadline, () => this.clients.every((c) => c.busy === undefined));
  }

  describeNodes(): string[] {
    return this.nodes.map((n) => {
      const r = n.raft;
      if (r === undefined) return `node ${n.id}: down (durable last=${n.storage.lastIndex()})`;
      return `node ${n.id}: ${r.role} term=${r.term} lead=${r.lead} commit=${r.raftLog.committed} applied=${n.appliedIndex} log=[${r.raftLog.firstIndex()},${r.raftLog.lastIndex()}]`;
    });
  }
}

function freezeMessage(m: Message): void {
  // The same message object may be delivered twice (duplication) and its entries are shared with
  // the sender's log: freezing makes any attempt by the core to mutate them fail loudly.
  if (m.type === 'App') {
    for (const e of m.entries) Object.freeze(e);
    Object.freeze(m.entries);
  }
  if (m.type === 'Snap') Object.freeze(m.metadata);
  Object.freeze(m);
}
