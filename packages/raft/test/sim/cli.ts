/**
 * The simulator's command line.
 *
 *   pnpm --filter @millrace/raft sim -- --seeds 100000 --from 0     run many seeds
 *   pnpm --filter @millrace/raft sim -- --seed 1234 --verbose       replay one, with a trace
 *
 * Options: --nodes 3|5 (default: even seeds 3, odd seeds 5), --chaos-ticks N, --trace-lines N
 * (how much of the trace to print, default 2000; 0 for all), --max-failures N (stop after N
 * failing seeds, default 20).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CHAOS_TICKS, defaultRunOptions, replayCommand, runSeed } from './run.js';

// `pnpm … sim -- --seed 1` may hand the script a leading `--`; parseArgs would read everything
// after it as positionals.
const argv = process.argv.slice(2);
if (argv[0] === '--') argv.shift();

const { values } = parseArgs({
  args: argv,
  options: {
    seed: { type: 'string' },
    seeds: { type: 'string' },
    from: { type: 'string' },
    nodes: { type: 'string' },
    'chaos-ticks': { type: 'string' },
    'trace-lines': { type: 'string' },
    'max-failures': { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
  allowPositionals: false,
});

function int(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${value}`);
  return n;
}

const nodesOverride = values.nodes === undefined ? undefined : int('nodes', values.nodes, 3);
if (nodesOverride !== undefined && nodesOverride !== 3 && nodesOverride !== 5)
  throw new Error('--nodes must be 3 or 5');
const chaosTicks = int('chaos-ticks', values['chaos-ticks'], DEFAULT_CHAOS_TICKS);
const traceLines = int('trace-lines', values['trace-lines'], 2000);
const maxFailures = int('max-failures', values['max-failures'], 20);

function options(seed: number, trace: boolean) {
  const base = defaultRunOptions(seed, trace);
  return {
    ...base,
    chaosTicks,
    nodeCount: (nodesOverride as 3 | 5 | undefined) ?? base.nodeCount,
  };
}

if (values.seed !== undefined) {
  const seed = int('seed', values.seed, 0);
  const result = runSeed(options(seed, values.verbose));
  if (values.verbose) {
    const lines = traceLines === 0 ? result.trace : result.trace.slice(-traceLines);
    if (lines.length < result.trace.length)
      console.log(`… ${result.trace.length - lines.length} earlier trace lines omitted`);
    for (const line of lines) console.log(line);
  }
  console.log(JSON.stringify({ ...result, trace: undefined }, null, 2));
  if (!result.ok) {
    console.log(`SEED=${seed} FAILED: ${result.failure}`);
    process.exitCode = 1;
  } else {
    console.log(`SEED=${seed} ok`);
  }
} else {
  const count = int('seeds', values.seeds, 1000);
  const from = int('from', values.from, 0);
  const started = performance.now();
  let failures = 0;
  let steps = 0;
  let livenessMax = 0;
  let convergenceMax = 0;
  for (let seed = from; seed < from + count; seed++) {
    const result = runSeed(options(seed, false));
    steps += result.steps;
    livenessMax = Math.max(livenessMax, result.livenessTicks ?? 0);
    convergenceMax = Math.max(convergenceMax, result.convergenceTicks ?? 0);
    if (!result.ok) {
      failures++;
      console.log(`SEED=${seed} FAILED: ${result.failure}`);
      console.log(`  replay: ${replayCommand(seed)}`);
      if (failures >= maxFailures) break;
    }
    const done = seed - from + 1;
    if (done % 1000 === 0) {
      const secs = (performance.now() - started) / 1000;
      console.log(
        `${done} seeds, ${failures} failures, ${secs.toFixed(1)} s, ${(steps / secs / 1000).toFixed(0)}k steps/s`,
      );
    }
  }
  const secs = (performance.now() - started) / 1000;
  console.log(
    `ran seeds [${from}, ${from + count}) in ${secs.toFixed(1)} s: ${failures} failures, ${steps} steps, slowest liveness ${livenessMax} ticks, slowest convergence ${convergenceMax} ticks`,
  );
  if (failures > 0) process.exitCode = 1;
}
