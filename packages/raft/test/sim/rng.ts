import { createRandom, type RandomSource } from '../../src/random.js';

/** The simulator's random source: one seed, with helpers. Every choice in a run comes from here. */
export class SimRandom implements RandomSource {
  private readonly source: RandomSource;

  constructor(seed: number) {
    this.source = createRandom(seed);
  }

  nextUint32(): number {
    return this.source.nextUint32();
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.source.nextUint32() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, bound). */
  int(bound: number): number {
    return Math.floor(this.float() * bound);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  /** A derived, independent stream (for a node's election timeouts), still fixed by the seed. */
  fork(): SimRandom {
    return new SimRandom(this.source.nextUint32());
  }
}
