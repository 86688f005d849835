/**
 * `pnpm bench` (issue 7): a fresh local cluster measured through the client SDK, as a user's
 * service would see it, and the table written to BENCHMARKS.md.
 *
 * Starts three controllers and three brokers (apps/*\/dist/main.js, their default settings, log
 * level warn) on loopback through test-kit, makes one `Millrace` client in this process and runs:
 *   1. produce: 100 B and 1 KiB records at acks=all (idempotent, the SDK's default) and at acks=1
 *      (idempotent: false, which acks 1 needs): records/s, MB/s, send → ack p50 / p99;
 *   2. consume: the 1 KiB acks=all topic read back from offset 0, `for await` and `eachBatch`;
 *   3. latency: open-loop sends of one 100 B record each at fixed rates, send time in the value,
 *      a consumer tailing the topic: send → ack and end to end, p50 / p99 / p99.9;
 *   4. failover: kill -9 of a partition leader under a producer → the first acknowledged write
 *      from the new leader on each partition it led; the broker restarted and back in every ISR
 *      between trials; median and max.
 * Each phase's method is in its file under phases/. Every figure comes from this run: a phase
 * that fails says so in its row. The cores the cluster, this process and everything else used in
 * each measured window go in the table too (they share the machine's cores).
 *
 * Progress goes to stderr (one redrawn line on a terminal, a line per step otherwise); the table
 * to stdout, then into BENCHMARKS.md between `<!-- pnpm bench: start -->` and
 * `<!-- pnpm bench: end -->` (created before the first section if absent; nothing else in the
 * file changes). Every process started is stopped by its PID at the end, on an error and on
 * Ctrl-C, and the cluster's temp folder removed. The default run takes about 2.5 minutes.
 *
 *   npx -y pnpm@10.34.8 bench          (from the repository root: builds, then this file)
 *
 * Environment (all optional):
 *   PHASES           produce,consume,latency,failover (any subset, run in this order; consume
 *                    reads the 1 KiB acks=all topic produce wrote, or writes one itself)
 *   BENCH_SCALE      multiplies every window and the failover trial count (default 1; 0.25 for a
 *                    quick look, 3 for steadier figures)
 *   PARTITIONS       partitions of every topic (default 6: two led by each broker)
 *   WARMUP_SECONDS   before each measured produce and latency window (default 2)
 *   PRODUCE_SECONDS  measured window of each produce run (default 8)
 *   SEND_BYTES       bytes of values in each `send` of a produce run (default 262144)
 *   SENDS_IN_FLIGHT  `send` calls a produce run keeps in flight (default 16)
 *   CONSUME_SECONDS  the read-back goes over the topic again until this long has passed (default 3)
 *   LATENCY_SECONDS  measured window of each latency run (default 8)
 *   LATENCY_RATES    records/s of the latency runs (default 1000,5000)
 *   FAILOVER_TRIALS  kill -9 trials (default 3)
 *   BENCH_WRITE      false: print the table, leave BENCHMARKS.md alone (default true)
 *   BENCHMARKS_FILE  the file to write (default the repository's BENCHMARKS.md)
 *   BENCH_NOTE       a sentence the section carries (say, that the machine was busy)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Millrace } from '@millrace/client';
import { type ProcessCluster, warningsLogged } from '@millrace/test-kit';
import { LogCounter, startCluster } from './cluster.js';
import { describeLoad, describeMachine, readMachine } from './machine.js';
import { consumeThroughput } from './phases/consume.js';
import { errorText, type PhaseContext, sizeText } from './phases/context.js';
import { failover } from './phases/failover.js';
import { latencyAtRate } from './phases/latency.js';
import { type Acks, produceThroughput } from './phases/produce.js';
import { Progress, type Step } from './progress.js';
import { buildSection, formatTable, type Row, replaceSection } from './report.js';
import { readSettings, type Settings, variablesSet } from './settings.js';
import { formatDuration } from './stats.js';

const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_BENCHMARKS_FILE = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));
const PRODUCE_RUNS: readonly (readonly [number, Acks])[] = [
  [100, 'all'],
  [100, 1],
  [1024, 'all'],
  [1024, 1],
];
/** The topic the consume phase reads back (written by the 1 KiB acks=all produce run). */
const CONSUME_VALUE_BYTES = 1024;

