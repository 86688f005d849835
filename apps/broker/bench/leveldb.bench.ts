/**
 * What LevelDB costs the broker per byte of record batches: write amplification and CPU for the
 * broker's key layout and options, and the CPU saved by the hardware CRC-32C of the patched
 * classic-level build. Measures only; prints tables (the figures go to BENCHMARKS.md by hand).
 *
 *   cd apps/broker && npx -y pnpm@10.34.8 bench:leveldb      (tsx bench/leveldb.bench.ts)
 *
 * Every case runs in a child process of its own (this file again), so that /proc/self describes
 * one database and one binary. The workload: 64 KiB values (random, so compression would gain
 * nothing), one per partition in each `db.batch` (6 values), each value a batch of 100 records, as
 * produce requests to 6 partitions of one topic would store them; one batch in flight.
 *   A         the broker's layout (`batchKey` of src/log/keys.ts: tag, topic, partition, last
 *             offset, position) with the broker's options (LEVEL_TUNING of src/log/level-log-store.ts);
 *   A-mfs32   the same with 32 MiB table files, the setting before 2026-12;
 *   C         sequence-first keys (tag, a sequence number across every partition, then the
 *             broker's key): every write lands after every stored key, the broker's options;
 *   crc       layout A with the broker's options, as fast as it goes, CRC_MIB of values, in
 *             children that load the patched build (build/Release, SSE 4.2 CRC-32C) and children
 *             with PREBUILDS_ONLY=1, which node-gyp-build reads to skip build/ and load the
 *             prebuilt binary (table CRC-32C); alternated, CRC_RUNS of each.
 * A, A-mfs32 and C are paced at RATE_MIB_S; the first FIRST_MIB are reported apart (no compaction
 * has happened yet), then the rest up to TOTAL_MIB plus the drain: after the last write, until the
 * process has written nothing for 1 s (LevelDB's background thread compacts while a level is over
 * its limit), at most DRAIN_SECONDS_MAX. The crc children count the whole run plus the drain.
 *   amp      bytes the process passed to write() (/proc/self/io wchar) per byte of values: the
 *            write-ahead log (written by the libuv pool thread that runs `db.batch`), memtable
 *            flushes and compactions (LevelDB's background thread, the one thread started after
 *            the database opened). It does not depend on timing, so it repeats run to run.
 *   cpu      process.cpuUsage() per MiB of values, split by thread from /proc/self/task (main,
 *            the pool with V8's helper threads, LevelDB's background thread; 10 ms ticks). It
 *            depends on what else the machine runs: each case prints the load average and the
 *            share of time some task waited for a CPU (/proc/pressure/cpu) over its run.
 *
 * Environment (all optional):
 *   CASES              A,A-mfs32,C,crc (any subset, in this order)
 *   RATE_MIB_S         pace of A, A-mfs32 and C in MiB of values per second (default 40; 0 = as
 *                      fast as it goes)
 *   TOTAL_MIB          values written by A, A-mfs32 and C (default 1600)
 *   FIRST_MIB          the first window, and the interval of the per-window amp (default 200)
 *   CRC_MIB            values written by each crc child (default 1024)
 *   CRC_RUNS           crc children of each binary (default 2)
 *   DRAIN_SECONDS_MAX  longest wait for compactions after the last write (default 45)
 * The default run takes about 3 minutes. Databases go in a temporary folder, removed at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Level } from 'level';
import { batchKey } from '../src/log/keys.js';
import { LEVEL_TUNING } from '../src/log/level-log-store.js';
import { type TopicIdPartition, topicIdPartition } from '../src/log/types.js';

const MiB = 1 << 20;
const VALUE_BYTES = 64 * 1024;
const PARTITIONS = 6;
const RECORDS_PER_BATCH = 100n;
const TOPIC_ID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const CHILD_ENV = 'MILLRACE_LEVELDB_BENCH_CHILD';

function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${text}: expected a number ≥ 0`);
  return value;
}

/** What one child runs; the parent passes it as JSON in CHILD_ENV. */
interface ChildCase {
  readonly name: string;
  readonly layout: 'A' | 'C';
  readonly maxFileSize: number;
  readonly totalMiB: number;
  readonly windowMiB: number;
  readonly rateMiBs: number;
  readonly drainSecondsMax: number;
  readonly folder: string;
}

/** Costs over a span of the run, per MiB of values written in it. */
interface Span {
  readonly mib: number;
  readonly userMsPerMiB: number;
  readonly sysMsPerMiB: number;
  readonly cpuMsPerMiB: number;
  readonly threadMsPerMiB: { readonly main: number; readonly pool: number; readonly background: number };
  readonly amp: number;
  readonly walAmp: number;
  readonly backgroundAmp: number;
}

