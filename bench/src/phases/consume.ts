import type { Consumer } from '@millrace/client';
import { type CoresUsed, formatCores } from '../cpu.js';
import { goalText, type Row } from '../report.js';
import { formatCount, formatMbPerSecond } from '../stats.js';
import { cpuWindow, type PhaseContext, sizeText } from './context.js';

/**
 * Consume throughput through the SDK: what a produce run wrote, read from offset 0 by a consumer
 * assigned every partition of the topic, `for await` over the messages and then
 * `run({ eachBatch })`. The topic is read in passes: when every record has been seen, the
 * consumer seeks back to offset 0, until `settings.consumeSeconds` have passed at the end of a
 * pass. The consumer has its defaults (1 MiB per partition per fetch, 64 MiB buffered) except
 * `maxWaitMs: 0`: at the end of a pass a long poll would wait for records that never come.
 * Just written, the data is read from the brokers' memory (their tail cache, LevelDB's and the
 * page cache), as a consumer that keeps up reads it.
 */

export type ConsumeStyle = 'for await' | 'eachBatch';

/** The issue's goal: 250 MB/s of 1 KiB records. */
function goal(valueBytes: number, bytesPerSecond: number): string {
  return valueBytes === 1024 ? goalText('≥ 250 MB/s', bytesPerSecond, (v) => v >= 250e6) : '';
}

export async function consumeThroughput(
  context: PhaseContext,
  topic: string,
  valueBytes: number,
  style: ConsumeStyle,
): Promise<{ row: Row; note: string }> {
  const { client, admin, settings } = context;
  const offsets = await admin.fetchTopicOffsets(topic);
  const perPass = offsets.reduce((sum, p) => sum + Number(p.high - p.low), 0);
  if (perPass === 0) throw new Error(`${topic} holds no records to read`);
  const consumer = client.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 0 });
  await consumer.assign([{ topic }]);
  for (const p of offsets) consumer.seek({ topic, partition: p.partition }, p.low);

  let seen = 0;
  let bytes = 0;
  let passes = 1;
  let cores: CoresUsed | undefined;
  const endCpu = cpuWindow(context);
  const startMs = performance.now();
  // A bound on the whole read: a consumer that stalls ends the phase with what it had read.
  const deadline = setTimeout(() => void consumer.close(), settings.consumeSeconds * 1000 + 30_000);
  /** Called with each record counted; true when the read is over. */
  const passOver = (): boolean => {
    if (seen < perPass * passes) return false;
    if (performance.now() - startMs >= settings.consumeSeconds * 1000) {
      cores = endCpu();
      return true;
    }
    passes++;
    for (const p of offsets) consumer.seek({ topic, partition: p.partition }, p.low);
    return false;
  };
  try {
    await read(consumer, style, (value) => {
      seen++;
      bytes += value?.length ?? 0;
      return passOver();
    });
  } finally {
    clearTimeout(deadline);
    await consumer.close();
  }
  cores ??= endCpu();
  const complete = seen >= perPass * passes;
  const recordsPerSecond = seen / cores.seconds;
  const bytesPerSecond = bytes / cores.seconds;
  const label = `consume ${sizeText(valueBytes)}, ${style === 'for await' ? '`for await`' : '`run({ eachBatch })`'}`;
  return {
    row: {
      measure: `${label}, from offset 0`,
      result: complete
        ? `${formatCount(recordsPerSecond)} records/s, ${formatMbPerSecond(bytesPerSecond)}`
        : `stalled: read ${formatCount(seen)} of ${formatCount(perPass * passes)} records (pass ${passes}) within ${(cores.seconds).toFixed(1)} s`,
      goal: complete ? goal(valueBytes, bytesPerSecond) : '',
      cores: formatCores(cores),
    },
    note:
      `${label}: ${formatCount(seen)} records in ${cores.seconds.toFixed(1)} s, ${passes} passes over ` +
      `${formatCount(perPass)} records; brokers ${cores.brokers.toFixed(2)} cores`,
  };
}

/** Hands every record's value to `each` until it returns true or the consumer is closed. */
async function read(consumer: Consumer, style: ConsumeStyle, each: (value: Buffer | null) => boolean): Promise<void> {
  if (style === 'for await') {
    for await (const message of consumer) if (each(message.value)) return;
    return;
  }
  await consumer.run({
    eachBatch: (batch) => {
      for (const message of batch.messages) {
        if (each(message.value)) {
          void consumer.close();
          return;
        }
      }
    },
  });
}
