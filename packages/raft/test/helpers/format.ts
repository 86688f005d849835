import type { Status } from '../../src/raw-node.js';
import type { Entry, Message } from '../../src/types.js';

const decoder = new TextDecoder();

function show(data: Uint8Array): string {
  const s = decoder.decode(data);
  return s.length > 24 ? `${s.slice(0, 24)}…` : s;
}

function ctx(context: Uint8Array | null): string {
  return context === null ? '' : ` ctx=${show(context)}`;
}

/** `term/index` for each entry, with its payload when it has one: `[1/1, 1/2 "x"]`. */
export function formatEntries(entries: readonly Entry[]): string {
  const parts = entries.map((e) => {
    const kind = e.type === 'config' ? ' config' : '';
    const data = e.data.byteLength > 0 ? ` ${JSON.stringify(show(e.data))}` : '';
    return `${e.term}/${e.index}${kind}${data}`;
  });
  return `[${parts.join(', ')}]`;
}

export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case 'Vote':
    case 'PreVote':
      return `${head} last=(${m.lastLogIndex},${m.lastLogTerm})${m.transfer ? ' transfer' : ''}`;
    case 'VoteResp':
    case 'PreVoteResp':
      return `${head}${m.reject ? ' REJECT' : ''}`;
    case 'App':
      return `${head} prev=(${m.prevLogIndex},${m.prevLogTerm}) commit=${m.commit} entries=${formatEntries(m.entries)}`;
    case 'AppResp':
      return m.reject
        ? `${head} index=${m.index} REJECT hint=(${m.rejectHint},${m.logTerm})`
        : `${head} index=${m.index}`;
    case 'Heartbeat':
      return `${head} commit=${m.commit}${ctx(m.context)}`;
    case 'HeartbeatResp':
      return `${head}${ctx(m.context)}`;
    case 'Snap':
      return `${head} snapshot=(${m.metadata.index},${m.metadata.term}) offset=${m.offsetBytes} bytes=${m.data.byteLength}${m.done ? ' done' : ''}`;
    case 'SnapResp':
      return `${head} snapshot=${m.snapshotIndex} received=${m.receivedBytes}${m.reject ? ' REJECT' : ''}`;
    case 'TimeoutNow':
      return head;
    case 'TransferLeader':
      return `${head} transferee=${m.transferee}`;
    case 'ReadIndex':
      return `${head}${ctx(m.context)}`;
    case 'ReadIndexResp':
      return `${head} index=${m.index}${ctx(m.context)}`;
    case 'Prop':
      return `${head} entries=${m.entries.length}`;
  }
}

export function formatStatus(s: Status): string[] {
  const lead = s.lead === 0 ? 'none' : s.lead;
  const lines = [
    `${s.id}: ${s.role} term=${s.term} vote=${s.vote} lead=${lead} commit=${s.commit} applied=${s.applied} log=[${s.firstIndex},${s.lastIndex}]${s.leadTransferee !== 0 ? ` transferee=${s.leadTransferee}` : ''}`,
  ];
  if (s.progress !== undefined) {
    for (const [peer, p] of s.progress) {
      const snap = p.state === 'snapshot' ? ` pendingSnapshot=${p.pendingSnapshot}` : '';
      lines.push(
        `  ${peer}: ${p.state} match=${p.match} next=${p.next}${p.paused ? ' paused' : ''} inflight=${p.inflightMsgs}${snap}`,
      );
    }
  }
  return lines;
}
