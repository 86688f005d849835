import type { MetadataImage } from '@millrace/metadata';
import { MillraceError, type ParsedMetadataRecord } from '@millrace/protocol';
import type { LeaderChange, RaftNode } from '@millrace/raft';
import {
  type Decision,
  type DecisionContext,
  electPreferredLeaders,
  fenceBroker,
  type HeartbeatResult,
  heartbeat,
  registerBroker,
} from './metadata/decisions.js';
import { encodeRecordBatchEntry, type MetadataStateMachine } from './metadata/state-machine.js';

export interface ControllerSettings {
  readonly clusterId: string;
  /** A broker that sends no heartbeat for this long is fenced. Default 2000 ms (the config default). */
  readonly brokerSessionTimeoutMs?: number;
  /** How often the active controller looks for expired sessions. Default 250 ms. */
  readonly sessionCheckIntervalMs?: number;
  /** How often the active controller moves leadership back to preferred replicas (when enabled). Default 5000 ms. */
  readonly leaderRebalanceIntervalMs?: number;
  /** How long a write waits for its records to commit. Default 5000 ms. */
  readonly proposalTimeoutMs?: number;
}

export interface ControllerDeps {
  readonly raft: RaftNode<readonly ParsedMetadataRecord[]>;
  readonly stateMachine: MetadataStateMachine;
  readonly decisionContext: DecisionContext;
  readonly now: () => number;
  readonly onError?: (error: unknown, what: string) => void;
}

/**
 * One controller. Every controller applies the committed metadata log to its image; the Raft
 * leader, once it has applied everything its log held when it was elected, is the *active*
 * controller and alone decides. Writes are serialized: each is decided against a speculative image
 * (the committed image plus every batch proposed but not yet committed), its records are proposed
 * as one Raft entry, and the caller is answered once that entry is applied. On any doubt (a
 * proposal refused, leadership lost) the speculative image is dropped and rebuilt from the
 * committed one once the log has been applied to its end.
 */
export class Controller {
  readonly settings: Required<ControllerSettings>;
  readonly #deps: ControllerDeps;
  #speculative: MetadataImage | undefined;
  /** The log index this node must apply before it is active: its last index when it became leader. */
  #activeFrom = Number.POSITIVE_INFINITY;
  #writeChain: Promise<unknown> = Promise.resolve();
  readonly #sessions = new Map<number, number>();
  #timers: NodeJS.Timeout[] = [];
  readonly #unsubscribe: () => void;

  constructor(settings: ControllerSettings, deps: ControllerDeps) {
    this.settings = {
      brokerSessionTimeoutMs: 2000,
      sessionCheckIntervalMs: 250,
      leaderRebalanceIntervalMs: 5000,
      proposalTimeoutMs: 5000,
      ...settings,
    };
    this.#deps = deps;
    this.#unsubscribe = deps.raft.onLeaderChange((change) => this.#onLeaderChange(change));
  }

  /** The committed image, as applied on this node. */
  get image(): MetadataImage {
    return this.#deps.stateMachine.image;
  }

  get isActive(): boolean {
    return this.#deps.raft.isLeader && this.#deps.raft.appliedIndex >= this.#activeFrom;
  }

  get activeControllerId(): number | null {
    const leader = this.#deps.raft.leaderId;
    return leader === 0 ? null : leader;
  }

  /**
   * Decides on the speculative image and proposes the records; resolves with the decision's result
   * once they are applied here. Throws NOT_CONTROLLER (retriable, naming the active controller when
   * known) on a controller that is not active, and the decision's own typed errors unchanged.
   */
  write<T>(decide: (image: MetadataImage) => Decision<T>): Promise<T> {
    const run = async (): Promise<{ result: T; committed?: Promise<unknown> }> => {
      const image = await this.#speculativeImage();
      const decision = decide(image);
      if (decision.records.length === 0) return { result: decision.result };
      const raft = this.#deps.raft;
      const offset = raft.status().lastIndex + 1;
      try {
        for (const record of decision.records) image.applyUnchecked(offset, record);
      } catch (error) {
        // The decision produced records that do not fit its own image: a bug. Start again from the committed image.
        this.#speculative = undefined;
        throw error;
      }
      const committed = raft.propose(encodeRecordBatchEntry(decision.records), this.settings.proposalTimeoutMs);
      committed.catch(() => {
        this.#speculative = undefined;
      });
      if (raft.status().lastIndex !== offset) this.#speculative = undefined;
      return { result: decision.result, committed };
    };
    // Deciding is serialized; waiting for the commit is not, so writes pipeline.
    const decided = this.#writeChain.then(run, run);
    this.#writeChain = decided.catch(() => undefined);
    return decided.then(async ({ result, committed }) => {
      await committed;
      return result;
    });
  }

