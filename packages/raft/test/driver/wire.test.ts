import { encodeFrame, isMillraceError } from '@millrace/protocol';
import { describe, expect, it } from 'vitest';
import { decodeRaftFrame, encodeRaftFrame } from '../../src/driver/wire.js';
import type { LogIndex, Message, NodeId, Term } from '../../src/index.js';

const n = (x: number) => x as NodeId;
const t = (x: number) => x as Term;
const i = (x: number) => x as LogIndex;
const bytes = (text: string) => new Uint8Array(Buffer.from(text));
const head = { from: n(1), to: n(2), term: t(5) };
const expectations = { clusterId: 'c1', to: n(2), peers: new Set([1, 2, 3]) };

const every: Message[] = [
  { ...head, type: 'Vote', lastLogIndex: i(10), lastLogTerm: t(4), transfer: false },
  { ...head, type: 'PreVote', lastLogIndex: i(10), lastLogTerm: t(4), transfer: true },
  { ...head, type: 'VoteResp', reject: false },
  { ...head, type: 'PreVoteResp', reject: true },
  {
    ...head,
    type: 'App',
    prevLogIndex: i(9),
    prevLogTerm: t(4),
    commit: i(8),
    entries: [
      { term: t(5), index: i(10), type: 'normal', data: bytes('first') },
      { term: t(5), index: i(11), type: 'config', data: new Uint8Array(0) },
    ],
  },
  { ...head, type: 'AppResp', index: i(11), reject: true, rejectHint: i(7), logTerm: t(3) },
  { ...head, type: 'Heartbeat', commit: i(8), context: null },
  { ...head, type: 'Heartbeat', commit: i(8), context: bytes('read-1') },
  { ...head, type: 'HeartbeatResp', context: bytes('read-1') },
  {
    ...head,
    type: 'Snap',
    metadata: { index: i(100), term: t(4), confState: { voters: [n(1), n(2), n(3)], learners: [] } },
    offsetBytes: 4096,
    data: bytes('chunk'),
    done: false,
  },
  { ...head, type: 'SnapResp', snapshotIndex: i(100), receivedBytes: 8192, reject: false },
  { ...head, type: 'TimeoutNow' },
  { ...head, term: t(0), type: 'TransferLeader', transferee: n(3) },
  { ...head, term: t(0), type: 'ReadIndex', context: bytes('ctx') },
  { ...head, type: 'ReadIndexResp', index: i(12), context: bytes('ctx') },
  { ...head, term: t(0), type: 'Prop', entries: [{ type: 'normal', data: bytes('proposal') }] },
];

function refusal(body: Buffer, expect = expectations): string {
  try {
    decodeRaftFrame(body, expect);
  } catch (error) {
    if (isMillraceError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
  return 'accepted';
}

describe('raft wire format', () => {
  it('round-trips every message type, payloads as raw sections', () => {
    const body = encodeRaftFrame('c1', n(1), every);
    expect(body.includes(Buffer.from('"first"'))).toBe(false);
    const decoded = decodeRaftFrame(body, expectations);
    expect(decoded.from).toBe(1);
    expect(decoded.messages).toEqual(every);
  });

  it('copies payloads out of the request body', () => {
    const body = encodeRaftFrame('c1', n(1), [every[4]!]);
    const decoded = decodeRaftFrame(body, expectations);
    const entry = (decoded.messages[0] as Extract<Message, { type: 'App' }>).entries[0]!;
    expect(entry.data.buffer).not.toBe(body.buffer);
  });

  it('refuses a frame from another cluster, a stranger, or for another node', () => {
    const body = encodeRaftFrame('c1', n(1), [every[0]!]);
    expect(refusal(body, { ...expectations, clusterId: 'c2' })).toMatch(/^INCONSISTENT_CLUSTER_ID: .*"c1", not "c2"/);
    expect(refusal(body, { ...expectations, peers: new Set([2, 3]) })).toMatch(/node 1, which is not a peer of node 2/);
    expect(refusal(body, { ...expectations, to: n(3) })).toMatch(/is from 1 to 2; the frame is from 1 to 3/);
    const spoofed = encodeRaftFrame('c1', n(3), [every[0]!]);
    expect(refusal(spoofed)).toMatch(/is from 1 to 2; the frame is from 3 to 2/);
  });

  it('refuses malformed headers and section references, naming the field', () => {
    const frame = (header: object, sections: Uint8Array[] = []) => encodeFrame(header, sections);
    const vote = { from: 1, to: 2, term: 5, type: 'Vote', lastLogIndex: 1, lastLogTerm: 1, transfer: false };
    const cases: [Buffer, RegExp][] = [
      [frame({ clusterId: 'c1', from: 1, messages: [] }), /raft frame\.messages/],
      [frame({ clusterId: 'c1', from: 1, messages: [{ ...vote, term: -1 }] }), /raft frame\.messages\[0\]\.term/],
      [frame({ clusterId: 'c1', from: 1, messages: [{ ...vote, term: 1.5 }] }), /raft frame\.messages\[0\]\.term/],
      [frame({ clusterId: 'c1', from: 1, messages: [{ ...vote, type: 'Nope' }] }), /raft frame\.messages\[0\]\.type/],
      [frame({ clusterId: 'c1', from: 1, messages: [{ ...vote, extra: 1 }] }), /extra/],
      [frame({ clusterId: 'c1', from: 0, messages: [vote] }), /raft frame\.from/],
      [
        frame({ clusterId: 'c1', from: 1, messages: [{ from: 1, to: 2, term: 0, type: 'ReadIndex', context: 3 }] }),
        /section 3, which is missing/,
      ],
      [
        frame({ clusterId: 'c1', from: 1, messages: [{ from: 1, to: 2, term: 0, type: 'ReadIndex', context: 0 }] }, [
          bytes('a'),
          bytes('b'),
        ]),
        /1 sections no message refers to/,
      ],
      [
        frame(
          {
            clusterId: 'c1',
            from: 1,
            messages: [
              { from: 1, to: 2, term: 0, type: 'ReadIndex', context: 0 },
              { from: 1, to: 2, term: 0, type: 'ReadIndex', context: 0 },
            ],
          },
          [bytes('a')],
        ),
        /section 0, which is missing or used twice/,
      ],
      [Buffer.from('not a frame at all'), /Malformed frame/],
    ];
    for (const [body, message] of cases) {
      const outcome = refusal(body);
      expect(outcome).toMatch(/^INVALID_REQUEST: /);
      expect(outcome).toMatch(message);
    }
  });
});
