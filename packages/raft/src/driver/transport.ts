import type { Message, NodeId } from '../types.js';

/**
 * How a node's messages reach its peers. `send` never blocks and never throws for a dead or slow
 * peer: Raft tolerates lost messages, so a transport drops what it cannot deliver and reports the
 * peer unreachable, and one slow peer never delays the others.
 */
export interface RaftTransport {
  send(messages: readonly Message[]): void;
  close(): Promise<void>;
}

/** Where a transport delivers what it receives, and tells about peers it cannot reach. */
export interface RaftMessageSink {
  receive(messages: readonly Message[]): void;
  reportUnreachable(id: NodeId): void;
}

/**
 * The in-memory twin of the HTTP/2 transport: nodes of one process deliver to each other on the
 * next turn of the event loop (never synchronously, as a network would not), and a test can cut
 * links to simulate partitions.
 */
export class LocalNetwork {
  readonly #sinks = new Map<number, RaftMessageSink>();
  readonly #cut = new Set<string>();

  transportFor(self: NodeId): RaftTransport {
    let closed = false;
    return {
      send: (messages) => {
        if (closed) return;
        for (const message of messages) {
          const to = message.to;
          const sink = this.#sinks.get(to);
          if (sink === undefined || this.#cut.has(`${self}->${to}`)) {
            this.#sinks.get(self)?.reportUnreachable(to);
            continue;
          }
          setImmediate(() => {
            if (!this.#cut.has(`${self}->${to}`)) this.#sinks.get(to)?.receive([message]);
          });
        }
      },
      close: async () => {
        closed = true;
      },
    };
  }

  attach(id: NodeId, sink: RaftMessageSink): void {
    this.#sinks.set(id, sink);
  }

  detach(id: NodeId): void {
    this.#sinks.delete(id);
  }

  /** Cuts (or heals) both directions between `a` and `b`. */
  partition(a: NodeId, b: NodeId, cut = true): void {
    for (const link of [`${a}->${b}`, `${b}->${a}`]) {
      if (cut) this.#cut.add(link);
      else this.#cut.delete(link);
    }
  }
}
