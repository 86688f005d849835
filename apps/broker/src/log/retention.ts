/**
 * Retention as a pure function: which batches at the head of a log `retention.ms` and
 * `retention.bytes` let go. The driver (`PartitionLog.applyRetention`) reads batch headers and
 * deletes; this decides.
 */

/** What retention needs to know of one batch. */
export interface BatchSummary {
  readonly baseOffset: bigint;
  readonly lastOffset: bigint;
  readonly maxTimestampMs: number;
  readonly sizeInBytes: number;
}

export interface RetentionInput {
  /** Batches from the head of the log, oldest first: a prefix of the log, or all of it. */
  readonly batches: readonly BatchSummary[];
  /** The size of the whole log from `batches[0]` to its end, in bytes. */
  readonly logSizeBytes: number;
  readonly nowMs: number;
  /** `retention.ms`: -1 keeps batches forever. */
  readonly retentionMs: number;
  /** `retention.bytes`: -1 is no limit. */
  readonly retentionBytes: number;
  readonly highWatermark: bigint;
}

export interface RetentionDecision {
  /** How many of the given batches go (a prefix). */
  readonly batches: number;
  readonly bytes: number;
  /** The offset the log may start at: after the last batch that goes; undefined when none goes. */
  readonly logStartOffset: bigint | undefined;
  /**
   * Every given batch goes: the caller may give the next ones, with `logSizeBytes` reduced by
   * `bytes`, and ask again.
   */
  readonly exhausted: boolean;
}

/**
 * Kafka's rules, at batch granularity (Kafka's unit is the segment; ours is the batch):
 * - time: a batch goes when `nowMs - maxTimestamp > retention.ms`;
 * - size: a batch goes when the log without it still holds at least `retention.bytes`, so the
 *   log keeps between `retention.bytes` and that plus one batch;
 * - only a prefix goes (the longest in which every batch breaks a rule), whole batches only;
 * - never a batch with an offset at or above the high watermark: data not yet committed stays,
 *   and the log start never passes the high watermark.
 */
export function decideRetention(input: RetentionInput): RetentionDecision {
  const { batches, nowMs, retentionMs, retentionBytes, highWatermark } = input;
  let remaining = input.logSizeBytes;
  let count = 0;
  let bytes = 0;
  let logStartOffset: bigint | undefined;
  if (retentionMs >= 0 || retentionBytes >= 0) {
    for (const batch of batches) {
      if (batch.lastOffset >= highWatermark) break;
      const expired = retentionMs >= 0 && nowMs - batch.maxTimestampMs > retentionMs;
      const oversize = retentionBytes >= 0 && remaining - batch.sizeInBytes >= retentionBytes;
      if (!expired && !oversize) break;
      remaining -= batch.sizeInBytes;
      bytes += batch.sizeInBytes;
      count++;
      logStartOffset = batch.lastOffset + 1n;
    }
  }
  return { batches: count, bytes, logStartOffset, exhausted: count === batches.length && count > 0 };
}