function produceLabel(valueBytes: number, acks: Acks): string {
  return `produce ${sizeText(valueBytes)}, acks=${acks}`;
}

/** The run's steps with rough durations, for the progress bar. */
function plan(settings: Settings): Step[] {
  const steps: Step[] = [{ label: 'start the cluster', expectedSeconds: 8 }];
  const produceSeconds = settings.warmupSeconds + settings.produceSeconds + 2;
  if (settings.phases.has('produce')) {
    for (const [bytes, acks] of PRODUCE_RUNS)
      steps.push({ label: produceLabel(bytes, acks), expectedSeconds: produceSeconds });
  }
  if (settings.phases.has('consume')) {
    if (!settings.phases.has('produce')) {
      steps.push({ label: produceLabel(CONSUME_VALUE_BYTES, 'all'), expectedSeconds: produceSeconds });
    }
    steps.push({ label: 'consume', expectedSeconds: 2 * (settings.consumeSeconds + 1) });
  }
  if (settings.phases.has('latency')) {
    for (const rate of settings.latencyRates) {
      steps.push({ label: latencyLabel(rate), expectedSeconds: settings.warmupSeconds + settings.latencySeconds + 3 });
    }
  }
  if (settings.phases.has('failover')) steps.push({ label: 'failover', expectedSeconds: 12 * settings.failoverTrials });
  steps.push({ label: 'stop the cluster', expectedSeconds: 3 });
  return steps;
}

function latencyLabel(rate: number): string {
  return `latency at ${rate.toLocaleString('en-US')} records/s`;
}

/** The commit the run was built from, and whether the sources differed from it. */
function buildDescription(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPOSITORY, encoding: 'utf8' }).trim();
    const changed = execFileSync('git', ['status', '--porcelain', '--', 'apps', 'packages'], {
      cwd: REPOSITORY,
      encoding: 'utf8',
    }).trim();
    return changed === '' ? `build of ${commit}` : `build of ${commit} with uncommitted changes in apps/ or packages/`;
  } catch {
    return 'build of an unknown commit';
  }
}

