import {
  createFrameSession,
  type FrameSession,
  frameBody,
  type MillraceServer,
  requireClusterSecret,
} from '@millrace/http';
import { ContentType, Headers, Routes } from '@millrace/protocol';
import type { Message, NodeId } from '../types.js';
import { coalesceAppends } from './coalesce.js';
import type { RaftMessageSink, RaftTransport } from './transport.js';
import { decodeRaftFrame, encodeRaftFrame } from './wire.js';

export interface HttpRaftTransportOptions {
  readonly clusterId: string;
  readonly self: NodeId;
  /** Each peer's origin, e.g. `http://127.0.0.1:9092`. */
  readonly peers: ReadonlyMap<NodeId, string>;
  readonly clusterSecret: string;
  /** Told when a peer cannot be reached, so the leader stops pipelining to it. */
  readonly sink: Pick<RaftMessageSink, 'reportUnreachable'>;
  /** Deadline of one request to a peer. Default 2000 ms. */
  readonly requestTimeoutMs?: number;
  /** Messages queued for one peer at most; beyond it the queue is dropped (Raft resends). Default 10,000. */
  readonly queuedMessagesMax?: number;
  /** Payload bytes per request at most (one message may exceed it alone). Default 8 MiB. */
  readonly requestBytesMax?: number;
}

/** Messages per request at most (the envelope schema allows 10,000). */
const REQUEST_MESSAGES_MAX = 10_000;
/**
 * Byte payloads (entries, chunks, contexts) per request at most: each is a frame section and an
 * object in the JSON header, and the receiver refuses frames over 100,000 sections or a 4 MiB
 * header. 20,000 keeps a request well inside both (one message may exceed it alone).
 */
const REQUEST_SECTIONS_MAX = 20_000;

interface Peer {
  readonly id: NodeId;
  readonly session: FrameSession;
  queue: Message[];
  inFlight: boolean;
  failures: number;
  retryTimer: NodeJS.Timeout | undefined;
}

/**
 * Raft messages over HTTP/2: one h2c connection and one queue per peer. At most one request is in
 * flight to a peer; everything queued meanwhile goes in the next one, so under load messages batch
 * by themselves and requests per second stay low. Appends in a request that continue one another
 * are merged into one (`coalesceAppends`), so the follower steps, and acknowledges, a batch of
 * entries once rather than once per proposal. A failed request drops its messages (Raft
 * tolerates loss and resends), reports the peer unreachable and backs off; a slow or dead peer
 * holds only its own queue, never the others'.
 */
export class HttpRaftTransport implements RaftTransport {
  readonly #options: HttpRaftTransportOptions;
  readonly #peers = new Map<number, Peer>();
  #closed = false;

