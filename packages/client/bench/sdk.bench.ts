/**
 * The client SDK's benchmark: how fast `producer().send` and the consumer go, and whether the SDK
 * or the brokers bound them. Three phases:
 *   1. producer-alone: the SDK producer (acks 'all', idempotent) against a stub broker that only
 *      acknowledges (bench/stub-broker.ts, in a child process so that it does not share the SDK's
 *      event loop), with 100 B and 1 KiB values, in two shapes: many concurrent `send` calls of a
 *      few keyed records each, as a service handling requests sends them; and large keyless
 *      `send` calls of about 1 MB of values each, a few in flight;
 *   2. consumer-alone: the SDK consumer reading the same stub, which answers every fetch with
 *      pre-encoded batches of 1 KiB records up to the partition limit: `for await` over the
 *      messages, and `run({ eachBatch })`. Every batch's CRC is checked and every record decoded,
 *      as always in the SDK;
 *   3. cluster: three controller and three broker processes (apps/*\/dist/main.js, through
 *      test-kit's startProcessCluster), a topic of PARTITIONS partitions, replication factor 3,
 *      min.insync.replicas 2; the SDK producer with 100 B and with 1 KiB values, then the SDK
 *      consumer reading each topic back from the start.
 * Every measured window prints the cores each process used (this one, which runs the SDK and the
 * load, the stub or the brokers and controllers, and whatever else ran on the machine), and the
 * event-loop utilization of this process: near 1.0 means the SDK's thread was the limit. A table
 * follows at the end; the figures go to BENCHMARKS.md by hand, with the machine and the date.
 *
 *   cd packages/client && npx -y pnpm@10.34.8 bench      (tsx bench/sdk.bench.ts)
 *
 * The cluster phase needs apps/controller and apps/broker built (`pnpm build` at the root).
 *
 * Environment (all optional):
 *   PHASES                 producer-alone,consumer-alone,cluster (any subset; default all)
 *   WARMUP_SECONDS         before each measured window (default 1)
 *   SECONDS                measured window of each stub case (default 4)
 *   CLUSTER_SECONDS        measured window of each cluster produce run (default 8)
 *   CONSUME_MIN_SECONDS    a cluster read-back reads the topic from its start again until this
 *                          long has passed (default 3)
 *   CONSUME_SECONDS        most time a cluster read-back may take (default 10)
 *   PARTITIONS             partitions of every topic (default 6)
 *   SMALL_SENDS            concurrent small `send` calls (default 1000)
 *   SMALL_SEND_RECORDS     records in each small `send` (default 5)
 *   LARGE_SEND_BYTES       bytes of values in each large `send` (default 1,000,000)
 *   LARGE_SENDS            large `send` calls in flight (default 4)
 *   CLUSTER_SHAPE          'large' (default) or 'small': the send shape of the cluster runs
 *   CLUSTER_IDEMPOTENT     'false' runs the cluster producer with idempotent: false (default
 *                          idempotent, unless the brokers do not serve /v1/producer-id)
 *   FETCH_RECORDS          records in each of the stub's fetched batches (default 63: 64 KiB
 *                          batches, as the SDK producer's default batchBytes makes)
 *   SDK_CPU_PROF           a folder: write a CPU profile of this process for every measured
 *                          window and print where its time went (adds some overhead, so take
 *                          figures without it)
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createFrameSession } from '@millrace/http';
import { InitProducerIdResponseSchema, Routes } from '@millrace/protocol';
import {
  cpuSecondsByProcess,
  envNumber,
  freePorts,
  machineBusySeconds,
  type Proc,
  type ProcessCluster,
  runningPids,
  spawnNode,
  startProcessCluster,
  stop,
  tail,
  waitFor,
} from '@millrace/test-kit';
import { z } from 'zod';
import type { ConsumedMessage, LogEntry, Message, Millrace, Producer } from '../src/index.js';
import { WindowProfiler } from './profile.js';

const STUB_MAIN = fileURLToPath(new URL('./stub-broker.ts', import.meta.url));
const SDK_DIST = new URL('../dist/index.js', import.meta.url);
const BROKER_MAIN = fileURLToPath(new URL('../../../apps/broker/dist/main.js', import.meta.url));
const CONTROLLER_MAIN = fileURLToPath(new URL('../../../apps/controller/dist/main.js', import.meta.url));

const ALL_PHASES = ['producer-alone', 'consumer-alone', 'cluster'];
const PHASES = new Set((process.env.PHASES ?? ALL_PHASES.join(',')).split(',').map((p) => p.trim()));
for (const phase of PHASES) {
  if (!ALL_PHASES.includes(phase)) throw new Error(`PHASES: "${phase}" is not one of ${ALL_PHASES.join(', ')}`);
}
const WARMUP_SECONDS = envNumber('WARMUP_SECONDS', 1);
const SECONDS = envNumber('SECONDS', 4);
const CLUSTER_SECONDS = envNumber('CLUSTER_SECONDS', 8);
const CONSUME_SECONDS = envNumber('CONSUME_SECONDS', 10);
const CONSUME_MIN_SECONDS = envNumber('CONSUME_MIN_SECONDS', 3);
const PARTITIONS = envNumber('PARTITIONS', 6);
const SMALL_SENDS = envNumber('SMALL_SENDS', 1000);
const SMALL_SEND_RECORDS = envNumber('SMALL_SEND_RECORDS', 5);
const LARGE_SEND_BYTES = envNumber('LARGE_SEND_BYTES', 1_000_000);
const LARGE_SENDS = envNumber('LARGE_SENDS', 4);
const FETCH_RECORDS = envNumber('FETCH_RECORDS', 63);
const CLUSTER_SHAPE_TEXT = process.env.CLUSTER_SHAPE ?? 'large';
if (CLUSTER_SHAPE_TEXT !== 'large' && CLUSTER_SHAPE_TEXT !== 'small') throw new Error('CLUSTER_SHAPE: large or small');
const CLUSTER_SHAPE: Shape = CLUSTER_SHAPE_TEXT;
const PROFILE_FOLDER = process.env.SDK_CPU_PROF;
const CLUSTER_IDEMPOTENT = (process.env.CLUSTER_IDEMPOTENT ?? 'true') !== 'false';
/**
 * The SDK as services run it: compiled by tsc (dist/, which `pnpm bench` builds first through
 * turbo). From src/ through tsx, every function and class carries esbuild's keepNames wrapper,
 * which costs CPU on hot paths; SDK_FROM=src measures the sources anyway (after an edit, say), and
 * SDK_FROM=<path of an index.js> another build (to compare two versions on the same machine).
 */