  /** A linearizable view of the committed image: every write acknowledged before the call is in it. */
  async readImage(): Promise<MetadataImage> {
    await this.#deps.raft.readIndex(this.settings.proposalTimeoutMs);
    return this.image;
  }

  async registerBroker(request: Parameters<typeof registerBroker>[1]): Promise<{ brokerEpoch: number }> {
    const result = await this.write((image) =>
      registerBroker(image, request, {
        clusterId: this.settings.clusterId,
        sessionAlive: (id) => this.#sessionAlive(id),
      }),
    );
    this.#sessions.set(request.brokerId, this.#deps.now());
    return result;
  }

  async heartbeat(request: Parameters<typeof heartbeat>[1]): Promise<HeartbeatResult & { sessionTimeoutMs: number }> {
    const result = await this.write((image) => heartbeat(image, request));
    if (!result.shouldShutDown) this.#sessions.set(request.brokerId, this.#deps.now());
    else this.#sessions.delete(request.brokerId);
    return { ...result, sessionTimeoutMs: this.settings.brokerSessionTimeoutMs };
  }

  /** Stops the timers and the leadership listener; the Raft node is stopped by its owner. */
  close(): void {
    this.#unsubscribe();
    this.#stopTimers();
  }

  #sessionAlive(brokerId: number): boolean {
    const last = this.#sessions.get(brokerId);
    return last !== undefined && this.#deps.now() - last < this.settings.brokerSessionTimeoutMs;
  }

  async #speculativeImage(): Promise<MetadataImage> {
    const raft = this.#deps.raft;
    if (!raft.isLeader) throw this.#notActive();
    if (this.#speculative !== undefined) return this.#speculative;
    // Rebuild only once every entry in the log is applied, so the image holds all that will commit.
    const target = raft.status().lastIndex;
    const deadline = this.#deps.now() + this.settings.proposalTimeoutMs;
    while (raft.appliedIndex < target || raft.appliedIndex < this.#activeFrom) {
      if (!raft.isLeader) throw this.#notActive();
      if (this.#deps.now() > deadline) {
        throw new MillraceError('REQUEST_TIMED_OUT', 'The new active controller did not catch up on its log in time.');
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    this.#speculative = this.#deps.stateMachine.image.clone();
    return this.#speculative;
  }

  #notActive(): MillraceError {
    const active = this.activeControllerId;
    return new MillraceError(
      'NOT_CONTROLLER',
      active === null ? 'There is no active controller right now.' : `Controller ${active} is the active controller.`,
      { details: { activeControllerId: active } },
    );
  }

  #onLeaderChange(change: LeaderChange): void {
    this.#speculative = undefined;
    this.#stopTimers();
    if (!change.isLeader) {
      this.#activeFrom = Number.POSITIVE_INFINITY;
      return;
    }
    this.#activeFrom = this.#deps.raft.status().lastIndex;
    // A new active controller gives every broker a full session before fencing it, as it has not
    // heard their heartbeats yet.
    const now = this.#deps.now();
    this.#sessions.clear();
    for (const broker of this.image.brokers()) this.#sessions.set(broker.brokerId, now);
    this.#timers.push(
      setInterval(() => this.#fenceExpired(), this.settings.sessionCheckIntervalMs),
      setInterval(() => this.#rebalanceLeaders(), this.settings.leaderRebalanceIntervalMs),
    );
  }

  #stopTimers(): void {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
  }

  #fenceExpired(): void {
    if (!this.isActive) return;
    for (const broker of this.image.brokers()) {
      if (broker.fenced || this.#sessionAlive(broker.brokerId)) continue;
      this.#sessions.delete(broker.brokerId);
      this.write((image) => fenceBroker(image, broker.brokerId)).catch((error: unknown) =>
        this.#deps.onError?.(error, `fencing broker ${broker.brokerId}`),
      );
    }
  }

  /** Kafka's auto.leader.rebalance.enable: preferred replicas that are alive and in sync lead again. */
  #rebalanceLeaders(): void {
    if (!this.isActive || this.image.clusterConfig('auto.leader.rebalance.enable') !== 'true') return;
    this.write((image) => electPreferredLeaders(image)).catch((error: unknown) =>
      this.#deps.onError?.(error, 'rebalancing leaders'),
    );
  }
}
