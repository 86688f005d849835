import { expect } from 'vitest';
import { defaultRunOptions, replayCommand, runSeed } from './run.js';

/** How many seeds the vitest run covers (both files together): RAFT_SIM_SEEDS, default 1000. */
export function seedCount(): number {
  const raw = process.env.RAFT_SIM_SEEDS;
  const n = raw === undefined ? 1000 : Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`RAFT_SIM_SEEDS must be a non-negative integer, got ${raw}`);
  return n;
}

/** The first seed (RAFT_SIM_SEED_FROM, default 0), so CI can walk through fresh seeds over time. */
export function seedFrom(): number {
  const raw = process.env.RAFT_SIM_SEED_FROM;
  const n = raw === undefined ? 0 : Number(raw);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`RAFT_SIM_SEED_FROM must be a non-negative integer, got ${raw}`);
  return n;
}

/**
 * Runs the seeds of one parity (even seeds simulate 3 nodes, odd seeds 5) and fails with every
 * failing seed and the command that replays it.
 */
export function runSeedsOfParity(parity: 0 | 1): void {
  const from = seedFrom();
  const to = from + seedCount();
  const failures: string[] = [];
  let ran = 0;
  for (let seed = from; seed < to; seed++) {
    if (seed % 2 !== parity) continue;
    ran++;
    const result = runSeed(defaultRunOptions(seed));
    if (!result.ok) {
      failures.push(`SEED=${seed} ${result.failure}\n  replay: ${replayCommand(seed)}`);
      if (failures.length >= 10) break;
    }
  }
  if (failures.length > 0) console.error(failures.join('\n'));
  expect(failures, `${failures.length} of ${ran} seeds failed`).toEqual([]);
}
