import { test } from 'vitest';
import { runSeedsOfParity, seedCount } from './seeds.js';

// Even seeds: three-node clusters. The odd seeds (five nodes) run in sim-5-nodes.test.ts, so that
// vitest spreads the two halves over two workers.
test(`simulation: ${Math.ceil(seedCount() / 2)} seeded runs of a three-node cluster keep every safety property, stay live and linearizable`, () => {
  runSeedsOfParity(0);
}, 300_000);
