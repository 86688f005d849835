import { encodeRecordBatch, isMillraceError, readRecordBatchHeader } from '@millrace/protocol';
import { describe, expect, it } from 'vitest';
import { CACHED_BATCHES, ProducerStateTable } from '../../src/producers/producer-state.js';

/** The header of a batch of `count` records from producer `id` in `epoch`, starting at `sequence`. */
function batch(id: bigint, epoch: number, sequence: number, count = 1) {
  return readRecordBatchHeader(
    encodeRecordBatch({
      records: Array.from({ length: count }, (_, i) => ({ value: `r${i}` })),
      producerId: id,
      producerEpoch: epoch,
      baseSequence: sequence,
      now: 1_000,
    }),
  );
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isMillraceError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('ProducerStateTable', () => {
  it('accepts a producer’s batches in sequence and remembers where they went', () => {
    const table = new ProducerStateTable('orders-0');
    let offset = 0n;
    for (let sequence = 0; sequence < 30; sequence += 3) {
      const header = batch(7n, 0, sequence, 3);
      expect(table.check(header)).toEqual({ kind: 'append' });
      table.record(header, offset);
      offset += 3n;
    }
    expect(table.entry(7n)?.batches).toHaveLength(CACHED_BATCHES);
    expect(table.entry(7n)?.batches.at(-1)).toMatchObject({ firstSequence: 27, lastSequence: 29, baseOffset: 27n });
  });

  it('a retry of one of the last five batches is a duplicate, answered with its first offsets', () => {
    const table = new ProducerStateTable('orders-0');
    for (let i = 0; i < 6; i++) table.record(batch(7n, 0, i * 2, 2), 100n + BigInt(i * 2));
    const again = table.check(batch(7n, 0, 6, 2));
    expect(again).toEqual({
      kind: 'duplicate',
      batch: { firstSequence: 6, lastSequence: 7, baseOffset: 106n, lastOffset: 107n, maxTimestamp: 1_000 },
    });
    // The first batch is no longer cached: sent again, it is out of order, not silently rewritten.
    expect(refusal(() => table.check(batch(7n, 0, 0, 2)))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
  });

  it('a gap, or a batch that overlaps the last one without matching it, is OUT_OF_ORDER_SEQUENCE_NUMBER', () => {
    const table = new ProducerStateTable('orders-0');
    table.record(batch(7n, 0, 0, 5), 0n);
    expect(refusal(() => table.check(batch(7n, 0, 6)))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(refusal(() => table.check(batch(7n, 0, 3, 5)))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(table.check(batch(7n, 0, 5))).toEqual({ kind: 'append' });
  });

  it('an older epoch is INVALID_PRODUCER_EPOCH; a newer one must start at sequence 0', () => {
    const table = new ProducerStateTable('orders-0');
    table.record(batch(7n, 3, 0, 10), 0n);
    expect(refusal(() => table.check(batch(7n, 2, 10)))).toBe('INVALID_PRODUCER_EPOCH');
    expect(refusal(() => table.check(batch(7n, 4, 10)))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(table.check(batch(7n, 4, 0))).toEqual({ kind: 'append' });
    table.record(batch(7n, 4, 0), 10n);
    expect(table.entry(7n)).toMatchObject({ epoch: 4, batches: [{ firstSequence: 0, baseOffset: 10n }] });
  });

  it('a producer it does not know may start anywhere; producers are independent; plain batches always append', () => {
    const table = new ProducerStateTable('orders-0');
    expect(table.check(batch(9n, 0, 1234))).toEqual({ kind: 'append' });
    table.record(batch(9n, 0, 1234), 0n);
    table.record(batch(8n, 0, 0), 1n);
    expect(table.check(batch(8n, 0, 1))).toEqual({ kind: 'append' });
    expect(table.check(batch(9n, 0, 1235))).toEqual({ kind: 'append' });
    expect(table.check(batch(-1n, -1, -1))).toEqual({ kind: 'append' });
    table.record(batch(-1n, -1, -1), 2n);
    expect(table.size).toBe(2);
  });

  it('a sequence wraps from 2^31-1 to 0', () => {
    const table = new ProducerStateTable('orders-0');
    table.record(batch(7n, 0, 0x7ffffffe, 2), 0n);
    expect(table.entry(7n)?.batches[0]?.lastSequence).toBe(0x7fffffff);
    expect(table.check(batch(7n, 0, 0))).toEqual({ kind: 'append' });
  });

  it('truncation forgets the removed batches, and a producer with none left entirely', () => {
    const table = new ProducerStateTable('orders-0');
    table.record(batch(7n, 0, 0), 0n);
    table.record(batch(7n, 0, 1), 1n);
    table.record(batch(8n, 0, 0), 2n);
    table.truncateFrom(1n);
    expect(table.entry(7n)?.batches.map((b) => b.baseOffset)).toEqual([0n]);
    expect(table.entry(8n)).toBeUndefined();
    // After the truncation, producer 7's second batch is welcome again (it was never acknowledged).
    expect(table.check(batch(7n, 0, 1))).toEqual({ kind: 'append' });
  });

  it('a batch of a producer without a sequence number is INVALID_RECORD', () => {
    const table = new ProducerStateTable('orders-0');
    expect(refusal(() => table.check(batch(7n, 0, -1)))).toBe('INVALID_RECORD');
  });
});