interface ChildResult {
  readonly name: string;
  /** node-gyp-build's answer for classic-level, and the .node file /proc/self/maps shows loaded. */
  readonly resolvedBinary: string;
  readonly loadedBinary: string;
  readonly first: Span;
  readonly rest: Span;
  readonly whole: Span;
  readonly windowAmps: number[];
  readonly writeMiBs: number;
  readonly drainSeconds: number;
  readonly drained: boolean;
  readonly load1: [number, number];
  readonly cpuWaitShare: number;
}

// ---------------------------------------------------------------------------------------------
// The child: one database, one case

interface ThreadCounters {
  readonly ticks: number;
  readonly wchar: number;
}

interface Sample {
  readonly valueBytes: number;
  readonly ms: number;
  readonly cpu: NodeJS.CpuUsage;
  readonly wchar: number;
  readonly threads: Map<string, ThreadCounters>;
}

function wchar(path: string): number {
  return Number(/wchar: (\d+)/.exec(readFileSync(path, 'utf8'))?.[1] ?? Number.NaN);
}

function threadCounters(): Map<string, ThreadCounters> {
  const out = new Map<string, ThreadCounters>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { ticks: Number(fields[11]) + Number(fields[12]), wchar: wchar(`/proc/self/task/${tid}/io`) });
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return out;
}

function sample(valueBytes: number): Sample {
  return {
    valueBytes,
    ms: performance.now(),
    cpu: process.cpuUsage(),
    wchar: wchar('/proc/self/io'),
    threads: threadCounters(),
  };
}

