import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { placeReplicas } from '../src/index.js';
import { seededRandom } from './fixtures.js';

const brokers = (n: number, racks = 0) =>
  Array.from({ length: n }, (_, i) => ({ brokerId: i + 1, rack: racks > 0 ? `r${i % racks}` : null }));

describe('replica placement', () => {
  it('spreads leaders and replicas evenly over brokers', () => {
    const assignment = placeReplicas({
      brokers: brokers(3),
      partitions: 30,
      replicationFactor: 3,
      random: seededRandom(7),
    });
    const leaders = new Map<number, number>();
    for (const replicas of assignment) {
      expect(new Set(replicas).size).toBe(3);
      leaders.set(replicas[0]!, (leaders.get(replicas[0]!) ?? 0) + 1);
    }
    expect([...leaders.values()]).toEqual([10, 10, 10]);
  });

  it('puts replicas of a partition on different racks while racks remain', () => {
    const assignment = placeReplicas({
      brokers: brokers(6, 3),
      partitions: 60,
      replicationFactor: 3,
      random: seededRandom(3),
    });
    for (const replicas of assignment) {
      const racks = new Set(replicas.map((id) => `r${(id - 1) % 3}`));
      expect(racks.size).toBe(3);
    }
  });

  it('holds its rules for any cluster shape (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 0, max: 50 }),
        fc.nat(),
        (n, racks, partitions, firstPartition, seed) => {
          const rf = 1 + (seed % n);
          const assignment = placeReplicas({
            brokers: brokers(n, racks),
            partitions,
            replicationFactor: rf,
            firstPartition,
            random: seededRandom(seed),
          });
          expect(assignment).toHaveLength(partitions);
          const leaderCounts = new Map<number, number>();
          const replicaCounts = new Map<number, number>();
          for (const replicas of assignment) {
            expect(replicas).toHaveLength(rf);
            expect(new Set(replicas).size).toBe(rf);
            for (const id of replicas) {
              expect(id).toBeGreaterThanOrEqual(1);
              expect(id).toBeLessThanOrEqual(n);
              replicaCounts.set(id, (replicaCounts.get(id) ?? 0) + 1);
            }
            leaderCounts.set(replicas[0]!, (leaderCounts.get(replicas[0]!) ?? 0) + 1);
            if (racks > 1) {
              const rackCount = new Set(replicas.map((id) => (id - 1) % racks)).size;
              expect(rackCount).toBe(Math.min(rf, racks, n));
            }
          }
          // Leaders are perfectly round-robin: counts differ by at most one.
          const counts = [...leaderCounts.values()];
          if (partitions >= n) expect(leaderCounts.size).toBe(n);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
          // Over whole rounds of n partitions every broker is each follower position exactly once,
          // so without racks every broker holds exactly as many replicas as any other.
          if (racks <= 1 && firstPartition % n === 0 && partitions % n === 0) {
            expect(new Set(replicaCounts.values()).size).toBe(1);
            expect(replicaCounts.get(1)).toBe((partitions * rf) / n);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