const SDK_FROM = process.env.SDK_FROM ?? (existsSync(fileURLToPath(SDK_DIST)) ? 'dist' : 'src');
const SDK_URL =
  SDK_FROM === 'dist'
    ? SDK_DIST
    : SDK_FROM === 'src'
      ? new URL('../src/index.js', import.meta.url)
      : pathToFileURL(resolve(SDK_FROM));
const sdk = (await import(SDK_URL.href)) as typeof import('../src/index.js');
/** The goals of issue 6: the SDK alone must never be what bounds a cluster. */
const PRODUCER_GOAL_RECORDS_PER_SECOND = 300_000;
const CONSUMER_GOAL_MB_PER_SECOND = 300;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const profiler = PROFILE_FOLDER === undefined ? undefined : new WindowProfiler(PROFILE_FOLDER);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

// ---------------------------------------------------------------------------------------------
// CPU accounting

interface Snapshot {
  readonly atMs: number;
  readonly machineBusySeconds: number;
  /** CPU seconds of this process (the SDK and the load) and of each child process, by name. */
  readonly byProcess: ReadonlyMap<string, number>;
  readonly elu: ReturnType<typeof performance.eventLoopUtilization>;
}

/** Synchronous, so that it can be taken inside a loop that never yields to the event loop. */
function snapshot(children: ReadonlyMap<string, ChildProcess>): Snapshot {
  const byProcess = cpuSecondsByProcess(runningPids(children), 'sdk');
  return {
    atMs: performance.now(),
    machineBusySeconds: machineBusySeconds(),
    byProcess,
    elu: performance.eventLoopUtilization(),
  };
}

