import type { MillraceError, RecordInput } from '@millrace/protocol';

/**
 * What one `send` call is waiting for: the outcome of each of its records, wherever they went.
 * One per call, not a promise per record: at hundreds of thousands of records a second the
 * per-record promises and closures were the producer's largest cost after the encoder.
 */
export interface SendOutcome {
  /** Record `index` of the call was written at `offset` (-1n with acks=0). */
  written(index: number, topic: string, partition: number, offset: bigint, timestamp: number): void;
  /** A record of the call failed: the call rejects with the first such error. */
  failed(error: MillraceError): void;
}

/** A batch of records for one partition, from its first record to its acknowledgement. */
export interface PendingBatch {
  /** Creation order within the partition: batches are sent, retried and acknowledged in this order. */
  readonly order: number;
  readonly records: RecordInput[];
  /** For record i of the batch: the send call it came from, and its index in that call. */
  readonly outcomes: SendOutcome[];
  readonly indexes: number[];
  /** The estimate of its encoded size that the producer's buffer counts. */
  bytes: number;
  readonly createdAt: number;
  /** `deliveryTimeoutMs` after creation: not retried after this. */
  readonly deadline: number;
  /** Encoded on first send and sent unchanged on every retry, so a retry is a true duplicate. */
  encoded: Buffer | undefined;
  /** -1 until the first send when idempotent (and always for a plain producer). */
  baseSequence: number;
  attempts: number;
  lastError: MillraceError | undefined;
  /** The leader epoch the batch was last sent in (-1 before its first send). */
  sentLeaderEpoch: number;
  /** Resolves once the batch is acknowledged or failed for good (what `flush` waits for). */
  readonly settled: Promise<void>;
  /** Resolves `settled`; called once, by whoever settles the batch's deliveries. */
  readonly markSettled: () => void;
}

/**
 * The batches of one partition and the ordering rules that make an idempotent producer keep order
 * with several batches in flight (as Kafka's `max.in.flight.requests.per.connection` up to 5):
 * - batches get their sequence numbers when first sent, in creation order, and keep them;
 * - at most `maxInFlight` batches are in flight;
 * - a batch that failed and is sent again goes alone (nothing else of the partition in flight),
 *   so the broker sees the sequences in order again;
 * - a batch that fails is put back in its place, before every batch created after it.
 * Pure: time is an argument.
 */
export class PartitionQueue {
  readonly topic: string;
  readonly partition: number;
  /** The batch still taking records. */
  open: PendingBatch | undefined;
  /** Closed batches waiting to be sent (again), in creation order. */
  readonly ready: PendingBatch[] = [];
  /** Sent batches without an answer yet, in the order sent. */
  readonly inFlight: PendingBatch[] = [];
  /** No batch of this partition is sent before this time (a retry's backoff). */
  retryAt = 0;
  /**
   * While backing off because the leader failed: the leader epoch it failed in. A newer leader
   * in the metadata ends the backoff at once (the partition's writes resume with the election,
   * not at the next step of the backoff).
   */
  failedLeaderEpoch: number | undefined;
  /** The next sequence number to give (idempotent producer). */
  nextSequence = 0;
  #nextOrder = 0;

  constructor(topic: string, partition: number) {
    this.topic = topic;
    this.partition = partition;
  }

  newBatch(now: number, deliveryTimeoutMs: number): PendingBatch {
    let markSettled = () => {};
    const settled = new Promise<void>((resolve) => {
      markSettled = resolve;
    });
    return {
      settled,
      markSettled,
      order: this.#nextOrder++,
      records: [],
      outcomes: [],
      indexes: [],
      bytes: 0,
      createdAt: now,
      deadline: now + deliveryTimeoutMs,
      encoded: undefined,
      baseSequence: -1,
      attempts: 0,
      lastError: undefined,
      sentLeaderEpoch: -1,
    };
  }

  /** Closes the open batch: it becomes ready to send. */
  close(): PendingBatch | undefined {
    const batch = this.open;
    if (batch === undefined) return undefined;
    this.open = undefined;
    this.ready.push(batch);
    return batch;
  }

  /** The batch to send next, if the rules allow one now. */
  sendable(now: number, maxInFlight: number): PendingBatch | undefined {
    const head = this.ready[0];
    if (head === undefined || now < this.retryAt || this.inFlight.length >= maxInFlight) return undefined;
    if (head.attempts > 0 && this.inFlight.length > 0) return undefined;
    return head;
  }

  /** `batch` (the head of `ready`) goes out; idempotent batches get their sequence on the first send. */
  sent(batch: PendingBatch, idempotent: boolean): void {
    const head = this.ready.shift();
    if (head !== batch) throw new Error(`${this.topic}-${this.partition}: sent a batch that was not the next`);
    if (idempotent && batch.baseSequence < 0) {
      batch.baseSequence = this.nextSequence;
      this.nextSequence = (this.nextSequence + batch.records.length) % 0x80000000;
    }
    batch.attempts++;
    this.inFlight.push(batch);
  }

  /** The batch's answer came: it leaves the in-flight list. */
  answered(batch: PendingBatch): void {
    const at = this.inFlight.indexOf(batch);
    if (at < 0) throw new Error(`${this.topic}-${this.partition}: an answer for a batch not in flight`);
    this.inFlight.splice(at, 1);
  }

  /**
   * A failed batch goes back in its place to be sent again no sooner than `retryAt`, or, when it
   * failed because of its leader (`failedLeaderEpoch`), as soon as a newer leader is known.
   */
  requeue(batch: PendingBatch, retryAt: number, failedLeaderEpoch?: number): void {
    let at = 0;
    while (at < this.ready.length && (this.ready[at] as PendingBatch).order < batch.order) at++;
    this.ready.splice(at, 0, batch);
    this.retryAt = Math.max(this.retryAt, retryAt);
    if (failedLeaderEpoch !== undefined)
      this.failedLeaderEpoch = Math.max(this.failedLeaderEpoch ?? -1, failedLeaderEpoch);
  }

  /** Whether a batch created before `batch` is still unacknowledged (queued or in flight). */
  hasEarlierUnacknowledged(batch: PendingBatch): boolean {
    return (
      this.ready.some((other) => other.order < batch.order) || this.inFlight.some((other) => other.order < batch.order)
    );
  }

  /** Nothing open, ready or in flight. */
  get idle(): boolean {
    return this.open === undefined && this.ready.length === 0 && this.inFlight.length === 0;
  }
}
