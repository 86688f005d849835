import { randomUUID } from 'node:crypto';
import type { ParsedMetadataRecord } from '@millrace/protocol';
import { LevelRaftStorage, type NodeId, RaftNode, type RaftTransport } from '@millrace/raft';
import { Controller, type ControllerSettings } from './controller.js';
import { MetadataStateMachine } from './metadata/state-machine.js';

export interface ControllerNodeOptions {
  readonly nodeId: number;
  readonly voters: readonly number[];
  readonly dataDir: string;
  /** Create the Raft store in an empty folder: a deliberate first start only. */
  readonly initialize?: boolean;
  readonly settings: ControllerSettings;
  readonly raft?: {
    readonly tickMs?: number;
    readonly electionTimeoutTicks?: number;
    readonly heartbeatTimeoutTicks?: number;
    readonly snapshotEveryEntries?: number;
    readonly keepEntriesAfterSnapshot?: number;
  };
  readonly onError?: (error: unknown, what: string) => void;
}

export interface ControllerNode {
  readonly controller: Controller;
  readonly raft: RaftNode<readonly ParsedMetadataRecord[]>;
  readonly stateMachine: MetadataStateMachine;
  /** Starts the Raft clock with the transport that carries this node's messages. */
  start(transport: RaftTransport): void;
  stop(): Promise<void>;
}

/** Opens the durable Raft state and assembles a controller around it; nothing runs until `start`. */
export async function openControllerNode(options: ControllerNodeOptions): Promise<ControllerNode> {
  const storage = await LevelRaftStorage.open(options.dataDir, {
    clusterId: options.settings.clusterId,
    nodeId: options.nodeId as NodeId,
    voters: options.voters as NodeId[],
    initialize: options.initialize ?? false,
  });
  const stateMachine = new MetadataStateMachine();
  const raft = new RaftNode<readonly ParsedMetadataRecord[]>({
    id: options.nodeId as NodeId,
    storage,
    stateMachine,
    ...options.raft,
  });
  const controller = new Controller(options.settings, {
    raft,
    stateMachine,
    decisionContext: { random: Math.random, newTopicId: randomUUID },
    now: Date.now,
    ...(options.onError === undefined ? {} : { onError: options.onError }),
  });
  return {
    controller,
    raft,
    stateMachine,
    start: (transport) => raft.start(transport),
    stop: async () => {
      controller.close();
      await raft.stop();
    },
  };
}
