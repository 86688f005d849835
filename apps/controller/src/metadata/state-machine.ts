import { MetadataImage } from '@millrace/metadata';
import {
  METADATA_BATCH_RECORDS_MAX,
  type MetadataRecord,
  MetadataRecordSchema,
  type ParsedMetadataRecord,
} from '@millrace/protocol';
import type { LogIndex, Snapshot, StateMachine } from '@millrace/raft';
import { z } from 'zod';

/**
 * The controllers' replicated state machine: each committed Raft entry is one batch of metadata
 * records, applied to the image together (a topic and its partitions appear at once). The entry's
 * Raft index is the metadata offset of every record in it; brokers follow the log by offset.
 *
 * Beside the image it keeps the most recent batches, so the metadata stream can serve a broker
 * that is a little behind record by record; one further behind gets a snapshot of the image.
 */
export interface AppliedBatch {
  readonly offset: number;
  readonly records: readonly ParsedMetadataRecord[];
  /** The same records in their wire form (offsets and ids as strings), checked by the schema: what the stream sends. */
  readonly wire: readonly MetadataRecord[];
}

const EntrySchema = z.array(MetadataRecordSchema).min(1).max(METADATA_BATCH_RECORDS_MAX);
const SnapshotSchema = z.strictObject({ offset: z.int().min(0), records: z.array(MetadataRecordSchema) });

export function encodeRecordBatchEntry(records: readonly MetadataRecord[]): Uint8Array {
  return Buffer.from(JSON.stringify(records), 'utf8');
}

export class MetadataStateMachine implements StateMachine<readonly ParsedMetadataRecord[]> {
  #image = new MetadataImage();
  readonly #history: AppliedBatch[] = [];
  /** Every batch applied after this offset is in #history. */
  #historyStart = -1;
  readonly #historyBatchesMax: number;
  readonly #listeners = new Set<(batch: AppliedBatch) => void>();

  constructor(options: { historyBatchesMax?: number } = {}) {
    this.#historyBatchesMax = options.historyBatchesMax ?? 20_000;
  }

  /** The committed image. Never mutate it: decisions work on a clone. */
  get image(): MetadataImage {
    return this.#image;
  }

  apply(data: Uint8Array, index: LogIndex): readonly ParsedMetadataRecord[] {
    // The active controller checked these records when it proposed them; a batch that fails here is a bug or
    // corruption, and throwing stops this node rather than let it serve a different image from its peers.
    const wire = JSON.parse(Buffer.from(data).toString('utf8')) as MetadataRecord[];
    const records = EntrySchema.parse(wire);
    const next = this.#image.clone();
    for (const record of records) next.apply(index, record);
    this.#image = next;
    const batch: AppliedBatch = { offset: index, records, wire };
    this.#history.push(batch);
    if (this.#history.length > this.#historyBatchesMax) {
      const dropped = this.#history.splice(0, this.#history.length - this.#historyBatchesMax);
      this.#historyStart = (dropped[dropped.length - 1] as AppliedBatch).offset;
    }
    for (const listener of this.#listeners) listener(batch);
    return records;
  }

  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify({ offset: this.#image.offset, records: this.#image.toRecords() }), 'utf8');
  }

  restore(snapshot: Snapshot): void {
    const parsed = SnapshotSchema.parse(JSON.parse(Buffer.from(snapshot.data).toString('utf8')));
    this.#image = MetadataImage.fromSnapshot(snapshot.metadata.index, parsed.records);
    this.#history.length = 0;
    this.#historyStart = snapshot.metadata.index;
  }

  /**
   * The batches after `offset`, oldest first, or undefined when they are no longer all held (the
   * reader then needs a snapshot). An empty array means the reader is up to date.
   */
  batchesAfter(offset: number): AppliedBatch[] | undefined {
    if (offset < this.#historyStart) return undefined;
    let lo = 0;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#history[mid] as AppliedBatch).offset <= offset) lo = mid + 1;
      else hi = mid;
    }
    return this.#history.slice(lo);
  }

  /** Calls `listener` with every batch applied from now on; returns the function that stops it. */
  onApply(listener: (batch: AppliedBatch) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
