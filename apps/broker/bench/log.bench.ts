/**
 * Partition log throughput: leader appends of batches of 100 × 1 KiB records under each flush
 * policy, then reads of the whole log in 1 MiB fetches. Measures only; prints a table.
 *
 *   cd apps/broker && npx tsx bench/log.bench.ts
 *
 * Environment: BATCHES (per policy, default 600), SECONDS (cap per policy, default 4).
 * Record values are random bytes, so LevelDB's block compression gains nothing (the worst case;
 * a producer that compresses its batches looks the same to the broker).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecordBatch, lastOffsetOf, readRecordBatchHeader } from '@millrace/protocol';
import { LevelLogStore } from '../src/log/level-log-store.js';
import { LogManager } from '../src/log/log-manager.js';
import { type FlushPolicy, topicIdPartition } from '../src/log/types.js';

const BATCHES = Number(process.env.BATCHES ?? 600);
const SECONDS = Number(process.env.SECONDS ?? 4);
const RECORDS = 100;
const VALUE_BYTES = 1024;
const FETCH_BYTES = 1 << 20;

interface Row {
  readonly case: string;
  readonly mbPerSecond: number;
  readonly batchesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly batches: number;
}

function makeBatches(count: number): Buffer[] {
  // A few distinct batches reused in turn: appending rewrites base offset and epoch in place.
  return Array.from({ length: Math.min(count, 16) }, (_, b) =>
    encodeRecordBatch({
      records: Array.from({ length: RECORDS }, (_, i) => ({ key: `key-${b}-${i}`, value: randomBytes(VALUE_BYTES) })),
      now: Date.now(),
    }),
  );
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function run(flushPolicy: FlushPolicy, folder: string): Promise<Row[]> {
  const path = join(folder, flushPolicy);
  const logs = await LogManager.open(await LevelLogStore.open(path, { flushPolicy, flushIntervalMs: 1000 }), {
    highWatermarkCheckpointIntervalMs: 0,
  });
  const log = await logs.create(topicIdPartition(randomUUID(), 0), { topic: 'bench', createdAtMs: Date.now() });
  const batches = makeBatches(BATCHES);
  const batchBytes = batches[0]!.length;
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  let appended = 0;
  while (appended < BATCHES && performance.now() < deadline) {
    const t0 = performance.now();
    await log.appendAsLeader([batches[appended % batches.length]!], 0, { nowMs: Date.now(), maxBatchBytes: 1 << 21 });
    latencies.push(performance.now() - t0);
    appended++;
  }
  const appendSeconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const rows: Row[] = [
    {
      case: `append, flush ${flushPolicy}`,
      mbPerSecond: (appended * batchBytes) / 1e6 / appendSeconds,
      batchesPerSecond: appended / appendSeconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      batches: appended,
    },
  ];

  if (flushPolicy === 'os') {
    log.setHighWatermark(log.logEndOffset);
    const fetches: number[] = [];
    const readStart = performance.now();
    let next = log.logStartOffset;
    let bytes = 0;
    let read = 0;
    while (next < log.logEndOffset) {
      const t0 = performance.now();
      const result = await log.read(next, { maxBytes: FETCH_BYTES, maxOffset: log.highWatermark });
      fetches.push(performance.now() - t0);
      for (const batch of result.batches) {
        bytes += batch.length;
        read++;
        next = lastOffsetOf(readRecordBatchHeader(batch)) + 1n;
      }
    }
    const readSeconds = (performance.now() - readStart) / 1000;
    fetches.sort((a, b) => a - b);
    rows.push({
      case: 'read, 1 MiB fetches, CRC checked',
      mbPerSecond: bytes / 1e6 / readSeconds,
      batchesPerSecond: read / readSeconds,
      p50Ms: percentile(fetches, 50),
      p99Ms: percentile(fetches, 99),
      batches: read,
    });
  }
  await logs.close();
  return rows;
}

async function main(): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'millrace-log-bench-'));
  try {
    const batchBytes = makeBatches(1)[0]!.length;
    console.log(
      `batch: ${RECORDS} records x ${VALUE_BYTES} B values = ${batchBytes} B; one batch per append, one in flight`,
    );
    const rows: Row[] = [];
    for (const policy of ['os', 'every-batch', 'interval'] as const) rows.push(...(await run(policy, folder)));
    const header = ['case', 'MB/s', 'batches/s', 'p50 ms', 'p99 ms', 'batches'];
    const lines = rows.map((r) => [
      r.case,
      r.mbPerSecond.toFixed(0),
      r.batchesPerSecond.toFixed(0),
      r.p50Ms.toFixed(2),
      r.p99Ms.toFixed(2),
      String(r.batches),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const format = (cells: string[]) =>
      `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
    console.log(format(header));
    console.log(`| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`);
    for (const line of lines) console.log(format(line));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

await main();