interface Usage {
  readonly seconds: number;
  /** Cores used by this process (the SDK and the load generator). */
  readonly sdkCores: number;
  /** Event-loop utilization of this process over the window. */
  readonly sdkElu: number;
  readonly text: string;
}

/** Cores used between two snapshots: this process, the children grouped by kind, and everything else. */
function usage(before: Snapshot, after: Snapshot): Usage {
  const seconds = (after.atMs - before.atMs) / 1000;
  const used = (name: string) => ((after.byProcess.get(name) ?? 0) - (before.byProcess.get(name) ?? 0)) / seconds;
  const groups = new Map<string, number[]>();
  for (const name of after.byProcess.keys()) {
    if (name === 'sdk') continue;
    const kind = name.replace(/-\d+$/, '');
    groups.set(kind, [...(groups.get(kind) ?? []), used(name)]);
  }
  const sdkCores = used('sdk');
  let ours = sdkCores;
  const parts = [`SDK process ${sdkCores.toFixed(2)}`];
  for (const [kind, cores] of groups) {
    const sum = cores.reduce((a, b) => a + b, 0);
    ours += sum;
    parts.push(
      cores.length === 1
        ? `${kind} ${sum.toFixed(2)}`
        : `${kind}s ${sum.toFixed(2)} (${cores.map((c) => c.toFixed(2)).join(' + ')})`,
    );
  }
  const machine = (after.machineBusySeconds - before.machineBusySeconds) / seconds;
  parts.push(`other processes ${Math.max(0, machine - ours).toFixed(2)}`);
  const sdkElu = performance.eventLoopUtilization(after.elu, before.elu).utilization;
  return { seconds, sdkCores, sdkElu, text: `${parts.join(', ')}; SDK event loop ${(100 * sdkElu).toFixed(0)}% busy` };
}

// ---------------------------------------------------------------------------------------------
// The stub broker

interface Stub {
  readonly proc: Proc;
  readonly bootstrap: string;
}

/** Starts bench/stub-broker.ts in a child process (with this process's TypeScript loader) on a free port. */
async function startStub(): Promise<Stub> {
  const [port] = (await freePorts(1)) as [number];
  // The loader flags tsx gave this process, without a --cpu-prof meant for this one.
  const execArgv = process.execArgv.filter((flag) => !flag.startsWith('--cpu-prof'));
  const proc = spawnNode(
    'stub',
    STUB_MAIN,
    [String(port), String(PARTITIONS), '1024', String(FETCH_RECORDS)],
    undefined,
    execArgv,
  );
  const { child, output } = proc;
  await waitFor(
    `the stub broker to listen\n${output.join('')}`,
    () => {
      if (child.exitCode !== null) throw new Error(`the stub broker exited\n${tail(proc)}`);
      return output.join('').includes(`listening ${port}`);
    },
    20_000,
  );
  return { proc, bootstrap: `127.0.0.1:${port}` };
}

async function stubStats(stub: Stub): Promise<Record<string, number>> {
  const session = createFrameSession(`http://${stub.bootstrap}`);
  try {
    return await session.requestJson({
      method: 'GET',
      path: '/stub/stats',
      responseSchema: z.record(z.string(), z.number()),
      timeoutMs: 5000,
    });
  } finally {
    await session.close();
  }
}

// ---------------------------------------------------------------------------------------------
// What the SDK logged

