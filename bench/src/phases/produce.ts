import type { Message } from '@millrace/client';
import { createTopic } from '../cluster.js';
import { type CoresUsed, formatCores } from '../cpu.js';
import { goalText, type Row } from '../report.js';
import { formatCount, formatMbPerSecond, formatMs, percentile, sortedCopy } from '../stats.js';
import { cpuWindow, errorText, type PhaseContext, sizeText, sleep, valuePool } from './context.js';

/**
 * Produce throughput through the SDK: `settings.sendsInFlight` loops, each awaiting a `send` of
 * about `settings.sendBytes` of keyless records to one topic, then sending again (closed loop: a
 * service pushing as fast as it is acknowledged). The producer has its defaults (5 ms linger,
 * 64 KiB batches, 5 requests in flight per broker), with acks 'all' (idempotent, the default) or
 * acks 1 (which the SDK allows only without idempotence, so one batch per partition in flight).
 * After the warm-up, the records of every `send` that resolves inside the window are counted, and
 * each such `send`'s time from call to acknowledgement is a latency sample.
 */

export type Acks = 'all' | 1;

export interface ProduceOutcome {
  readonly row: Row;
  readonly note: string;
  readonly topic: string;
}

/** The goals for acks=all: 250,000 records/s of 100 B, 60 MB/s of 1 KiB. */
function goal(valueBytes: number, acks: Acks, recordsPerSecond: number, bytesPerSecond: number): string {
  if (acks !== 'all') return '';
  if (valueBytes === 100) return goalText('≥ 250,000 records/s', recordsPerSecond, (v) => v >= 250_000);
  if (valueBytes === 1024) return goalText('≥ 60 MB/s', bytesPerSecond, (v) => v >= 60e6);
  return '';
}

export async function produceThroughput(
  context: PhaseContext,
  valueBytes: number,
  acks: Acks,
): Promise<ProduceOutcome> {
  const { client, admin, settings } = context;
  const topic = `produce-${valueBytes}b-acks-${acks}`;
  const label = `produce ${sizeText(valueBytes)}, acks=${acks}`;
  await createTopic(context.cluster, admin, topic, settings.partitions);
  const producer = client.producer(acks === 'all' ? {} : { acks: 1, idempotent: false });
  const values = valuePool(valueBytes);
  const recordsPerSend = Math.max(1, Math.round(settings.sendBytes / valueBytes));

  let stopping = false;
  let measuring = false;
  let records = 0;
  let failedSends = 0;
  let firstError = '';
  const sendMs: number[] = [];
  const loops = Array.from({ length: settings.sendsInFlight }, async (_, loop) => {
    // Each loop's messages are made once and sent again and again: the SDK never changes them.
    const messages: Message[] = Array.from({ length: recordsPerSend }, (_, i) => ({
      value: values[(loop + i) % values.length] as Buffer,
    }));
    while (!stopping) {
      const startMs = performance.now();
      try {
        await producer.send({ topic, messages });
      } catch (error) {
        failedSends++;
        firstError ||= errorText(error);
        await sleep(50);
        continue;
      }
      if (measuring) {
        records += recordsPerSend;
        sendMs.push(performance.now() - startMs);
      }
    }
  });
  let cores: CoresUsed;
  try {
    await sleep(settings.warmupSeconds * 1000);
    const endCpu = cpuWindow(context);
    measuring = true;
    await sleep(settings.produceSeconds * 1000);
    measuring = false;
    cores = endCpu();
  } finally {
    stopping = true;
  }
  await Promise.all(loops);
  await producer.close();

  const recordsPerSecond = records / cores.seconds;
  const bytesPerSecond = recordsPerSecond * valueBytes;
  const sorted = sortedCopy(sendMs);
  const failures = failedSends > 0 ? `; ${failedSends} sends failed (first: ${firstError})` : '';
  return {
    topic,
    row: {
      measure: `${label}${acks === 'all' ? ' (idempotent)' : ' (idempotent: false)'}`,
      result:
        records === 0
          ? `nothing acknowledged in the window${failures}`
          : `${formatCount(recordsPerSecond)} records/s, ${formatMbPerSecond(bytesPerSecond)}; ` +
            `send → ack p50 ${formatMs(percentile(sorted, 50))} ms, p99 ${formatMs(percentile(sorted, 99))} ms${failures}`,
      goal: goal(valueBytes, acks, recordsPerSecond, bytesPerSecond),
      cores: formatCores(cores),
    },
    note:
      `${label}: ${formatCount(records)} records in ${cores.seconds.toFixed(1)} s, ${sendMs.length} sends of ` +
      `${formatCount(recordsPerSend)} records (${settings.sendsInFlight} in flight); brokers ${cores.brokers.toFixed(2)} ` +
      `and controllers ${cores.controllers.toFixed(2)} cores`,
  };
}