function cpuWaitMicros(): number {
  return Number(/some .*total=(\d+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? Number.NaN);
}

/**
 * `startedBefore`: the threads that existed before the database opened (main, libuv's pool, V8's
 * helpers); every later one is LevelDB's background thread.
 */
function span(a: Sample, b: Sample, startedBefore: ReadonlySet<string>): Span {
  const mib = (b.valueBytes - a.valueBytes) / MiB;
  const main = String(process.pid);
  const ticks = { main: 0, pool: 0, background: 0 };
  const written = { pool: 0, background: 0 };
  for (const [tid, end] of b.threads) {
    const start = a.threads.get(tid) ?? { ticks: 0, wchar: 0 };
    const group = tid === main ? 'main' : startedBefore.has(tid) ? 'pool' : 'background';
    ticks[group] += end.ticks - start.ticks;
    if (group !== 'main') written[group] += end.wchar - start.wchar;
  }
  const valueBytes = b.valueBytes - a.valueBytes;
  const user = (b.cpu.user - a.cpu.user) / 1000 / mib;
  const sys = (b.cpu.system - a.cpu.system) / 1000 / mib;
  return {
    mib,
    userMsPerMiB: user,
    sysMsPerMiB: sys,
    cpuMsPerMiB: user + sys,
    threadMsPerMiB: {
      main: (ticks.main * 10) / mib,
      pool: (ticks.pool * 10) / mib,
      background: (ticks.background * 10) / mib,
    },
    amp: (b.wchar - a.wchar) / valueBytes,
    walAmp: written.pool / valueBytes,
    backgroundAmp: written.background / valueBytes,
  };
}

/** Where node-gyp-build finds classic-level's binary, resolved as `level` resolves it from here. */
function resolvedBinary(): string {
  const classicLevel = createRequire(createRequire(import.meta.url).resolve('level')).resolve('classic-level');
  const gypBuild = createRequire(classicLevel)('node-gyp-build') as { path(dir: string): string };
  return gypBuild.path(dirname(classicLevel));
}

function loadedBinary(): string {
  const line = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .find((l) => /classic[-_]level\.node$/.test(l));
  return line?.slice(line.indexOf('/')) ?? 'none';
}

/** C: the tag, a sequence number over every partition, then the rest of the broker's key (same 37 bytes). */
function sequenceFirstKey(seq: bigint, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(key.length);
  out[0] = key[0]!;
  out.writeBigUInt64BE(seq, 1);
  key.copy(out, 9, 1, key.length - 8);
  return out;
}

async function runChild(c: ChildCase): Promise<ChildResult> {
  await readFile('/proc/self/stat'); // starts libuv's pool, so that the only thread started after open is LevelDB's
  const startedBefore = new Set(readdirSync('/proc/self/task'));
  const path = join(c.folder, `${c.name}-${process.pid}`);
  const db = new Level<Buffer, Buffer>(path, {
    keyEncoding: 'buffer',
    valueEncoding: 'buffer',
    ...LEVEL_TUNING,
    maxFileSize: c.maxFileSize,
  });
  await db.open();
  const values = Array.from({ length: 64 }, () => randomBytes(VALUE_BYTES));
  const tps: TopicIdPartition[] = Array.from({ length: PARTITIONS }, (_, p) => topicIdPartition(TOPIC_ID, p));
  const nextOffset = tps.map(() => 0n);
  const position = tps.map(() => 0);
  const total = c.totalMiB * MiB;
  const load1Start = loadavg()[0]!;
  const cpuWait0 = cpuWaitMicros();
  const start = sample(0);
  const windows = [start];
  let written = 0;
  let seq = 0n;
  while (written < total) {
    const ops = tps.map((tp, p) => {
      const lastOffset = nextOffset[p]! + RECORDS_PER_BATCH - 1n;
      const key = batchKey(tp, lastOffset, position[p]!);
      nextOffset[p] = lastOffset + 1n;
      position[p]! += VALUE_BYTES;
      const n = seq++;
      return {
        type: 'put' as const,
        key: c.layout === 'A' ? key : sequenceFirstKey(n, key),
        value: values[Number(n % 64n)]!,
      };
    });
    await db.batch(ops);
    written += ops.length * VALUE_BYTES;
    if (c.rateMiBs > 0) {
      const wait = start.ms + (written / MiB / c.rateMiBs) * 1000 - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    if (written >= windows.length * c.windowMiB * MiB) windows.push(sample(written));
  }
  const endWrite = sample(written);
  let last = endWrite.wchar;
  let idleSince = performance.now();
  while (performance.now() - idleSince < 1000 && performance.now() - endWrite.ms < c.drainSecondsMax * 1000) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = wchar('/proc/self/io');
    if (now !== last) [last, idleSince] = [now, performance.now()];
  }
  const end = sample(written);
  const drained = performance.now() - idleSince >= 1000;
  const loaded = loadedBinary();
  await db.close();
  rmSync(path, { recursive: true, force: true });
  const first = windows[1] ?? endWrite;
  return {
    name: c.name,
    resolvedBinary: resolvedBinary(),
    loadedBinary: loaded,
    first: span(start, first, startedBefore),
    rest: span(first, end, startedBefore),
    whole: span(start, end, startedBefore),
    windowAmps: windows.slice(1).map((w, i) => span(windows[i]!, w, startedBefore).amp),
    writeMiBs: written / MiB / ((endWrite.ms - start.ms) / 1000),
    drainSeconds: (end.ms - endWrite.ms) / 1000,
    drained,
    load1: [load1Start, loadavg()[0]!],
    cpuWaitShare: (cpuWaitMicros() - cpuWait0) / 1000 / (end.ms - start.ms),
  };
}

// ---------------------------------------------------------------------------------------------
// The parent: one child per case, then the tables

const live = new Set<ChildProcess>();

function stopChildren(): void {
  for (const child of live) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
}

function runInChild(c: ChildCase, prebuilt: boolean): Promise<ChildResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: JSON.stringify(c) };
  if (prebuilt) env.PREBUILDS_ONLY = '1';
  else delete env.PREBUILDS_ONLY;
  // The loader flags tsx gave this process, so that the child runs this TypeScript file too.
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  const budgetMs = ((c.rateMiBs > 0 ? c.totalMiB / c.rateMiBs : c.totalMiB / 20) + c.drainSecondsMax + 60) * 1000;
  return new Promise((resolve, reject) => {
    let result: ChildResult | undefined;
    const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), budgetMs);
    child.on('message', (message) => {
      result = message as ChildResult;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (result !== undefined && code === 0) resolve(result);
      else reject(new Error(`case ${c.name}: the child exited with ${signal ?? code} and no result`));
    });
  });
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const shortBinary = (path: string) => path.replace(/.*\/node_modules\/classic-level\//, '');

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(header));
  console.log(`| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`);
  for (const row of rows) console.log(line(row));
}