/**
 * The SDK's log entries at debug and above, counted by message and error code (retries show up
 * here: a batch refused and sent again, a fetch that failed), and printed after each window. The
 * entries on these paths are rare, so debug costs nothing measurable.
 */
const logged = new Map<string, number>();

/** Takes `unknown`: that is how the client's options type `logger`, though entries are LogEntry. */
function countLog(raw: unknown): void {
  const entry = raw as LogEntry;
  const error = entry.fields?.error as { code?: unknown } | undefined;
  const key = `${entry.level} ${entry.namespace}: ${entry.message}${typeof error?.code === 'string' ? ` (${error.code})` : ''}`;
  logged.set(key, (logged.get(key) ?? 0) + 1);
}

/** The entries counted since the last call, as one line (and the counts start again). */
function takeLog(): string {
  const text = [...logged]
    .sort((a, b) => b[1] - a[1])
    .map(([key, count]) => `${count} × ${key}`)
    .join('; ');
  logged.clear();
  return text === '' ? 'nothing at debug or above' : text;
}

const clientLogging = { logLevel: 'debug', logger: countLog } as const;

// ---------------------------------------------------------------------------------------------
// Loads

interface Row {
  readonly phase: string;
  readonly measure: string;
  readonly recordsPerSecond: number;
  readonly mbPerSecond: number;
  readonly extra: string;
  readonly goal: string;
  readonly cpu: string;
  /** What the SDK logged during the run. */
  readonly log: string;
}

const rows: Row[] = [];

function valuesOf(bytes: number): Buffer[] {
  return Array.from({ length: 64 }, () => randomBytes(bytes));
}

const KEYS = Array.from({ length: 10_000 }, (_, i) => `customer-${i}`);

type Shape = 'small' | 'large';

interface ProduceResult {
  readonly records: number;
  readonly recordsPerSecond: number;
  readonly mbPerSecond: number;
  readonly sendP50Ms: number;
  readonly sendP99Ms: number;
  readonly errors: number;
  readonly firstError: string;
  readonly usage: Usage;
  /** Records acknowledged over the whole run, warm-up included. */
  readonly totalAcked: number;
}

/**
 * Runs `shape` sends against `topic` for the warm-up and then `seconds`; counts the records whose
 * `send` resolved inside the measured window.
 *   small: SMALL_SENDS loops, each sending SMALL_SEND_RECORDS keyed records and waiting for them;
 *   large: LARGE_SENDS loops, each sending about LARGE_SEND_BYTES of keyless records.
 */
async function produce(
  name: string,
  producer: Producer,
  topic: string,
  valueBytes: number,
  shape: Shape,
  seconds: number,
  children: ReadonlyMap<string, ChildProcess>,
): Promise<ProduceResult> {
  const values = valuesOf(valueBytes);
  let stopping = false;
  let measuring = false;
  let records = 0;
  let totalAcked = 0;
  let errors = 0;
  let firstError = '';
  const latenciesMs: number[] = [];
  const loops: Promise<void>[] = [];
  const loopCount = shape === 'small' ? SMALL_SENDS : LARGE_SENDS;
  const largeCount = Math.max(1, Math.round(LARGE_SEND_BYTES / valueBytes));
  for (let loop = 0; loop < loopCount; loop++) {
    loops.push(
      (async () => {
        // A large send's messages are made once and sent again and again (the SDK never changes
        // them); small sends are made afresh each time, as a service makes them per request.
        const large: Message[] =
          shape === 'large'
            ? Array.from({ length: largeCount }, (_, i) => ({ value: values[(loop + i) % values.length] as Buffer }))
            : [];
        let next = loop * SMALL_SEND_RECORDS;
        while (!stopping) {
          let messages = large;
          if (shape === 'small') {
            messages = [];
            for (let i = 0; i < SMALL_SEND_RECORDS; i++, next++) {
              messages.push({
                key: KEYS[next % KEYS.length] as string,
                value: values[next % values.length] as Buffer,
              });
            }
          }
          const startMs = performance.now();
          try {
            await producer.send({ topic, messages });
          } catch (error) {
            errors++;
            firstError ||= String(error);
            await sleep(50);
            continue;
          }
          totalAcked += messages.length;
          if (measuring) {
            records += messages.length;
            latenciesMs.push(performance.now() - startMs);
          }
        }
      })(),
    );
  }
  await sleep(WARMUP_SECONDS * 1000);
  await profiler?.start();
  const before = snapshot(children);
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  const after = snapshot(children);
  const profile = await profiler?.stop(name);
  stopping = true;
  await Promise.all(loops);
  await producer.flush();
  const used = usage(before, after);
  latenciesMs.sort((a, b) => a - b);
  const recordsPerSecond = records / used.seconds;
  for (const line of profile ?? []) console.log(`  ${line}`);
  return {
    records,
    recordsPerSecond,
    mbPerSecond: (recordsPerSecond * valueBytes) / 1e6,
    sendP50Ms: percentile(latenciesMs, 50),
    sendP99Ms: percentile(latenciesMs, 99),
    errors,
    firstError,
    usage: used,
    totalAcked,
  };
}

