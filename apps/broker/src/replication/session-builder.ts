import { type SessionPartitionRequest, sessionKey } from './fetch-sessions.js';

export interface SessionFetchRequest {
  readonly sessionId: number;
  readonly sessionEpoch: number;
  readonly partitions: SessionPartitionRequest[];
  readonly forgotten: { topicId: string; partition: number }[];
}

/**
 * The follower's side of an incremental fetch session (KIP-227), as pure bookkeeping: given the
 * positions it fetches from one leader now, the request to send. The first request (and the first
 * after any failure) opens a session listing everything; later ones list only what changed since
 * the last request and forget what is no longer fetched.
 */
export class FetchSessionBuilder {
  #sessionId = 0;
  #epoch = 0;
  #sent = new Map<string, SessionPartitionRequest>();

  get sessionId(): number {
    return this.#sessionId;
  }

  build(positions: readonly SessionPartitionRequest[]): SessionFetchRequest {
    const current = new Map<string, SessionPartitionRequest>();
    for (const position of positions) current.set(sessionKey(position.topicId, position.partition), position);
    if (this.#sessionId === 0) {
      this.#sent = current;
      return { sessionId: 0, sessionEpoch: 0, partitions: [...current.values()], forgotten: [] };
    }
    const partitions: SessionPartitionRequest[] = [];
    for (const [key, position] of current) {
      const sent = this.#sent.get(key);
      if (sent === undefined || !samePosition(sent, position)) partitions.push(position);
    }
    const forgotten: { topicId: string; partition: number }[] = [];
    for (const [key, sent] of this.#sent) {
      if (!current.has(key)) forgotten.push({ topicId: sent.topicId, partition: sent.partition });
    }
    this.#sent = current;
    return { sessionId: this.#sessionId, sessionEpoch: this.#epoch, partitions, forgotten };
  }

  /** The leader answered the last request; `sessionId` is the id its answer carried. */
  onAnswer(sessionId: number | undefined): void {
    if (sessionId === undefined || sessionId === 0) {
      this.reset();
      return;
    }
    if (this.#sessionId !== sessionId) {
      this.#sessionId = sessionId;
      this.#epoch = 1;
    } else {
      this.#epoch = this.#epoch >= 0x7fff_ffff ? 1 : this.#epoch + 1;
    }
  }

  /** The last request failed, or its answer was lost: the next one opens a new session. */
  reset(): void {
    this.#sessionId = 0;
    this.#epoch = 0;
    this.#sent = new Map();
  }
}

function samePosition(a: SessionPartitionRequest, b: SessionPartitionRequest): boolean {
  return (
    a.fetchOffset === b.fetchOffset &&
    a.currentLeaderEpoch === b.currentLeaderEpoch &&
    a.lastFetchedEpoch === b.lastFetchedEpoch &&
    a.logStartOffset === b.logStartOffset &&
    a.partitionMaxBytes === b.partitionMaxBytes
  );
}
