import { test } from 'vitest';
import { runSeedsOfParity, seedCount } from './seeds.js';

// Odd seeds: five-node clusters (see sim-3-nodes.test.ts).
test(`simulation: ${Math.floor(seedCount() / 2)} seeded runs of a five-node cluster keep every safety property, stay live and linearizable`, () => {
  runSeedsOfParity(1);
}, 300_000);