/** CPU time of this process per record: steadier than a rate when the machine is shared. */
function cpuPerRecord(used: Usage, recordsPerSecond: number): string {
  return `SDK CPU ${((used.sdkCores / recordsPerSecond) * 1e6).toFixed(2)} µs/record`;
}

function shapeText(shape: Shape, valueBytes: number): string {
  return shape === 'small'
    ? `${SMALL_SENDS} concurrent sends of ${SMALL_SEND_RECORDS} keyed records`
    : `${LARGE_SENDS} concurrent sends of ${Math.round(LARGE_SEND_BYTES / valueBytes).toLocaleString('en-US')} keyless records`;
}

function produceRow(phase: string, valueBytes: number, shape: Shape, result: ProduceResult, goal: string): void {
  rows.push({
    phase,
    measure: `produce ${valueBytes === 100 ? '100 B' : '1 KiB'}, ${shapeText(shape, valueBytes)}`,
    recordsPerSecond: result.recordsPerSecond,
    mbPerSecond: result.mbPerSecond,
    extra:
      `${cpuPerRecord(result.usage, result.recordsPerSecond)}; ` +
      `send p50 ${result.sendP50Ms.toFixed(1)} ms, p99 ${result.sendP99Ms.toFixed(1)} ms` +
      (result.errors > 0 ? `; ${result.errors} failed sends (first: ${result.firstError.slice(0, 160)})` : ''),
    goal,
    cpu: result.usage.text,
    log: takeLog(),
  });
  console.log(rows.at(-1));
}

interface ConsumeResult {
  readonly records: number;
  readonly recordsPerSecond: number;
  readonly mbPerSecond: number;
  readonly usage: Usage;
  /** Times the topic was read from its start (with `pass`). */
  readonly passes: number;
}

/**
 * Reads `topic` from its start with `style` for the warm-up and then `seconds`, counting records
 * and value bytes in the window. With `pass` (the records the topic holds) there is no warm-up:
 * the topic is read from its start, again and again (a seek to offset 0 after each pass), until
 * CONSUME_MIN_SECONDS have passed at the end of a pass, or `seconds` at most. The clock is read
 * every 256 records: handing over buffered records never returns to the event loop, so timers
 * would fire late.
 */
