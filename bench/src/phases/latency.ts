import { waitFor } from '@millrace/test-kit';
import { createTopic } from '../cluster.js';
import { type CoresUsed, formatCores } from '../cpu.js';
import { goalText, type Row } from '../report.js';
import { formatCount, formatPercentiles, percentile, sortedCopy } from '../stats.js';
import { cpuWindow, errorText, type PhaseContext, sleep } from './context.js';

/**
 * Latency at a fixed rate through the SDK, open loop: every millisecond the records due by then
 * are sent, each in its own `send` of one 100 B record (as a service sends what each of its
 * requests makes), whether or not earlier ones have been acknowledged; if the timer runs late,
 * the records due are sent at once, so the rate holds. The producer has its defaults (acks 'all',
 * idempotent, 5 ms linger). Each value starts with its send time; a consumer (defaults: long
 * polls of up to 500 ms, minBytes 1) tails the topic with `for await` in this process, so both
 * ends read the same clock. After the warm-up, records sent in the window give two samples each:
 * send → acknowledged, and send → seen by the consumer (end to end).
 */

const VALUE_BYTES = 100;
const PERCENTILES = [50, 99, 99.9] as const;

export async function latencyAtRate(context: PhaseContext, rate: number): Promise<{ rows: Row[]; note: string }> {
  const { client, admin, settings } = context;
  const topic = `latency-${rate}`;
  await createTopic(context.cluster, admin, topic, settings.partitions);

  let windowStartMs = Number.POSITIVE_INFINITY;
  let windowEndMs = Number.POSITIVE_INFINITY;
  const inWindow = (sentMs: number) => sentMs >= windowStartMs && sentMs < windowEndMs;
  const ackMs: number[] = [];
  const endToEndMs: number[] = [];
  let sentInWindow = 0;
  let failedSends = 0;
  let firstError = '';

  const consumer = client.consumer({ autoOffsetReset: 'earliest' });
  await consumer.assign([{ topic }]);
  const consuming = (async () => {
    for await (const message of consumer) {
      const seenMs = performance.now();
      const sentMs = message.value?.readDoubleLE(0) ?? Number.NaN;
      if (inWindow(sentMs)) endToEndMs.push(seenMs - sentMs);
    }
  })();

  const producer = client.producer();
  const filler = Buffer.alloc(VALUE_BYTES, 0x6d);
  const sending: Promise<void>[] = [];
  let sent = 0;
  const sendOne = () => {
    const sentMs = performance.now();
    const value = Buffer.allocUnsafe(VALUE_BYTES);
    filler.copy(value);
    value.writeDoubleLE(sentMs, 0);
    sent++;
    const counted = inWindow(sentMs);
    if (counted) sentInWindow++;
    sending.push(
      producer.send({ topic, messages: [{ value }] }).then(
        () => {
          if (counted) ackMs.push(performance.now() - sentMs);
        },
        (error: unknown) => {
          failedSends++;
          firstError ||= errorText(error);
        },
      ),
    );
  };

  let cores: CoresUsed | undefined;
  try {
    const startMs = performance.now();
    const totalMs = (settings.warmupSeconds + settings.latencySeconds) * 1000;
    let endCpu: (() => CoresUsed) | undefined;
    for (;;) {
      const nowMs = performance.now();
      const elapsedMs = nowMs - startMs;
      if (elapsedMs >= totalMs) break;
      if (endCpu === undefined && elapsedMs >= settings.warmupSeconds * 1000) {
        endCpu = cpuWindow(context);
        windowStartMs = nowMs;
        windowEndMs = windowStartMs + settings.latencySeconds * 1000;
      }
      const due = Math.floor((elapsedMs * rate) / 1000) + 1;
      while (sent < due) sendOne();
      await sleep(1);
    }
    cores = endCpu?.();
    await Promise.all(sending);
    // The last records of the window reach the consumer within a fetch or two; bounded.
    await waitFor(
      'the consumer to see every record sent in the window',
      () => endToEndMs.length >= sentInWindow,
      10_000,
    ).catch(() => undefined);
  } finally {
    await producer.close();
    await consumer.close();
    await consuming.catch(() => undefined);
  }
  if (cores === undefined) throw new Error('the window never started');

  const achieved = sentInWindow / cores.seconds;
  const ack = sortedCopy(ackMs);
  const endToEnd = sortedCopy(endToEndMs);
  const atRate = `at ${formatCount(rate)} records/s`;
  const failures = failedSends > 0 ? `; ${failedSends} sends failed (first: ${firstError})` : '';
  const missing =
    endToEnd.length < sentInWindow
      ? `; the consumer saw ${formatCount(endToEnd.length)} of ${formatCount(sentInWindow)}`
      : '';
  const checkRate = Math.abs(achieved - rate) > 0.02 * rate ? ` (sent ${formatCount(achieved)} records/s)` : '';
  const isGoalRate = rate === 5000;
  return {
    rows: [
      {
        measure: `latency ${atRate}: send → ack, 100 B, acks=all${checkRate}`,
        result: `${ack.length === 0 ? 'no acknowledgements' : formatPercentiles(ack, PERCENTILES)}${failures}`,
        goal: isGoalRate ? goalText('p99 < 5 ms', percentile(ack, 99), (v) => v < 5) : '',
        cores: formatCores(cores),
      },
      {
        measure: `latency ${atRate}: end to end (send → a tailing consumer has it)`,
        result: `${endToEnd.length === 0 ? 'no records seen' : formatPercentiles(endToEnd, PERCENTILES)}${missing}`,
        goal: isGoalRate ? goalText('p99 < 10 ms', percentile(endToEnd, 99), (v) => v < 10) : '',
        cores: formatCores(cores),
      },
    ],
    note:
      `latency ${atRate}: ${formatCount(sentInWindow)} records sent in ${cores.seconds.toFixed(1)} s ` +
      `(${formatCount(achieved)} records/s), max ack ${(ack.at(-1) ?? Number.NaN).toFixed(1)} ms, ` +
      `max end to end ${(endToEnd.at(-1) ?? Number.NaN).toFixed(1)} ms; brokers ${cores.brokers.toFixed(2)} cores`,
  };
}