async function main(): Promise<void> {
  const cases = (process.env.CASES ?? 'A,A-mfs32,C,crc').split(',').map((s) => s.trim());
  for (const name of cases) if (!['A', 'A-mfs32', 'C', 'crc'].includes(name)) throw new Error(`unknown case ${name}`);
  const folder = await mkdtemp(join(tmpdir(), 'millrace-leveldb-bench-'));
  const paced = {
    totalMiB: envNumber('TOTAL_MIB', 1600),
    windowMiB: envNumber('FIRST_MIB', 200),
    rateMiBs: envNumber('RATE_MIB_S', 40),
    drainSecondsMax: envNumber('DRAIN_SECONDS_MAX', 45),
    folder,
  };
  const onSignal = () => {
    stopChildren();
    rmSync(folder, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const amps: ChildResult[] = [];
  const crcs: { prebuilt: boolean; result: ChildResult }[] = [];
  try {
    for (const name of cases) {
      if (name !== 'crc') {
        const layout = name === 'C' ? 'C' : 'A';
        const maxFileSize = name === 'A-mfs32' ? 32 * MiB : LEVEL_TUNING.maxFileSize;
        const result = await runInChild({ ...paced, name, layout, maxFileSize }, false);
        const r = result.rest;
        console.log(
          `${name}: amp ${f2(r.amp)} cpu ${f1(r.cpuMsPerMiB)} ms/MiB after the first ${paced.windowMiB} MiB; ` +
            `load ${f2(result.load1[0])} → ${f2(result.load1[1])}; ${shortBinary(result.loadedBinary)}`,
        );
        amps.push(result);
        continue;
      }
      const crcCase: ChildCase = {
        ...paced,
        name: 'crc',
        layout: 'A',
        maxFileSize: LEVEL_TUNING.maxFileSize,
        totalMiB: envNumber('CRC_MIB', 1024),
        rateMiBs: 0,
        windowMiB: envNumber('CRC_MIB', 1024),
      };
      for (let run = 0; run < envNumber('CRC_RUNS', 2); run++) {
        for (const prebuilt of [true, false]) {
          const result = await runInChild(crcCase, prebuilt);
          if (result.resolvedBinary !== result.loadedBinary) {
            throw new Error(`node-gyp-build resolved ${result.resolvedBinary} but ${result.loadedBinary} is loaded`);
          }
          console.log(`crc, PREBUILDS_ONLY=${prebuilt ? 1 : '(unset)'}: loaded ${result.loadedBinary}`);
          crcs.push({ prebuilt, result });
        }
      }
    }
  } finally {
    stopChildren();
    rmSync(folder, { recursive: true, force: true });
  }

  if (amps.length > 0) {
    console.log(
      `\n${PARTITIONS} partitions, 64 KiB values, paced at ${paced.rateMiBs || 'full speed'} MiB/s, ${paced.totalMiB} MiB; ` +
        `cpu in ms per MiB of values (main / pool / LevelDB background thread); amp = bytes written per byte of values (WAL + background)`,
    );
    table(
      [
        'case',
        `first ${paced.windowMiB} MiB: cpu · amp`,
        `${paced.windowMiB} MiB → end + drain: cpu (main / pool / bg)`,
        'amp (WAL + bg)',
        `amp per ${paced.windowMiB} MiB`,
        'MiB/s',
        'drain s',
        'load 1 min, cpu wait',
      ],
      amps.map((r) => [
        r.name,
        `${f1(r.first.cpuMsPerMiB)} · ${f2(r.first.amp)}`,
        `${f1(r.rest.cpuMsPerMiB)} (${f1(r.rest.threadMsPerMiB.main)} / ${f1(r.rest.threadMsPerMiB.pool)} / ${f1(r.rest.threadMsPerMiB.background)})`,
        `${f2(r.rest.amp)} (${f2(r.rest.walAmp)} + ${f2(r.rest.backgroundAmp)})`,
        r.windowAmps.map(f1).join(' '),
        f1(r.writeMiBs),
        `${f1(r.drainSeconds)}${r.drained ? '' : ' (not drained)'}`,
        `${f2(r.load1[0])} → ${f2(r.load1[1])}, ${f2(r.cpuWaitShare)}`,
      ]),
    );
  }
  if (crcs.length > 0) {
    console.log(
      `\nCRC-32C: layout A, the broker's options, ${envNumber('CRC_MIB', 1024)} MiB as fast as it goes, whole run + drain; ms per MiB of values`,
    );
    table(
      ['binary', 'user', 'sys', 'total', 'bg thread', 'MiB/s', 'amp', 'load 1 min, cpu wait'],
      crcs.map(({ prebuilt, result: r }) => [
        `${prebuilt ? 'prebuilt (PREBUILDS_ONLY=1)' : 'patched, SSE 4.2'}: ${shortBinary(r.loadedBinary)}`,
        f2(r.whole.userMsPerMiB),
        f2(r.whole.sysMsPerMiB),
        f2(r.whole.cpuMsPerMiB),
        f2(r.whole.threadMsPerMiB.background),
        f1(r.writeMiBs),
        f2(r.whole.amp),
        `${f2(r.load1[0])} → ${f2(r.load1[1])}, ${f2(r.cpuWaitShare)}`,
      ]),
    );
  }
}

const childCase = process.env[CHILD_ENV];
if (childCase === undefined) {
  await main();
} else {
  const result = await runChild(JSON.parse(childCase) as ChildCase);
  process.send?.(result, () => process.exit(0));
}