async function consume(
  name: string,
  client: Millrace,
  topic: string,
  style: 'iterator' | 'eachBatch',
  seconds: number,
  children: ReadonlyMap<string, ChildProcess>,
  pass?: number,
): Promise<ConsumeResult> {
  // A read-back in passes asks for no long poll: at the end of a pass the fetch in flight would
  // otherwise wait maxWaitMs for records that never come before the seek back is served.
  const consumer = client.consumer({ autoOffsetReset: 'earliest', ...(pass === undefined ? {} : { maxWaitMs: 0 }) });
  await consumer.assign([{ topic }]);
  const startMs = performance.now();
  const warmupMs = pass === undefined ? WARMUP_SECONDS * 1000 : 0;
  let before: Snapshot | undefined;
  let after: Snapshot | undefined;
  let records = 0;
  let bytes = 0;
  let seen = 0;
  let passes = 1;
  if (pass === undefined) {
    // A read that only ends on time needs the clock even when no record comes.
    setTimeout(() => void consumer.close(), warmupMs + seconds * 1000 + 10_000).unref();
  } else {
    setTimeout(() => void consumer.close(), seconds * 1000).unref();
  }
  /** Moves the window on; true once it is over. */
  const tick = async (): Promise<boolean> => {
    const nowMs = performance.now();
    if (before === undefined && nowMs - startMs >= warmupMs) {
      await profiler?.start();
      before = snapshot(children);
    }
    if (before !== undefined && nowMs - before.atMs >= seconds * 1000) {
      after = snapshot(children);
      return true;
    }
    return false;
  };
  /** At the end of a pass: true if the read is over, else back to offset 0 for another. */
  const passDone = (): boolean => {
    if (before !== undefined && performance.now() - before.atMs >= CONSUME_MIN_SECONDS * 1000) {
      after = snapshot(children);
      return true;
    }
    passes++;
    for (const tp of consumer.assignment()) consumer.seek(tp, 0n);
    return false;
  };
  const count = (message: ConsumedMessage) => {
    seen++;
    if (before === undefined) return;
    records++;
    bytes += message.value?.length ?? 0;
  };
  await tick();
  if (style === 'iterator') {
    for await (const message of consumer) {
      count(message);
      if ((seen & 255) === 0 && (await tick())) break;
      if (pass !== undefined && seen >= pass * passes && passDone()) break;
    }
  } else {
    await consumer.run({
      eachBatch: async (batch) => {
        for (const message of batch.messages) count(message);
        if (await tick()) void consumer.close();
      },
    });
  }
  after ??= snapshot(children);
  const profile = before === undefined ? undefined : await profiler?.stop(name);
  await consumer.close();
  for (const line of profile ?? []) console.log(`  ${line}`);
  const used = usage(before ?? after, after);
  return {
    records,
    recordsPerSecond: records / used.seconds,
    mbPerSecond: bytes / 1e6 / used.seconds,
    usage: used,
    passes,
  };
}

function consumeRow(phase: string, measure: string, result: ConsumeResult, goal: string): void {
  rows.push({
    phase,
    measure,
    recordsPerSecond: result.recordsPerSecond,
    mbPerSecond: result.mbPerSecond,
    extra:
      `${cpuPerRecord(result.usage, result.recordsPerSecond)}; ` +
      `${result.records.toLocaleString('en-US')} records in ${result.usage.seconds.toFixed(2)} s` +
      (result.passes > 1 ? ` (${result.passes} passes over the topic)` : ''),
    goal,
    cpu: result.usage.text,
    log: takeLog(),
  });
  console.log(rows.at(-1));
}

