import {
  decodeFrame,
  encodeFrame,
  fromZodError,
  MillraceError,
  RaftEnvelopeSchema,
  type RaftWireMessage,
} from '@millrace/protocol';
import type { Entry, LogIndex, Message, NodeId, Term } from '../types.js';

/**
 * Raft messages on the wire: one frame per batch of messages from one node to another, a JSON
 * header checked by `RaftEnvelopeSchema` and one raw section per byte payload (entry data,
 * snapshot chunk, ReadIndex context). Payloads are copied out of the request body on decode, so
 * an entry kept in the log does not pin the whole body it arrived in.
 */
export function encodeRaftFrame(clusterId: string, from: NodeId, messages: readonly Message[]): Buffer {
  const sections: Uint8Array[] = [];
  const ref = (bytes: Uint8Array): number => sections.push(bytes) - 1;
  const wire = messages.map((message) => toWire(message, ref));
  return encodeFrame({ clusterId, from, messages: wire }, sections);
}

/**
 * Every conversion here and in `fromWire` writes out its object literal field by field: an object
 * spread (`{ ...message }`) costs microseconds per message in V8 here, which at tens of thousands
 * of messages a second was a visible share of a node's time (see BENCHMARKS.md).
 */
function toWire(m: Message, ref: (bytes: Uint8Array) => number): RaftWireMessage {
  switch (m.type) {
    case 'Vote':
    case 'PreVote':
      return {
        type: m.type,
        from: m.from,
        to: m.to,
        term: m.term,
        lastLogIndex: m.lastLogIndex,
        lastLogTerm: m.lastLogTerm,
        transfer: m.transfer,
      };
    case 'VoteResp':
    case 'PreVoteResp':
      return { type: m.type, from: m.from, to: m.to, term: m.term, reject: m.reject };
    case 'App': {
      const entries = new Array<{ term: number; index: number; type: 'normal' | 'config'; data: number }>(
        m.entries.length,
      );
      for (let i = 0; i < m.entries.length; i++) {
        const e = m.entries[i] as Entry;
        entries[i] = { term: e.term, index: e.index, type: e.type, data: ref(e.data) };
      }
      return {
        type: 'App',
        from: m.from,
        to: m.to,
        term: m.term,
        prevLogIndex: m.prevLogIndex,
        prevLogTerm: m.prevLogTerm,
        entries,
        commit: m.commit,
      };
    }
    case 'AppResp':
      return {
        type: 'AppResp',
        from: m.from,
        to: m.to,
        term: m.term,
        index: m.index,
        reject: m.reject,
        rejectHint: m.rejectHint,
        logTerm: m.logTerm,
      };
    case 'Heartbeat':
      return {
        type: 'Heartbeat',
        from: m.from,
        to: m.to,
        term: m.term,
        commit: m.commit,
        context: m.context === null ? null : ref(m.context),
      };
    case 'HeartbeatResp':
      return {
        type: 'HeartbeatResp',
        from: m.from,
        to: m.to,
        term: m.term,
        context: m.context === null ? null : ref(m.context),
      };
    case 'Snap': {
      const { index, term, confState } = m.metadata;
      return {
        type: 'Snap',
        from: m.from,
        to: m.to,
        term: m.term,
        metadata: { index, term, confState: { voters: [...confState.voters], learners: [...confState.learners] } },
        offsetBytes: m.offsetBytes,
        data: ref(m.data),
        done: m.done,
      };
    }
    case 'SnapResp':
      return {
        type: 'SnapResp',
        from: m.from,
        to: m.to,
        term: m.term,
        snapshotIndex: m.snapshotIndex,
        receivedBytes: m.receivedBytes,
        reject: m.reject,
      };
    case 'TimeoutNow':
      return { type: 'TimeoutNow', from: m.from, to: m.to, term: m.term };
    case 'TransferLeader':
      return { type: 'TransferLeader', from: m.from, to: m.to, term: m.term, transferee: m.transferee };
    case 'ReadIndex':
      return { type: 'ReadIndex', from: m.from, to: m.to, term: m.term, context: ref(m.context) };
    case 'ReadIndexResp':
      return { type: 'ReadIndexResp', from: m.from, to: m.to, term: m.term, index: m.index, context: ref(m.context) };
    case 'Prop':
      return {
        type: 'Prop',
        from: m.from,
        to: m.to,
        term: m.term,
        entries: m.entries.map((e) => ({ type: e.type, data: ref(e.data) })),
      };
  }
}

export interface DecodeRaftFrameExpectations {
  readonly clusterId: string;
  /** This node: every message must be addressed to it. */
  readonly to: NodeId;
  /** The voters: a frame from anyone else is refused. */
  readonly peers: ReadonlySet<number>;
}

/**
 * Decodes and checks a frame of Raft messages. Anything wrong — a malformed frame, a header the
 * schema refuses, another cluster, a sender outside the group, a message for another node, a
 * section reference out of range — is a typed error and nothing reaches the core.
 */
