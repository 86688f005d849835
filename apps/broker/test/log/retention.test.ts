import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BatchSummary, decideRetention } from '../../src/log/retention.js';

/** Batches of `size` bytes holding `records` offsets each, with the given max timestamps. */
function batches(timestamps: readonly number[], size = 100, records = 2): BatchSummary[] {
  return timestamps.map((maxTimestampMs, i) => ({
    baseOffset: BigInt(i * records),
    lastOffset: BigInt(i * records + records - 1),
    maxTimestampMs,
    sizeInBytes: size,
  }));
}

const base = { nowMs: 10_000, retentionMs: -1, retentionBytes: -1, highWatermark: 1000n };

describe('retention (pure)', () => {
  it('-1 and -1 keep everything', () => {
    const b = batches([1, 2, 3]);
    expect(decideRetention({ ...base, batches: b, logSizeBytes: 300 })).toEqual({
      batches: 0,
      bytes: 0,
      logStartOffset: undefined,
      exhausted: false,
    });
  });

  it('retention.ms: batches whose newest record is older than the limit go, oldest first', () => {
    const b = batches([1_000, 2_000, 9_000, 9_500]);
    const decision = decideRetention({ ...base, batches: b, logSizeBytes: 400, retentionMs: 5_000 });
    expect(decision).toEqual({ batches: 2, bytes: 200, logStartOffset: 4n, exhausted: false });
    // Exactly at the limit stays (Kafka deletes when the age is strictly greater).
    expect(decideRetention({ ...base, batches: b, logSizeBytes: 400, retentionMs: 9_000 }).batches).toBe(0);
  });

  it('only a prefix goes: a young batch keeps the older ones behind it', () => {
    const b = batches([1_000, 9_999, 1_000]);
    expect(decideRetention({ ...base, batches: b, logSizeBytes: 300, retentionMs: 5_000 }).batches).toBe(1);
  });

  it('retention.bytes: the log keeps at least retention.bytes, at most that plus one batch', () => {
    const b = batches([1, 2, 3, 4, 5]);
    const at = (retentionBytes: number) =>
      decideRetention({ ...base, batches: b, logSizeBytes: 500, retentionBytes }).batches;
    expect(at(500)).toBe(0);
    expect(at(450)).toBe(0);
    expect(at(400)).toBe(1);
    expect(at(250)).toBe(2);
    expect(at(0)).toBe(5);
  });

  it('never at or past the high watermark', () => {
    const b = batches([1, 2, 3, 4]);
    const decision = decideRetention({ ...base, batches: b, logSizeBytes: 400, retentionMs: 0, highWatermark: 5n });
    expect(decision).toMatchObject({ batches: 2, logStartOffset: 4n });
  });

  it('says when every given batch goes, so the caller reads on', () => {
    const b = batches([1, 2]);
    expect(decideRetention({ ...base, batches: b, logSizeBytes: 900, retentionMs: 0 }).exhausted).toBe(true);
    expect(decideRetention({ ...base, batches: [], logSizeBytes: 0, retentionMs: 0 }).exhausted).toBe(false);
  });

  it('agrees with a brute-force rule: the longest prefix of batches below the high watermark that break a rule', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ ts: fc.integer({ min: 0, max: 100 }), size: fc.integer({ min: 1, max: 50 }) }), {
          maxLength: 12,
        }),
        fc.integer({ min: -1, max: 120 }),
        fc.integer({ min: -1, max: 400 }),
        fc.integer({ min: 0, max: 30 }),
        (spec, retentionMs, retentionBytes, hw) => {
          const b: BatchSummary[] = spec.map((s, i) => ({
            baseOffset: BigInt(2 * i),
            lastOffset: BigInt(2 * i + 1),
            maxTimestampMs: s.ts,
            sizeInBytes: s.size,
          }));
          const total = spec.reduce((sum, s) => sum + s.size, 0);
          const decision = decideRetention({
            batches: b,
            logSizeBytes: total,
            nowMs: 100,
            retentionMs,
            retentionBytes,
            highWatermark: BigInt(hw),
          });
          let expected = 0;
          for (let n = 1; n <= b.length; n++) {
            const batch = b[n - 1]!;
            const kept = b.slice(n).reduce((sum, x) => sum + x.sizeInBytes, 0);
            const breaks =
              (retentionMs >= 0 && 100 - batch.maxTimestampMs > retentionMs) ||
              (retentionBytes >= 0 && kept >= retentionBytes);
            if (batch.lastOffset >= BigInt(hw) || !breaks) break;
            expected = n;
          }
          expect(decision.batches).toBe(expected);
          expect(decision.bytes).toBe(b.slice(0, expected).reduce((sum, x) => sum + x.sizeInBytes, 0));
        },
      ),
    );
  });
});
