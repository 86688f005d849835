/**
 * Randomness for the core comes only from a source passed in the configuration, so that a seed
 * reproduces a run exactly. The core draws from it only to randomize election timeouts (§5.2).
 */
export interface RandomSource {
  /** A uniformly distributed integer in [0, 2^32). */
  nextUint32(): number;
}

/**
 * splitmix32: a tiny, fast, well-mixed generator. Good enough for timeouts and simulation; not
 * for anything that must be unpredictable to an adversary.
 */
export class SplitMix32 implements RandomSource {
  private state: number;

  constructor(seed: number) {
    this.state = seed | 0;
  }

  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }
}

export function createRandom(seed: number): RandomSource {
  return new SplitMix32(seed);
}

/** A uniformly distributed integer in [0, bound). */
export function randomInt(random: RandomSource, bound: number): number {
  if (!Number.isSafeInteger(bound) || bound <= 0)
    throw new RangeError(`bound must be a positive integer, got ${bound}`);
  return Math.floor((random.nextUint32() / 0x1_0000_0000) * bound);
}