function load(): string {
  return `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

// ---------------------------------------------------------------------------------------------
// Phases

function producerGoal(valueBytes: number, recordsPerSecond: number): string {
  if (valueBytes !== 100) return '';
  const goal = PRODUCER_GOAL_RECORDS_PER_SECOND.toLocaleString('en-US');
  return `≥ ${goal} records/s: ${recordsPerSecond >= PRODUCER_GOAL_RECORDS_PER_SECOND ? 'met' : 'not met'}`;
}

async function producerAlone(stub: Stub, children: ReadonlyMap<string, ChildProcess>): Promise<void> {
  const client = new sdk.Millrace({ bootstrap: [stub.bootstrap], ...clientLogging });
  try {
    for (const [valueBytes, shape] of [
      [100, 'small'],
      [100, 'large'],
      [1024, 'small'],
      [1024, 'large'],
    ] as const) {
      console.log(`producer-alone: ${valueBytes} B, ${shapeText(shape, valueBytes)} (${load()})`);
      const producer = client.producer({ acks: 'all', idempotent: true });
      const result = await produce(
        `producer-alone-${valueBytes}-${shape}`,
        producer,
        `alone-${valueBytes}-${shape}`,
        valueBytes,
        shape,
        SECONDS,
        children,
      );
      await producer.close();
      produceRow('producer-alone', valueBytes, shape, result, producerGoal(valueBytes, result.recordsPerSecond));
    }
  } finally {
    await client.close();
  }
  const stats = await stubStats(stub);
  console.log(
    `stub broker saw ${stats.produceRequests} produce requests, ${stats.producedBatches} batches, ` +
      `${stats.producedRecords} records; ${stats.sequencesOutOfOrder} batches arrived out of sequence order, ` +
      `${stats.sequenceHoles} holes in the sequences once all arrived`,
  );
  if (stats.sequenceHoles !== 0) console.log('WARNING: the idempotent producer numbered its batches wrongly');
}

async function consumerAlone(stub: Stub, children: ReadonlyMap<string, ChildProcess>): Promise<void> {
  const client = new sdk.Millrace({ bootstrap: [stub.bootstrap], ...clientLogging });
  try {
    for (const style of ['iterator', 'eachBatch'] as const) {
      console.log(`consumer-alone: ${style} (${load()})`);
      const result = await consume(`consumer-alone-${style}`, client, `alone-fetch-${style}`, style, SECONDS, children);
      const goal = `≥ ${CONSUMER_GOAL_MB_PER_SECOND} MB/s: ${result.mbPerSecond >= CONSUMER_GOAL_MB_PER_SECOND ? 'met' : 'not met'}`;
      consumeRow(
        'consumer-alone',
        `consume 1 KiB, ${style === 'iterator' ? '`for await` over messages' : 'run({ eachBatch })'} (batches of ${FETCH_RECORDS})`,
        result,
        goal,
      );
    }
  } finally {
    await client.close();
  }
}

/** Whether the brokers serve POST /v1/producer-id (an idempotent producer needs it). */
async function brokersServeProducerIds(origin: string): Promise<string | undefined> {
  const session = createFrameSession(origin);
  try {
    await session.requestJson({
      method: 'POST',
      path: Routes.initProducerId,
      body: {},
      responseSchema: InitProducerIdResponseSchema,
      timeoutMs: 10_000,
    });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await session.close();
  }
}

async function clusterPhase(): Promise<void> {
  if (!existsSync(BROKER_MAIN) || !existsSync(CONTROLLER_MAIN)) {
    console.log(`cluster: skipped, ${BROKER_MAIN} or ${CONTROLLER_MAIN} is missing (run pnpm build at the root)`);
    return;
  }
  const cluster: ProcessCluster = await startProcessCluster({
    controllerMain: CONTROLLER_MAIN,
    brokerMain: BROKER_MAIN,
    controllers: 3,
    brokers: 3,
    logLevel: 'warn',
  });
  const onSignal = () => {
    void cluster.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const client = new sdk.Millrace({ bootstrap: cluster.bootstrap, token: cluster.adminToken, ...clientLogging });
  try {
    await cluster.waitReady(60_000);
    const children = new Map([...cluster.procs].map(([name, proc]) => [name, proc.child]));
    const refusal = CLUSTER_IDEMPOTENT
      ? await brokersServeProducerIds(cluster.origin('broker', 1))
      : 'CLUSTER_IDEMPOTENT=false';
    const idempotent = refusal === undefined;
    const mode = idempotent ? 'acks all, idempotent' : 'acks all, NOT idempotent';
    if (!idempotent && CLUSTER_IDEMPOTENT) {
      console.log(
        `cluster: the brokers do not serve ${Routes.initProducerId} (${refusal}); the producer runs with idempotent: false`,
      );
    }
    const admin = client.admin();
    for (const valueBytes of [100, 1024]) {
      const topic = `sdk-${valueBytes}`;
      await admin.createTopic({
        name: topic,
        partitions: PARTITIONS,
        replicationFactor: 3,
        configs: { 'min.insync.replicas': '2' },
      });
      await waitFor(
        `${topic}: every partition led, ISR of 3`,
        async () => (await admin.describeTopic(topic)).partitions.every((p) => p.leader !== null && p.isr.length === 3),
        30_000,
      );
      console.log(`cluster: produce ${valueBytes} B, ${shapeText(CLUSTER_SHAPE, valueBytes)}, ${mode} (${load()})`);
      const producer = client.producer({ acks: 'all', idempotent });
      const result = await produce(
        `cluster-produce-${valueBytes}`,
        producer,
        topic,
        valueBytes,
        CLUSTER_SHAPE,
        CLUSTER_SECONDS,
        children,
      );
      await producer.close();
      produceRow(`cluster (${mode})`, valueBytes, CLUSTER_SHAPE, result, '');
      console.log(`cluster: read back ${result.totalAcked.toLocaleString('en-US')} records of ${topic} (${load()})`);
      const read = await consume(
        `cluster-consume-${valueBytes}`,
        client,
        topic,
        'iterator',
        CONSUME_SECONDS,
        children,
        result.totalAcked,
      );
      consumeRow(
        'cluster',
        `consume ${valueBytes === 100 ? '100 B' : '1 KiB'}, \`for await\`, what was produced, from offset 0`,
        read,
        read.records < result.totalAcked
          ? `read ${read.records} of ${result.totalAcked} within ${CONSUME_SECONDS} s`
          : '',
      );
    }
  } finally {
    await client.close();
    await cluster.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function printTable(): void {
  const header = ['phase', 'measure', 'records/s', 'MB/s', 'detail', 'goal'];
  const cells = rows.map((r) => [
    r.phase,
    r.measure,
    Math.round(r.recordsPerSecond).toLocaleString('en-US'),
    r.mbPerSecond.toFixed(1),
    r.extra,
    r.goal,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const right = new Set([2, 3]);
  const format = (line: readonly string[]) =>
    `| ${line.map((c, i) => (right.has(i) ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join(' | ')} |`;
  console.log(format(header));
  console.log(`| ${widths.map((w, i) => (right.has(i) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`);
  for (const line of cells) console.log(format(line));
  console.log('\nCPU in cores over each measured window (the machine has 2):');
  for (const r of rows) console.log(`- ${r.phase}, ${r.measure}: ${r.cpu}`);
  console.log('\nWhat the SDK logged during each run (warm-up included):');
  for (const r of rows) console.log(`- ${r.phase}, ${r.measure}: ${r.log}`);
}

async function main(): Promise<void> {
  console.log(
    `sdk bench: phases ${[...PHASES].join(', ')}; SDK from ${SDK_FROM}; ${PARTITIONS} partitions; ` +
      `Node ${process.version}; ${load()}`,
  );
  if (SDK_FROM === 'src') console.log('NOTE: the SDK runs from src/ through tsx: slower than the built dist/');
  // A fresh stub for each: the producer phases leave the stub holding every batch's sequence
  // range for its checks, and a stub carrying that heap into the consumer phase spent most of a
  // core collecting it (0.94-0.97 cores against 0.35-0.43 fresh), which bounded the consumer.
  for (const [phase, run] of [
    ['producer-alone', producerAlone],
    ['consumer-alone', consumerAlone],
  ] as const) {
    if (!PHASES.has(phase)) continue;
    const stub = await startStub();
    const children = new Map([['stub', stub.proc.child]]);
    try {
      await run(stub, children);
    } finally {
      await stop(stub.proc, 5000);
    }
  }
  if (PHASES.has('cluster')) await clusterPhase();
  profiler?.close();
  console.log('');
  printTable();
}

await main();
