import type { NodeId } from '../../src/types.js';
import { SimCluster, type SimOptions, TICK_UNITS } from './cluster.js';
import { SafetyChecker, SafetyViolation } from './invariants.js';
import { checkLinearizable, formatHistory } from './linearizability.js';
import { SimRandom } from './rng.js';

export interface RunOptions {
  readonly seed: number;
  readonly nodeCount: 3 | 5;
  /** Rounds of (faults, then heal and check liveness). */
  readonly cycles: number;
  /** Ticks of faults in each round before the network heals. */
  readonly chaosTicks: number;
  /** After healing, a leader must commit a new entry within this many ticks. */
  readonly livenessTicksMax: number;
  /** …and every node must apply it within this many. */
  readonly convergenceTicksMax: number;
  readonly trace: boolean;
}

export interface RunResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly failure: string | undefined;
  readonly steps: number;
  /** The slowest round: ticks from healing to a new committed entry, and to every node applying it. */
  readonly livenessTicks: number | undefined;
  readonly convergenceTicks: number | undefined;
  readonly leadersElected: number;
  readonly committed: number;
  readonly ops: {
    readonly puts: number;
    readonly putsCompleted: number;
    readonly gets: number;
    readonly getsCompleted: number;
  };
  readonly stats: SimCluster['stats'];
  readonly options: SimOptions;
  readonly trace: readonly string[];
}

/** Every knob of a run is drawn from the seed, so one number reproduces it. */
export function optionsForSeed(random: SimRandom, nodeCount: number): SimOptions {
  const electionTimeoutTicks = random.range(8, 14);
  return {
    nodeCount,
    electionTimeoutTicks,
    heartbeatTimeoutTicks: random.range(1, 3),
    preVote: random.chance(0.85),
    checkQuorum: random.chance(0.85),
    maxSizePerMsgBytes: random.pick([64, 256, 4096]),
    maxInflightMsgs: random.pick([1, 2, 4, 16]),
    snapshotChunkBytes: random.pick([16, 64, 256, 65536]),
    diskDelayUnitsMax: random.range(1, 12),
    faults: {
      dropRate: random.pick([0, 0.01, 0.05, 0.1, 0.2]),
      duplicateRate: random.pick([0, 0.02, 0.1]),
      maxDelayUnits: random.pick([2, 10, 25]),
    },
    crashRate: random.pick([0, 0.005, 0.02, 0.05]),
    isolateNewLeaderRate: random.pick([0, 0.1, 0.3]),
    crashAfterPersistRate: random.pick([0, 0.001, 0.005]),
    partitionRate: random.pick([0, 0.01, 0.03, 0.06]),
    snapshotRate: random.pick([0.01, 0.05, 0.2]),
    transferRate: random.pick([0, 0.005, 0.02]),
    clientOpRate: random.pick([0.2, 0.5]),
    readFraction: random.pick([0.2, 0.5]),
    clientCount: random.range(2, 4),
    keyCount: random.range(1, 3),
    clientTimeoutTicks: 3 * electionTimeoutTicks,
  };
}

export function runSeed(options: RunOptions): RunResult {
  const random = new SimRandom(options.seed);
  const simOptions = optionsForSeed(random, options.nodeCount);
  const cluster = new SimCluster(
    random,
    simOptions,
    (voters: NodeId[], nodes) => new SafetyChecker(voters, nodes),
    options.trace,
  );
  let failure: string | undefined;
  let livenessTicks: number | undefined;
  let convergenceTicks: number | undefined;
  try {
    for (let cycle = 0; cycle < options.cycles && failure === undefined; cycle++) {
      cluster.startChaos();
      cluster.runUntil(cluster.now + options.chaosTicks * TICK_UNITS);
      cluster.calm();
      const { committedTicks, convergedTicks } = cluster.awaitLiveness(
        options.livenessTicksMax,
        options.convergenceTicksMax,
      );
      if (committedTicks === undefined) {
        failure = `Liveness: after the faults of round ${cycle + 1} healed, no leader committed a new entry within ${options.livenessTicksMax} ticks`;
      } else if (convergedTicks === undefined) {
        failure = `Convergence: after the faults of round ${cycle + 1} healed, a committed entry was not applied on every node within ${options.convergenceTicksMax} ticks`;
      }
      livenessTicks = Math.max(livenessTicks ?? 0, committedTicks ?? 0);
      convergenceTicks = Math.max(convergenceTicks ?? 0, convergedTicks ?? 0);
    }
    if (failure === undefined) {
      cluster.drainClients();
      cluster.checker.finalCheck();
      const lin = checkLinearizable(cluster.checkedHistory());
      if (!lin.ok) {
        const why = lin.reason === 'gave-up' ? 'the search gave up (too many states)' : 'has no valid order';
        failure = [`Linearizability: history of key ${lin.key} ${why}`, ...formatHistory(lin.ops)].join('\n');
      }
    }
  } catch (error) {
    if (error instanceof SafetyViolation) failure = error.message;
    else failure = `Exception: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  }
  if (failure !== undefined && options.trace) {
    cluster.trace.push(...cluster.describeNodes());
  }
  return {
    seed: options.seed,
    ok: failure === undefined,
    failure,
    steps: cluster.steps,
    livenessTicks,
    convergenceTicks,
    leadersElected: cluster.checker.leadersElected,
    committed: cluster.checker.committedIndex,
    ops: {
      puts: cluster.history.filter((op) => op.kind === 'put').length,
      putsCompleted: cluster.history.filter((op) => op.kind === 'put' && op.completeAt !== undefined).length,
      gets: cluster.history.filter((op) => op.kind === 'get').length,
      getsCompleted: cluster.history.filter((op) => op.kind === 'get' && op.completeAt !== undefined).length,
    },
    stats: cluster.stats,
    options: simOptions,
    trace: cluster.trace,
  };
}

/** The default size of a run: enough faults to matter, small enough for thousands of seeds. */
export const DEFAULT_CYCLES = 4;
export const DEFAULT_CHAOS_TICKS = 250;
export const DEFAULT_LIVENESS_TICKS_MAX = 400;
export const DEFAULT_CONVERGENCE_TICKS_MAX = 5000;

export function defaultRunOptions(seed: number, trace = false): RunOptions {
  return {
    seed,
    nodeCount: seed % 2 === 0 ? 3 : 5,
    cycles: DEFAULT_CYCLES,
    chaosTicks: DEFAULT_CHAOS_TICKS,
    livenessTicksMax: DEFAULT_LIVENESS_TICKS_MAX,
    convergenceTicksMax: DEFAULT_CONVERGENCE_TICKS_MAX,
    trace,
  };
}

export function replayCommand(seed: number): string {
  return `pnpm --filter @millrace/raft sim -- --seed ${seed} --verbose`;
}
