/**
 * Throughput of the RecordBatch v2 codec and of CRC-32C. Run from packages/protocol with
 * `pnpm bench` (or `npx tsx bench/codec.bench.ts`). Each case warms up, then runs RUNS times
 * for a fixed wall time; the table shows the median run. MB/s counts 10^6 bytes of encoded
 * batch (the bytes on the wire or on disk), GB/s 10^9 bytes.
 */
import { cpus } from 'node:os';
import {
  crc32c,
  decodeRecordBatch,
  encodeRecordBatch,
  type RecordInput,
  validateRecordBatch,
} from '../src/record-batch/index.js';

const WARMUP_MS = 300;
const RUN_MS = 400;
const RUNS = 5;
const RECORDS_PER_BATCH = 100;

/** Deterministic pseudo-random source, so every run measures the same bytes. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** JSON-like text made of a small vocabulary: compresses like real event payloads (about 3-5x with gzip). */
function payload(bytes: number, random: () => number): Buffer {
  const words = [
    '"user"',
    '"order"',
    '"amount"',
    '"currency":"EUR"',
    '"status":"paid"',
    '"sku"',
    '"ts"',
    'true',
    'null',
  ];
  let text = '{';
  while (text.length < bytes) text += `${words[random() % words.length]}:${random() % 100_000},`;
  return Buffer.from(`${text.slice(0, bytes - 1)}}`);
}

function records(valueBytes: number): RecordInput[] {
  const random = xorshift(valueBytes);
  const t0 = 1_712_000_000_000;
  return Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({
    key: Buffer.from(`key-${String(i).padStart(6, '0')}`),
    value: payload(valueBytes, random),
    timestamp: t0 + i * 3,
  }));
}

let sink = 0;

/** Calls `fn` repeatedly for `ms`; returns calls per second. Checks the clock every `stride` calls. */
function runFor(ms: number, fn: () => number): number {
  let stride = 1;
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < stride; i++) sink ^= fn();
    calls += stride;
    now = performance.now();
    if (now - start < ms / 50) stride *= 2;
  }
  return (calls * 1000) / (now - start);
}

interface Row {
  readonly name: string;
  readonly bytesPerCall: number;
  readonly unit: 'MB/s' | 'GB/s';
  readonly goal?: number;
  readonly fn: () => number;
}

function measure(row: Row): { median: number; min: number; max: number; callsPerSecond: number } {
  runFor(WARMUP_MS, row.fn);
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) rates.push(runFor(RUN_MS, row.fn));
  rates.sort((a, b) => a - b);
  const scale = row.unit === 'MB/s' ? 1e6 : 1e9;
  const toThroughput = (rate: number) => (rate * row.bytesPerCall) / scale;
  const median = rates[Math.floor(RUNS / 2)]!;
  return {
    median: toThroughput(median),
    min: toThroughput(rates[0]!),
    max: toThroughput(rates[RUNS - 1]!),
    callsPerSecond: median,
  };
}

const small = records(100);
const large = records(1024);
const smallBatch = encodeRecordBatch({ records: small });
const largeBatch = encodeRecordBatch({ records: large });
const largeGzip = encodeRecordBatch({ records: large, compression: 'gzip' });
const mib = Buffer.alloc(1024 * 1024);
const kib16 = Buffer.alloc(16 * 1024);
{
  const random = xorshift(7);
  for (let i = 0; i < mib.length; i++) mib[i] = random() & 0xff;
  mib.copy(kib16, 0, 0, kib16.length);
}

const rows: Row[] = [
  {
    name: 'encode 100 x 100 B',
    bytesPerCall: smallBatch.length,
    unit: 'MB/s',
    fn: () => encodeRecordBatch({ records: small }).length,
  },
  {
    name: 'encode 100 x 1 KiB',
    bytesPerCall: largeBatch.length,
    unit: 'MB/s',
    fn: () => encodeRecordBatch({ records: large }).length,
  },
  {
    name: 'encode 100 x 1 KiB gzip',
    bytesPerCall: largeBatch.length,
    unit: 'MB/s',
    fn: () => encodeRecordBatch({ records: large, compression: 'gzip' }).length,
  },
  {
    name: 'decode 100 x 100 B',
    bytesPerCall: smallBatch.length,
    unit: 'MB/s',
    fn: () => decodeRecordBatch(smallBatch).records.length,
  },
  {
    name: 'decode 100 x 1 KiB',
    bytesPerCall: largeBatch.length,
    unit: 'MB/s',
    goal: 500,
    fn: () => decodeRecordBatch(largeBatch).records.length,
  },
  {
    name: 'decode 100 x 1 KiB gzip',
    bytesPerCall: largeBatch.length,
    unit: 'MB/s',
    fn: () => decodeRecordBatch(largeGzip).records.length,
  },
  {
    name: 'validate 100 x 100 B',
    bytesPerCall: smallBatch.length,
    unit: 'MB/s',
    fn: () => validateRecordBatch(smallBatch).recordCount,
  },
  {
    name: 'validate 100 x 1 KiB',
    bytesPerCall: largeBatch.length,
    unit: 'MB/s',
    fn: () => validateRecordBatch(largeBatch).recordCount,
  },
  { name: 'crc32c 1 MiB', bytesPerCall: mib.length, unit: 'GB/s', goal: 1, fn: () => crc32c(mib) },
  { name: 'crc32c 16 KiB', bytesPerCall: kib16.length, unit: 'GB/s', goal: 1, fn: () => crc32c(kib16) },
];

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs`);
console.log(
  `batches: ${RECORDS_PER_BATCH} records, 13-byte keys, JSON-like values; 100 B batch ${smallBatch.length} B, ` +
    `1 KiB batch ${largeBatch.length} B (gzip ${largeGzip.length} B)`,
);
console.log(
  `median of ${RUNS} runs of ${RUN_MS} ms after ${WARMUP_MS} ms warm-up; gzip rates count uncompressed batch bytes\n`,
);
const header = ['case', 'median', 'min..max', 'calls/s', 'goal'];
const lines: string[][] = [];
for (const row of rows) {
  const { median, min, max, callsPerSecond } = measure(row);
  const goal = row.goal === undefined ? '' : `>= ${row.goal} ${row.unit} ${median >= row.goal ? 'met' : 'MISSED'}`;
  const digits = row.unit === 'GB/s' ? 2 : 0;
  lines.push([
    row.name,
    `${median.toFixed(digits)} ${row.unit}`,
    `${min.toFixed(digits)}..${max.toFixed(digits)}`,
    Math.round(callsPerSecond).toLocaleString('en-US'),
    goal,
  ]);
}
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i]!.length)));
const format = (cells: string[]) =>
  `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
console.log(format(header));
console.log(`|${widths.map((w, i) => (i === 0 ? `-${'-'.repeat(w)}-` : `-${'-'.repeat(w)}:`)).join('|')}|`);
for (const line of lines) console.log(format(line));
if (sink === 0.5) console.log('unreachable: keeps the results alive');
