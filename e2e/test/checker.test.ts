import { describe, expect, it } from 'vitest';
import { type AckedRecord, check, formatReport, type LogRecord, type RecordId } from '../src/checker.js';
import { ackedEnds, decodeRecordId, encodeRecordId } from '../src/load.js';

// The checker on handwritten logs: each case plants one kind of fault and expects exactly that
// report, by offset; a clean log must pass.

const id = (seq: number, stream = 's'): RecordId => ({ stream, seq });
const ack = (offset: number, seq: number, partition = 0, stream = 's'): AckedRecord => ({
  topic: 't',
  partition,
  offset: BigInt(offset),
  id: id(seq, stream),
});
const at = (offset: number, seq: number | null, partition = 0, stream = 's'): LogRecord => ({
  topic: 't',
  partition,
  offset: BigInt(offset),
  id: seq === null ? null : id(seq, stream),
});

describe('the checker', () => {
  it('passes a log that holds every acknowledged record at its offset, once, in order', () => {
    const acked = [ack(0, 0), ack(1, 2), ack(0, 1, 1), ack(2, 4)];
    // Log records in any order; seq 3 was written but its acknowledgement was lost: allowed.
    const log = [at(2, 4), at(0, 0), at(1, 2), at(0, 1, 1), at(1, 3, 1)];
    const report = check(acked, log);
    expect(report).toEqual({ ok: true, acknowledged: 4, read: 5, unacknowledgedInLog: 1, foreign: 0, problems: [] });
    expect(formatReport(report)).toMatch(/^OK: 4 acknowledged, 5 read, 1 unacknowledged in the log, 0 foreign/);
  });

  it('reports a record acknowledged but absent as lost, with what the log holds at its offset', () => {
    const report = check([ack(0, 0), ack(1, 1), ack(2, 2)], [at(0, 0), at(1, null)]);
    expect(report.ok).toBe(false);
    expect(report.foreign).toBe(1);
    expect(report.problems).toEqual([
      { kind: 'lost', topic: 't', partition: 0, offset: 1n, id: id(1), found: null },
      { kind: 'lost', topic: 't', partition: 0, offset: 2n, id: id(2), found: 'nothing' },
    ]);
    expect(formatReport(report).split('\n').slice(1)).toEqual([
      't-0@1 lost: s/1 acknowledged here, not in the log (the log has a foreign record here)',
      't-0@2 lost: s/2 acknowledged here, not in the log (the log has nothing here)',
    ]);
  });

  it('reports a record acknowledged at X but held elsewhere as moved, and what took its place', () => {
    // Offset 1 was rewritten after the acknowledgement (a divergent leader): s/1 slid to 2.
    const report = check([ack(0, 0), ack(1, 1)], [at(0, 0), at(1, 5, 0, 'x'), at(2, 1)]);
    expect(report.problems).toEqual([
      { kind: 'moved', topic: 't', partition: 0, offset: 1n, id: id(1), foundAt: [2n], found: id(5, 'x') },
    ]);
    expect(formatReport(report)).toContain(
      't-0@1 moved: s/1 acknowledged here, in the log at 2 (the log has x/5 here)',
    );
  });

  it('reports a record written twice as duplicated at each offset, acknowledged or not', () => {
    const report = check([ack(0, 0), ack(1, 1)], [at(0, 0), at(1, 1), at(2, 1), at(3, 2), at(4, 0)]);
    expect(report.problems).toEqual([
      { kind: 'duplicated', topic: 't', partition: 0, offset: 0n, id: id(0), offsets: [0n, 4n] },
      { kind: 'duplicated', topic: 't', partition: 0, offset: 1n, id: id(1), offsets: [1n, 2n] },
    ]);
    expect(formatReport(report)).toContain('t-0@1 duplicated: s/1 at 1, 2');
  });

  it('reports records of a stream out of send order as reordered, and not records of two streams interleaved', () => {
    const acked = [ack(0, 0), ack(1, 2), ack(2, 1), ack(3, 3)];
    const log = [at(0, 0), at(1, 2), at(2, 1), at(3, 3), at(4, 0, 0, 'other'), at(5, 7), at(6, 1, 0, 'other')];
    const report = check(acked, log);
    expect(report.problems).toEqual([
      {
        kind: 'reordered',
        topic: 't',
        partition: 0,
        offset: 2n,
        id: id(1),
        after: { offset: 1n, id: id(2) },
      },
    ]);
    expect(formatReport(report)).toContain('t-0@2 reordered: s/1 after s/2 at 1');
  });

  it('compares order within a partition only', () => {
    // Partition 1 holds seq 5 before partition 0 holds seq 2: different partitions, no order between them.
    const report = check([ack(0, 5, 1), ack(0, 2)], [at(0, 5, 1), at(0, 2)]);
    expect(report.ok).toBe(true);
  });

  it('reports two records acknowledged at the same offset as conflicting, and the one missing as lost', () => {
    const report = check([ack(0, 0), ack(0, 1)], [at(0, 0)]);
    expect(report.problems).toEqual([
      { kind: 'lost', topic: 't', partition: 0, offset: 0n, id: id(1), found: id(0) },
      { kind: 'conflicting-acks', topic: 't', partition: 0, offset: 0n, ids: [id(0), id(1)] },
    ]);
  });

  it('reports skipped offsets as a gap', () => {
    const report = check([ack(0, 0), ack(3, 1)], [at(0, 0), at(3, 1)]);
    expect(report.problems).toEqual([{ kind: 'gap', topic: 't', partition: 0, offset: 0n, next: 3n }]);
    expect(formatReport(report)).toContain('t-0@0 gap: the next offset in the log is 3');
  });

  it('sorts problems by partition and offset, and caps the printed list', () => {
    const acked = Array.from({ length: 60 }, (_, i) => ack(i, i, i % 2));
    const report = check(acked, []);
    expect(report.problems).toHaveLength(60);
    expect(report.problems.slice(0, 2).map((p) => [p.partition, p.offset])).toEqual([
      [0, 0n],
      [0, 2n],
    ]);
    const text = formatReport(report, 10);
    expect(text.split('\n')).toHaveLength(12);
    expect(text).toMatch(/^FAILED: 60 acknowledged, 0 read.*60 lost/);
    expect(text).toMatch(/… and 50 more$/);
  });

  it('refuses a read that holds the same offset twice (a bug in the reader, not in the log)', () => {
    expect(() => check([], [at(0, 0), at(0, 1)])).toThrow(/offset 0 of t-0 twice/);
  });
});

describe('record identities and acknowledged ends', () => {
  it('round-trips an identity through a value and refuses values it did not write', () => {
    const value = Buffer.from(encodeRecordId({ stream: 'a1b2', seq: 42 }));
    expect(decodeRecordId(value)).toEqual({ stream: 'a1b2', seq: 42 });
    expect(decodeRecordId(null)).toBeNull();
    expect(decodeRecordId(Buffer.from('hello'))).toBeNull();
    expect(decodeRecordId(Buffer.from('a/01'))).toBeNull();
  });

  it('gives each partition the end that covers its largest acknowledged offset', () => {
    expect(ackedEnds([ack(4, 0), ack(2, 1), ack(0, 2, 3)])).toEqual(
      new Map([
        [0, 5n],
        [3, 1n],
      ]),
    );
  });
});