export function decodeRaftFrame(
  body: Buffer,
  expect: DecodeRaftFrameExpectations,
): { from: NodeId; messages: Message[] } {
  const { header, sections } = decodeFrame(body);
  const parsed = RaftEnvelopeSchema.safeParse(header);
  if (!parsed.success) throw fromZodError(parsed.error, 'raft frame');
  const envelope = parsed.data;
  if (envelope.clusterId !== expect.clusterId) {
    throw new MillraceError(
      'INCONSISTENT_CLUSTER_ID',
      `Raft frame from cluster "${envelope.clusterId}", not "${expect.clusterId}".`,
    );
  }
  if (!expect.peers.has(envelope.from) || envelope.from === expect.to) {
    throw new MillraceError(
      'INVALID_REQUEST',
      `Raft frame from node ${envelope.from}, which is not a peer of node ${expect.to}.`,
    );
  }
  const used = new Set<number>();
  const section = (index: number): Uint8Array => {
    const bytes = sections[index];
    if (bytes === undefined || used.has(index)) {
      throw new MillraceError(
        'INVALID_REQUEST',
        `Raft frame refers to section ${index}, which is missing or used twice.`,
      );
    }
    used.add(index);
    return new Uint8Array(bytes);
  };
  const messages = envelope.messages.map((wire, i): Message => {
    if (wire.from !== envelope.from || wire.to !== expect.to) {
      throw new MillraceError(
        'INVALID_REQUEST',
        `Raft message ${i} is from ${wire.from} to ${wire.to}; the frame is from ${envelope.from} to ${expect.to}.`,
      );
    }
    return fromWire(wire, section);
  });
  if (used.size !== sections.length) {
    throw new MillraceError(
      'INVALID_REQUEST',
      `Raft frame has ${sections.length - used.size} sections no message refers to.`,
    );
  }
  return { from: envelope.from as NodeId, messages };
}

/** The schema checked every range, so the brands are earned here. Literals are spelled out, as in `toWire`. */
function fromWire(wire: RaftWireMessage, section: (index: number) => Uint8Array): Message {
  const from = wire.from as NodeId;
  const to = wire.to as NodeId;
  const term = wire.term as Term;
  switch (wire.type) {
    case 'Vote':
    case 'PreVote':
      return {
        type: wire.type,
        from,
        to,
        term,
        lastLogIndex: wire.lastLogIndex as LogIndex,
        lastLogTerm: wire.lastLogTerm as Term,
        transfer: wire.transfer,
      };
    case 'VoteResp':
    case 'PreVoteResp':
      return { type: wire.type, from, to, term, reject: wire.reject };
    case 'App': {
      const entries = new Array<Entry>(wire.entries.length);
      for (let i = 0; i < wire.entries.length; i++) {
        const e = wire.entries[i] as (typeof wire.entries)[number];
        entries[i] = { term: e.term as Term, index: e.index as LogIndex, type: e.type, data: section(e.data) };
      }
      return {
        type: 'App',
        from,
        to,
        term,
        prevLogIndex: wire.prevLogIndex as LogIndex,
        prevLogTerm: wire.prevLogTerm as Term,
        entries,
        commit: wire.commit as LogIndex,
      };
    }
    case 'AppResp':
      return {
        type: 'AppResp',
        from,
        to,
        term,
        index: wire.index as LogIndex,
        reject: wire.reject,
        rejectHint: wire.rejectHint as LogIndex,
        logTerm: wire.logTerm as Term,
      };
    case 'Heartbeat':
      return {
        type: 'Heartbeat',
        from,
        to,
        term,
        commit: wire.commit as LogIndex,
        context: wire.context === null ? null : section(wire.context),
      };
    case 'HeartbeatResp':
      return { type: 'HeartbeatResp', from, to, term, context: wire.context === null ? null : section(wire.context) };
    case 'Snap':
      return {
        type: 'Snap',
        from,
        to,
        term,
        metadata: {
          index: wire.metadata.index as LogIndex,
          term: wire.metadata.term as Term,
          confState: {
            voters: wire.metadata.confState.voters as NodeId[],
            learners: wire.metadata.confState.learners as NodeId[],
          },
        },
        offsetBytes: wire.offsetBytes,
        data: section(wire.data),
        done: wire.done,
      };
    case 'SnapResp':
      return {
        type: 'SnapResp',
        from,
        to,
        term,
        snapshotIndex: wire.snapshotIndex as LogIndex,
        receivedBytes: wire.receivedBytes,
        reject: wire.reject,
      };
    case 'TimeoutNow':
      return { type: 'TimeoutNow', from, to, term };
    case 'TransferLeader':
      return { type: 'TransferLeader', from, to, term, transferee: wire.transferee as NodeId };
    case 'ReadIndex':
      return { type: 'ReadIndex', from, to, term, context: section(wire.context) };
    case 'ReadIndexResp':
      return { type: 'ReadIndexResp', from, to, term, index: wire.index as LogIndex, context: section(wire.context) };
    case 'Prop':
      return {
        type: 'Prop',
        from,
        to,
        term,
        entries: wire.entries.map((e) => ({ type: e.type, data: section(e.data) })),
      };
  }
}
