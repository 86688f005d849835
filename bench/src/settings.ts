/**
 * What a run measures and for how long, read from the environment (documented in main.ts's
 * header and in the BENCHMARKS.md section). Pure: the environment comes in as an argument, and a
 * bad value throws naming the variable, never falls back silently.
 */

export const ALL_PHASES = ['produce', 'consume', 'latency', 'failover'] as const;
export type PhaseName = (typeof ALL_PHASES)[number];

export interface Settings {
  readonly phases: ReadonlySet<PhaseName>;
  /** Multiplies every window and the failover trial count (already applied to the fields below). */
  readonly scale: number;
  readonly partitions: number;
  readonly warmupSeconds: number;
  readonly produceSeconds: number;
  /** Bytes of record values in each `send` of the throughput runs. */
  readonly sendBytes: number;
  /** `send` calls each throughput run keeps in flight. */
  readonly sendsInFlight: number;
  readonly consumeSeconds: number;
  readonly latencySeconds: number;
  /** Records per second of each latency run, in order. */
  readonly latencyRates: readonly number[];
  readonly failoverTrials: number;
  /** Whether the table goes into BENCHMARKS.md (it is printed either way). */
  readonly write: boolean;
  /** The file to write; undefined means the repository's BENCHMARKS.md. */
  readonly benchmarksFile: string | undefined;
  /** A sentence for the section from whoever ran it (the machine was busy, say). */
  readonly note: string | undefined;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** The variables a run reads, with their defaults, in the order the docs list them. */
export const VARIABLES = [
  ['PHASES', ALL_PHASES.join(','), 'phases to run (any subset; consume reads what produce wrote)'],
  ['BENCH_SCALE', '1', 'multiplies every window and the failover trial count (0.25 for a quick look)'],
  ['PARTITIONS', '6', 'partitions of every topic'],
  ['WARMUP_SECONDS', '2', 'before each measured produce and latency window'],
  ['PRODUCE_SECONDS', '8', 'measured window of each produce run'],
  ['SEND_BYTES', '262144', 'bytes of values in each `send` of a produce run'],
  ['SENDS_IN_FLIGHT', '16', '`send` calls a produce run keeps in flight'],
  ['CONSUME_SECONDS', '3', 'the read-back goes over the topic again until this long has passed'],
  ['LATENCY_SECONDS', '8', 'measured window of each latency run'],
  ['LATENCY_RATES', '1000,5000', 'records/s of the latency runs'],
  ['FAILOVER_TRIALS', '3', 'kill -9 trials'],
  ['BENCH_WRITE', 'true', '`false` prints the table without writing BENCHMARKS.md'],
  ['BENCHMARKS_FILE', '(the repository’s BENCHMARKS.md)', 'where the section is written'],
  ['BENCH_NOTE', '(none)', 'a sentence the section carries (the machine was busy, say)'],
] as const;

/** The variables that change what is measured (the others only change where the report goes). */
const MEASURING = new Set([
  'PHASES',
  'BENCH_SCALE',
  'PARTITIONS',
  'WARMUP_SECONDS',
  'PRODUCE_SECONDS',
  'SEND_BYTES',
  'SENDS_IN_FLIGHT',
  'CONSUME_SECONDS',
  'LATENCY_SECONDS',
  'LATENCY_RATES',
  'FAILOVER_TRIALS',
]);

function text(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function positive(env: Environment, name: string, fallback: number, integer: boolean): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  const ok = Number.isFinite(value) && value > 0 && (!integer || Number.isSafeInteger(value));
  if (!ok) throw new Error(`${name}=${raw}: expected a positive ${integer ? 'integer' : 'number'}`);
  return value;
}

export function readSettings(env: Environment): Settings {
  const phaseText = text(env, 'PHASES');
  const phases = new Set<PhaseName>();
  for (const name of (phaseText ?? ALL_PHASES.join(',')).split(',').map((p) => p.trim())) {
    if (!(ALL_PHASES as readonly string[]).includes(name)) {
      throw new Error(`PHASES: "${name}" is not one of ${ALL_PHASES.join(', ')}`);
    }
    phases.add(name as PhaseName);
  }
  const scale = positive(env, 'BENCH_SCALE', 1, false);
  const seconds = (name: string, fallback: number) => positive(env, name, fallback, false) * scale;
  const rates = (text(env, 'LATENCY_RATES') ?? '1000,5000').split(',').map((r) => {
    const rate = Number(r.trim());
    if (!Number.isSafeInteger(rate) || rate <= 0) {
      throw new Error(`LATENCY_RATES: "${r.trim()}" is not a positive integer (records/s)`);
    }
    return rate;
  });
  const write = text(env, 'BENCH_WRITE') ?? 'true';
  if (write !== 'true' && write !== 'false') throw new Error(`BENCH_WRITE=${write}: expected true or false`);
  return {
    phases,
    scale,
    partitions: positive(env, 'PARTITIONS', 6, true),
    warmupSeconds: seconds('WARMUP_SECONDS', 2),
    produceSeconds: seconds('PRODUCE_SECONDS', 8),
    sendBytes: positive(env, 'SEND_BYTES', 262_144, true),
    sendsInFlight: positive(env, 'SENDS_IN_FLIGHT', 16, true),
    consumeSeconds: seconds('CONSUME_SECONDS', 3),
    latencySeconds: seconds('LATENCY_SECONDS', 8),
    latencyRates: rates,
    failoverTrials: Math.max(1, Math.round(positive(env, 'FAILOVER_TRIALS', 3, true) * scale)),
    write: write === 'true',
    benchmarksFile: text(env, 'BENCHMARKS_FILE'),
    note: text(env, 'BENCH_NOTE'),
  };
}

/** The variables set that change what is measured, as `NAME=value` (empty when the run used the defaults). */
export function variablesSet(env: Environment): string[] {
  return VARIABLES.map(([name]) => name)
    .filter((name) => MEASURING.has(name) && text(env, name) !== undefined)
    .map((name) => `${name}=${text(env, name)}`);
}