  constructor(options: HttpRaftTransportOptions) {
    this.#options = options;
    for (const [id, origin] of options.peers) {
      if (id === options.self) continue;
      this.#peers.set(id, {
        id,
        session: createFrameSession(origin),
        queue: [],
        inFlight: false,
        failures: 0,
        retryTimer: undefined,
      });
    }
  }

  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    const max = this.#options.queuedMessagesMax ?? 10_000;
    const touched = new Set<Peer>();
    for (const message of messages) {
      const peer = this.#peers.get(message.to);
      if (peer === undefined) continue;
      if (peer.queue.length >= max) {
        // A peer this far behind is not being reached: let Raft probe it again later.
        peer.queue = [];
        this.#options.sink.reportUnreachable(peer.id);
      }
      peer.queue.push(message);
      touched.add(peer);
    }
    for (const peer of touched) this.#flush(peer);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(
      [...this.#peers.values()].map(async (peer) => {
        clearTimeout(peer.retryTimer);
        peer.queue = [];
        await peer.session.close();
      }),
    );
  }

  #flush(peer: Peer): void {
    if (this.#closed || peer.inFlight || peer.retryTimer !== undefined || peer.queue.length === 0) return;
    const batch = this.#takeBatch(peer);
    peer.inFlight = true;
    const body = encodeRaftFrame(this.#options.clusterId, this.#options.self, batch);
    peer.session
      .requestFrame({
        path: Routes.raft,
        body,
        headers: { [Headers.clusterSecret]: this.#options.clusterSecret },
        timeoutMs: this.#options.requestTimeoutMs ?? 2000,
      })
      .then(() => {
        peer.failures = 0;
      })
      .catch(() => {
        if (this.#closed) return;
        peer.failures++;
        this.#options.sink.reportUnreachable(peer.id);
        // Back off from a peer that keeps failing: 20 ms doubling up to 1 s.
        const delayMs = Math.min(1000, 20 * 2 ** Math.min(peer.failures - 1, 6));
        peer.retryTimer = setTimeout(() => {
          peer.retryTimer = undefined;
          this.#flush(peer);
        }, delayMs);
      })
      .finally(() => {
        peer.inFlight = false;
        this.#flush(peer);
      });
  }

  /**
   * The oldest queued messages, within the per-request bounds on bytes, messages and sections (at
   * least one message), with continuing appends merged.
   */
  #takeBatch(peer: Peer): Message[] {
    const bytesMax = this.#options.requestBytesMax ?? 8 * 1024 * 1024;
    let bytes = 0;
    let sections = 0;
    let count = 0;
    for (const message of peer.queue) {
      const size = payloadBytes(message);
      const sectionCount = payloadSections(message);
      if (
        count > 0 &&
        (bytes + size > bytesMax || count >= REQUEST_MESSAGES_MAX || sections + sectionCount > REQUEST_SECTIONS_MAX)
      ) {
        break;
      }
      bytes += size;
      sections += sectionCount;
      count++;
    }
    return coalesceAppends(peer.queue.splice(0, count), REQUEST_SECTIONS_MAX);
  }
}

function payloadSections(message: Message): number {
  switch (message.type) {
    case 'App':
    case 'Prop':
      return message.entries.length;
    case 'Snap':
    case 'ReadIndex':
    case 'ReadIndexResp':
      return 1;
    case 'Heartbeat':
    case 'HeartbeatResp':
      return message.context === null ? 0 : 1;
    default:
      return 0;
  }
}

function payloadBytes(message: Message): number {
  switch (message.type) {
    case 'App':
      return message.entries.reduce((sum, entry) => sum + entry.data.byteLength + 64, 64);
    case 'Snap':
      return message.data.byteLength + 256;
    case 'Prop':
      return message.entries.reduce((sum, entry) => sum + entry.data.byteLength + 32, 64);
    default:
      return 128;
  }
}

export interface RaftRouteOptions {
  readonly clusterId: string;
  readonly self: NodeId;
  /** The voters, this node included. */
  readonly voters: readonly NodeId[];
  readonly clusterSecret: string;
  readonly sink: RaftMessageSink;
  /** Largest frame accepted. Default 32 MiB (a request may carry several snapshot chunks and append batches). */
  readonly bodyLimitBytes?: number;
}

/** The answer to every accepted request: an empty 200 (the sender only needs to know it arrived). */
const ACCEPTED = { contentType: ContentType.frame, body: Buffer.alloc(0) };

/**
 * The receiving end: POST /v1/raft, cluster secret required, frame checked before the core sees it.
 * A hot route (`app.hotPost`, served from the HTTP/2 stream): a leader sends each follower
 * heartbeats and appends several times a second, and each follower answers with requests of its
 * own, so through fastify an idle quorum spent most of its CPU in fastify's per-request machinery.
 */
export function registerRaftRoute(app: MillraceServer, options: RaftRouteOptions): void {
  const peers = new Set<number>(options.voters);
  app.hotPost(
    Routes.raft,
    { auth: requireClusterSecret(options.clusterSecret), bodyLimit: options.bodyLimitBytes ?? 32 * 1024 * 1024 },
    async (request) => {
      const { messages } = decodeRaftFrame(frameBody(request), {
        clusterId: options.clusterId,
        to: options.self,
        peers,
      });
      options.sink.receive(messages);
      return ACCEPTED;
    },
  );
}
