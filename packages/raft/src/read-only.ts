import { voteResult } from './quorum.js';
import type { LogIndex, NodeId } from './types.js';
import { bytesKey } from './util.js';

/** A ReadIndex request waiting on the leader. `from` is the node to answer (the leader itself for local requests). */
export interface ReadRequest {
  readonly from: NodeId;
  readonly context: Uint8Array;
}

interface PendingRead {
  readonly index: LogIndex;
  readonly request: ReadRequest;
  readonly acks: Map<NodeId, boolean>;
}

/**
 * ReadIndex requests awaiting a heartbeat round (thesis §6.4). Each request records the commit
 * index when it arrived; the heartbeats sent for it carry its context. Once a majority has
 * answered a heartbeat with that context, the leader knows it was still leader after the request
 * arrived, so that request, and every earlier one, may be served at its recorded index.
 */
export class ReadOnly {
  private readonly pending = new Map<string, PendingRead>();
  private readonly queue: string[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Adds a request; a duplicate context (a retransmitted request) joins the existing round. */
  add(index: LogIndex, request: ReadRequest, self: NodeId): void {
    const key = bytesKey(request.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { index, request, acks: new Map([[self, true]]) });
    this.queue.push(key);
  }

  /**
   * Records a heartbeat response carrying `context`. Returns the requests now confirmed, oldest
   * first, with the index each may be served at; an empty array while the round lacks a quorum.
   */
  recvAck(from: NodeId, context: Uint8Array, voters: readonly NodeId[]): { index: LogIndex; request: ReadRequest }[] {
    const key = bytesKey(context);
    const read = this.pending.get(key);
    if (read === undefined) return [];
    read.acks.set(from, true);
    if (voteResult(voters, read.acks) !== 'won') return [];
    const position = this.queue.indexOf(key);
    const released = this.queue.splice(0, position + 1);
    return released.map((k) => {
      const r = this.pending.get(k)!;
      this.pending.delete(k);
      return { index: r.index, request: r.request };
    });
  }

  /** The context of the newest pending request, to piggyback on heartbeats. */
  lastPendingContext(): Uint8Array | null {
    const key = this.queue[this.queue.length - 1];
    return key === undefined ? null : this.pending.get(key)!.request.context;
  }
}
