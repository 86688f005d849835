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

function toWire(message: Message, ref: (bytes: Uint8Array) => number): RaftWireMessage {
  switch (message.type) {
    case 'App':
      return {
        ...message,
        entries: message.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: ref(e.data) })),
      };
    case 'Prop':
      return { ...message, entries: message.entries.map((e) => ({ type: e.type, data: ref(e.data) })) };
    case 'Heartbeat':
    case 'HeartbeatResp':
      return { ...message, context: message.context === null ? null : ref(message.context) };
    case 'ReadIndex':
    case 'ReadIndexResp':
      return { ...message, context: ref(message.context) };
    case 'Snap': {
      const { index, term, confState } = message.metadata;
      const metadata = { index, term, confState: { voters: [...confState.voters], learners: [...confState.learners] } };
      return { ...message, metadata, data: ref(message.data) };
    }
    default:
      return message;
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

/** The schema checked every range, so the brands are earned here. */
function fromWire(wire: RaftWireMessage, section: (index: number) => Uint8Array): Message {
  const head = { from: wire.from as NodeId, to: wire.to as NodeId, term: wire.term as Term };
  switch (wire.type) {
    case 'Vote':
    case 'PreVote':
      return {
        ...head,
        type: wire.type,
        lastLogIndex: wire.lastLogIndex as LogIndex,
        lastLogTerm: wire.lastLogTerm as Term,
        transfer: wire.transfer,
      };
    case 'VoteResp':
    case 'PreVoteResp':
      return { ...head, type: wire.type, reject: wire.reject };
    case 'App':
      return {
        ...head,
        type: 'App',
        prevLogIndex: wire.prevLogIndex as LogIndex,
        prevLogTerm: wire.prevLogTerm as Term,
        entries: wire.entries.map(
          (e): Entry => ({ term: e.term as Term, index: e.index as LogIndex, type: e.type, data: section(e.data) }),
        ),
        commit: wire.commit as LogIndex,
      };
    case 'AppResp':
      return {
        ...head,
        type: 'AppResp',
        index: wire.index as LogIndex,
        reject: wire.reject,
        rejectHint: wire.rejectHint as LogIndex,
        logTerm: wire.logTerm as Term,
      };
    case 'Heartbeat':
      return {
        ...head,
        type: 'Heartbeat',
        commit: wire.commit as LogIndex,
        context: wire.context === null ? null : section(wire.context),
      };
    case 'HeartbeatResp':
      return { ...head, type: 'HeartbeatResp', context: wire.context === null ? null : section(wire.context) };
    case 'Snap':
      return {
        ...head,
        type: 'Snap',
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
        ...head,
        type: 'SnapResp',
        snapshotIndex: wire.snapshotIndex as LogIndex,
        receivedBytes: wire.receivedBytes,
        reject: wire.reject,
      };
    case 'TimeoutNow':
      return { ...head, type: 'TimeoutNow' };
    case 'TransferLeader':
      return { ...head, type: 'TransferLeader', transferee: wire.transferee as NodeId };
    case 'ReadIndex':
      return { ...head, type: 'ReadIndex', context: section(wire.context) };
    case 'ReadIndexResp':
      return { ...head, type: 'ReadIndexResp', index: wire.index as LogIndex, context: section(wire.context) };
    case 'Prop':
      return { ...head, type: 'Prop', entries: wire.entries.map((e) => ({ type: e.type, data: section(e.data) })) };
  }
}
