import { MillraceError, type RecordBatchHeader } from '@millrace/protocol';

/**
 * What a partition remembers of each idempotent producer, so that its leader refuses duplicates
 * and gaps (Kafka's ProducerStateManager, without transactions):
 * - the producer's epoch: a batch of an older epoch is INVALID_PRODUCER_EPOCH; a newer epoch
 *   restarts the sequence at 0;
 * - the last `CACHED_BATCHES` batches' sequence ranges and offsets: a batch sent again (its answer
 *   was lost) is recognised and answered with the offsets it got the first time, without being
 *   written again;
 * - the last sequence: a batch that does not continue it is OUT_OF_ORDER_SEQUENCE_NUMBER.
 *
 * Leaders check before they append (`check`) and every replica records what it appended
 * (`record`), so a follower that becomes leader refuses what its predecessor would have. The
 * table is rebuilt from the log's tail after a restart and after truncation; a producer it does
 * not know (its batches are older than that tail, or were removed) may start at any sequence, as
 * in Kafka once a producer's state has expired. Pure: no I/O, no clock.
 */
export const CACHED_BATCHES = 5;

export interface ProducerBatch {
  readonly firstSequence: number;
  readonly lastSequence: number;
  readonly baseOffset: bigint;
  readonly lastOffset: bigint;
  /** The batch's max timestamp as written (its log append time, for such topics). */
  readonly maxTimestamp: number;
}

export interface ProducerEntry {
  readonly producerId: bigint;
  readonly epoch: number;
  /** Oldest first, at most CACHED_BATCHES. */
  readonly batches: readonly ProducerBatch[];
}

export type SequenceCheck =
  | { readonly kind: 'append' }
  /** The same batch was written before: answer with where it went. */
  | { readonly kind: 'duplicate'; readonly batch: ProducerBatch };

const SEQUENCE_MODULUS = 0x80000000;

function lastSequenceOf(header: RecordBatchHeader): number {
  return (header.baseSequence + header.lastOffsetDelta) % SEQUENCE_MODULUS;
}

function follows(next: number, last: number): boolean {
  return next === (last + 1) % SEQUENCE_MODULUS;
}

export function isIdempotent(header: RecordBatchHeader): boolean {
  return header.producerId >= 0n;
}

export class ProducerStateTable {
  readonly #entries = new Map<bigint, ProducerEntry>();
  readonly #name: string;

  constructor(name: string) {
    this.#name = name;
  }

  get size(): number {
    return this.#entries.size;
  }

  entry(producerId: bigint): ProducerEntry | undefined {
    return this.#entries.get(producerId);
  }

  /**
   * Whether a producer's batch may be appended, is a duplicate of one written, or is refused
   * (the typed errors above). Batches without a producer id always append. Changes nothing.
   */
  check(header: RecordBatchHeader): SequenceCheck {
    if (!isIdempotent(header)) return { kind: 'append' };
    if (header.baseSequence < 0) {
      throw new MillraceError(
        'INVALID_RECORD',
        `${this.#name}: a batch of producer ${header.producerId} has no sequence number (${header.baseSequence}).`,
      );
    }
    const entry = this.#entries.get(header.producerId);
    if (entry === undefined) return { kind: 'append' };
    const where = `${this.#name}: producer ${header.producerId}`;
    if (header.producerEpoch < entry.epoch) {
      throw new MillraceError(
        'INVALID_PRODUCER_EPOCH',
        `${where} sent epoch ${header.producerEpoch}, older than its current epoch ${entry.epoch}.`,
        { details: { producerEpoch: header.producerEpoch, currentEpoch: entry.epoch } },
      );
    }
    if (header.producerEpoch > entry.epoch) {
      if (header.baseSequence !== 0) {
        throw new MillraceError(
          'OUT_OF_ORDER_SEQUENCE_NUMBER',
          `${where} starts epoch ${header.producerEpoch} at sequence ${header.baseSequence}; a new epoch starts at 0.`,
          { details: { baseSequence: header.baseSequence, expectedSequence: 0 } },
        );
      }
      return { kind: 'append' };
    }
    const last = lastSequenceOf(header);
    const duplicate = entry.batches.find((b) => b.firstSequence === header.baseSequence && b.lastSequence === last);
    if (duplicate !== undefined) return { kind: 'duplicate', batch: duplicate };
    const latest = entry.batches.at(-1);
    if (latest !== undefined && !follows(header.baseSequence, latest.lastSequence)) {
      const expected = (latest.lastSequence + 1) % SEQUENCE_MODULUS;
      throw new MillraceError(
        'OUT_OF_ORDER_SEQUENCE_NUMBER',
        `${where} sent sequence ${header.baseSequence} in epoch ${entry.epoch}; the next expected is ${expected}.`,
        { details: { baseSequence: header.baseSequence, expectedSequence: expected } },
      );
    }
    return { kind: 'append' };
  }

  /** Records a batch appended at `baseOffset` (by a leader, a follower, or recovery reading the log). */
  record(header: RecordBatchHeader, baseOffset: bigint): void {
    if (!isIdempotent(header) || header.baseSequence < 0) return;
    const entry = this.#entries.get(header.producerId);
    const batch: ProducerBatch = {
      firstSequence: header.baseSequence,
      lastSequence: lastSequenceOf(header),
      baseOffset,
      lastOffset: baseOffset + BigInt(header.lastOffsetDelta),
      maxTimestamp: header.maxTimestamp,
    };
    const kept =
      entry === undefined || header.producerEpoch > entry.epoch ? [] : entry.batches.slice(-(CACHED_BATCHES - 1));
    this.#entries.set(header.producerId, {
      producerId: header.producerId,
      epoch: Math.max(header.producerEpoch, entry?.epoch ?? header.producerEpoch),
      batches: [...kept, batch],
    });
  }

  /**
   * Forgets what a truncation removed: batches at or after `offset`. A producer left with none of
   * its cached batches is forgotten whole (its earlier sequence is unknown), so its next batch is
   * accepted at any sequence.
   */
  truncateFrom(offset: bigint): void {
    for (const [producerId, entry] of this.#entries) {
      const batches = entry.batches.filter((b) => b.lastOffset < offset);
      if (batches.length === entry.batches.length) continue;
      if (batches.length === 0) this.#entries.delete(producerId);
      else this.#entries.set(producerId, { ...entry, batches });
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}