/** "2026-11-21 12:34 UTC". */
function utcMinute(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function method(settings: Settings): string[] {
  const s = (seconds: number) => `${Number(seconds.toFixed(2))} s`;
  const lines: string[] = [];
  if (settings.phases.has('produce')) {
    lines.push(
      `_Produce_: ${settings.sendsInFlight} \`send\` calls in flight, each of ${Math.round(settings.sendBytes / 1024)} KiB of ` +
        'keyless records with random values, each loop sending again as soon as its `send` resolves; the producer has ' +
        "its defaults (5 ms linger, 64 KiB batches, 5 requests in flight per broker), acks 'all' with idempotence (the " +
        'default) or acks 1 with `idempotent: false` (the SDK refuses acks 1 with idempotence, and a plain producer keeps ' +
        `one batch per partition in flight). ${s(settings.warmupSeconds)} warm-up, then the records of the sends that ` +
        `resolve in ${s(settings.produceSeconds)} are counted; send → ack is each such send's time from the call to its ` +
        'promise resolving. MB/s = 10^6 bytes of record values.',
    );
  }
  if (settings.phases.has('consume')) {
    lines.push(
      '_Consume_: a consumer assigned every partition of the 1 KiB acks=all topic reads it from offset 0 (`for await`, ' +
        'then `run({ eachBatch })`), going over it again from offset 0 after each full pass until ' +
        `${s(settings.consumeSeconds)} have passed; consumer defaults (1 MiB per partition per fetch) except ` +
        '`maxWaitMs: 0`, so that the end of a pass does not wait on a long poll.',
    );
  }
  if (settings.phases.has('latency')) {
    lines.push(
      `_Latency_: at each rate, open loop: every millisecond the records due are sent, one 100 B record per \`send\`, ` +
        'with the producer’s defaults (acks all, idempotent, 5 ms linger); the send time travels in the value; a ' +
        'consumer with its defaults (long poll, `minBytes` 1) tails the topic with `for await` in the same process. ' +
        `${s(settings.warmupSeconds)} warm-up, then ${s(settings.latencySeconds)} measured.`,
    );
  }
  if (settings.phases.has('failover')) {
    lines.push(
      '_Failover_: a producer with its defaults sends one 100 B record to each partition every 10 ms (open loop); ' +
        'kill -9 of the leader of one partition (another each trial); a trial’s figure is the time from the kill until ' +
        'every partition that broker led has acknowledged a record sent after the kill. The broker is restarted and back ' +
        `in every ISR between trials; ${settings.failoverTrials} trials.`,
    );
  }
  return lines;
}

async function runPhases(context: PhaseContext, rows: Row[], notes: string[], stopped: AbortSignal): Promise<void> {
  const { settings, progress, sdkLog } = context;
  /**
   * Runs one step; a failure becomes its rows' result, and the run goes on with the next. After
   * Ctrl-C nothing more starts, and what fails because the cluster is being stopped is not reported.
   */
  const attempt = async (label: string, measures: readonly string[], body: () => Promise<void>) => {
    if (stopped.aborted) return;
    progress.step(label);
    sdkLog.take();
    try {
      await body();
    } catch (error) {
      if (stopped.aborted) return;
      const text = `failed: ${errorText(error)}`;
      for (const measure of measures) rows.push({ measure, result: text, goal: '', cores: '' });
      progress.log(`${label}: ${text}`);
    }
    const logged = sdkLog.take();
    if (logged !== '') notes.push(`${label}: the SDK logged ${logged}`);
  };

  let consumeTopic: string | undefined;
  const produce = async (valueBytes: number, acks: Acks) => {
    const label = produceLabel(valueBytes, acks);
    await attempt(label, [label], async () => {
      const outcome = await produceThroughput(context, valueBytes, acks);
      rows.push(outcome.row);
      notes.push(outcome.note);
      progress.log(`${outcome.row.measure}: ${outcome.row.result}`);
      if (valueBytes === CONSUME_VALUE_BYTES && acks === 'all') consumeTopic = outcome.topic;
    });
  };
  if (settings.phases.has('produce')) for (const [bytes, acks] of PRODUCE_RUNS) await produce(bytes, acks);
  if (settings.phases.has('consume')) {
    if (!settings.phases.has('produce')) await produce(CONSUME_VALUE_BYTES, 'all');
    for (const style of ['for await', 'eachBatch'] as const) {
      const measure = `consume ${sizeText(CONSUME_VALUE_BYTES)}, ${style}`;
      await attempt('consume', [measure], async () => {
        if (consumeTopic === undefined) throw new Error('the 1 KiB acks=all produce run wrote nothing to read');
        const outcome = await consumeThroughput(context, consumeTopic, CONSUME_VALUE_BYTES, style);
        rows.push(outcome.row);
        notes.push(outcome.note);
        progress.log(`${outcome.row.measure}: ${outcome.row.result}`);
      });
    }
  }
  if (settings.phases.has('latency')) {
    for (const rate of settings.latencyRates) {
      const label = latencyLabel(rate);
      await attempt(label, [`${label}: send → ack`, `${label}: end to end`], async () => {
        const outcome = await latencyAtRate(context, rate);
        rows.push(...outcome.rows);
        notes.push(outcome.note);
        for (const row of outcome.rows) progress.log(`${row.measure}: ${row.result}`);
      });
    }
  }
  if (settings.phases.has('failover')) {
    await attempt('failover', ['failover: kill -9 of a leader → first acknowledged write'], async () => {
      const outcome = await failover(context);
      rows.push(...outcome.rows);
      notes.push(...outcome.notes);
    });
  }
}

async function main(): Promise<number> {
  const settings = readSettings(process.env);
  const machine = readMachine();
  const startedAt = new Date();
  const progress = new Progress(plan(settings));
  const sdkLog = new LogCounter();
  const rows: Row[] = [];
  const notes: string[] = [];
  let cluster: ProcessCluster | undefined;
  let client: Millrace | undefined;
  let warnings: string[] = [];

  // Stops what this run started, once, whichever way the run ends.
  let closing: Promise<void> | undefined;
  const closeAll = () => {
    closing ??= (async () => {
      await client?.close().catch(() => undefined);
      if (cluster !== undefined) warnings = warningsLogged(cluster.procs);
      await cluster?.close();
    })();
    return closing;
  };
  const stopping = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    stopping.abort();
    progress.stop();
    process.stderr.write(`${signal}: stopping the cluster\n`);
    void closeAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    progress.step('start the cluster');
    cluster = await startCluster();
    await cluster.waitReady(60_000);
    progress.log(`cluster: 3 controllers and 3 brokers, data in ${cluster.root}`);
    client = new Millrace({
      bootstrap: cluster.bootstrap,
      clientId: 'millrace-bench',
      token: cluster.adminToken,
      logLevel: 'debug',
      logger: sdkLog.sink,
    });
    const context: PhaseContext = { cluster, client, admin: client.admin(), settings, progress, sdkLog };
    await runPhases(context, rows, notes, stopping.signal);
    progress.step('stop the cluster');
  } catch (error) {
    // The cluster did not start (a phase's own failure is caught in its row).
    rows.push({ measure: 'the cluster', result: `failed: ${errorText(error)}`, goal: '', cores: '' });
  } finally {
    await closeAll();
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const runSeconds = progress.elapsedSeconds;
  const table = formatTable(rows);
  const failed = rows.some((r) => r.result.startsWith('failed'));
  const env = variablesSet(process.env);
  const section = buildSection({
    title: 'pnpm bench — the local cluster through the SDK',
    preamble: [
      'What a user gets from a fresh local cluster through `@millrace/client`. Written by `pnpm bench` ' +
        '(bench/src/main.ts) at the end of each run: the next run replaces this section, between its markers, and ' +
        'nothing else in this file. Every figure below comes from the run described here.',
      [
        `- Command: \`npx -y pnpm@10.34.8 bench\` from the repository root (builds, then runs bench/src/main.ts)` +
          (env.length === 0 ? ', default settings.' : `, with ${env.map((e) => `\`${e}\``).join(', ')}.`) +
          ' `BENCH_SCALE` (multiplies every window and the trial count), `PRODUCE_SECONDS`, `LATENCY_RATES`, ' +
          '`FAILOVER_TRIALS` and the other variables in the header of bench/src/main.ts lengthen or shorten it.',
        `- Machine: ${describeMachine(machine)}; load average at the start ${describeLoad(machine.loadAverage)}.`,
        `- Date: ${utcMinute(startedAt)}, ${buildDescription()}; the run took ${formatDuration(runSeconds)}.`,
        ...(settings.note === undefined ? [] : [`- Note: ${settings.note}`]),
        '- Cluster: 3 controllers and 3 brokers (apps/*/dist/main.js) with their default settings, log level warn, on ' +
          `loopback; topics of ${settings.partitions} partitions, \`replication.factor\` 3, \`min.insync.replicas\` 2. ` +
          'One SDK client (`@millrace/client`, dist/) in the bench process, which shares the cores with the cluster.',
        ...method(settings).map((line) => `- ${line}`),
      ].join('\n'),
    ],
    table,
    notes: [
      'Cores: the CPU used in each measured window, in cores: the six cluster processes / the bench process (the ' +
        'SDK and the load) / every other process on the machine.',
      // A blank line between a paragraph and its list, as Biome formats Markdown (pnpm lint checks it).
      ['From this run:', '', ...notes.map((n) => `- ${n}`)].join('\n'),
      [
        'Logged at warn and above by the cluster’s processes:',
        '',
        ...(warnings.length === 0 ? ['- nothing'] : warnings.slice(0, 8).map((w) => `- ${w}`)),
      ].join('\n'),
    ],
  });

  process.stdout.write(`\n${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
  if (warnings.length > 0) process.stdout.write(`\nThe cluster logged:\n${warnings.map((w) => `- ${w}`).join('\n')}\n`);
  process.stdout.write(`\nRun time ${formatDuration(runSeconds)}.\n`);

  const clusterStarted = !rows.some((r) => r.measure === 'the cluster');
  if (settings.write && clusterStarted) {
    const file = settings.benchmarksFile ?? DEFAULT_BENCHMARKS_FILE;
    let document = '';
    try {
      document = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    writeFileSync(file, replaceSection(document, section));
    process.stdout.write(`Written to ${file}.\n`);
  } else if (settings.write) {
    process.stdout.write('BENCHMARKS.md left as it was: the cluster did not start.\n');
  }
  return failed || !clusterStarted ? 1 : 0;
}

process.exitCode = await main();
