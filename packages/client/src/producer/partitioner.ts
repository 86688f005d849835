/**
 * Kafka's default partitioning, byte for byte: a record with a key goes to
 * `toPositive(murmur2(key)) % partitions`, the same partition number Kafka's Java client and
 * kafkajs's default partitioner choose; a record without one goes to a "sticky" partition
 * (KIP-480), kept until its batch is sent, so keyless records fill batches instead of
 * spreading one record per partition.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** Kafka's `Utils.murmur2`: MurmurHash2, 32-bit, seed 0x9747b28c, as a signed int32. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const fourBytes = length >>> 2;
  for (let i = 0; i < fourBytes; i++) {
    const at = i * 4;
    let k =
      (data[at] as number) |
      ((data[at + 1] as number) << 8) |
      ((data[at + 2] as number) << 16) |
      ((data[at + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = fourBytes * 4;
  const left = length % 4;
  // Kafka's switch falls through from 3 to 1: each case adds one more byte.
  if (left === 3) h ^= (data[tail + 2] as number) << 16;
  if (left >= 2) h ^= (data[tail + 1] as number) << 8;
  if (left >= 1) {
    h ^= data[tail] as number;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not `Math.abs`, which differs at -2^31). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Kafka's default partitioner gives a keyed record. */
export function partitionForKey(key: Uint8Array, partitionCount: number): number {
  return toPositive(murmur2(key)) % partitionCount;
}

export interface PartitionerInput {
  readonly topic: string;
  /** The key's bytes, or null for a keyless record. */
  readonly key: Uint8Array | null;
  readonly partitionCount: number;
  /** Partitions that have a leader now; keyless records go only there. */
  readonly availablePartitions: readonly number[];
}

/** Picks a record's partition. A custom one must give the same key the same partition. */
export type Partitioner = (input: PartitionerInput) => number;

/**
 * The default partitioner's sticky choice for keyless records: one partition per topic, chosen
 * at random among those with a leader, changed when the producer starts a new batch for it.
 */
export class StickyPartitions {
  readonly #chosen = new Map<string, number>();
  /** Topics whose sticky partition has had a batch started on it. */
  readonly #started = new Set<string>();
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /**
   * The partition of a record. `hasOpenBatch(p)` says whether partition p has a batch taking
   * records: once the sticky partition's batch has gone (filled, lingered, flushed), the next
   * keyless record moves the choice to another partition.
   */
  partition(input: PartitionerInput, hasOpenBatch: (partition: number) => boolean = () => true): number {
    if (input.key !== null) return partitionForKey(input.key, input.partitionCount);
    let chosen = this.#chosen.get(input.topic);
    if (chosen === undefined || chosen >= input.partitionCount) {
      chosen = this.#choose(input, undefined);
    } else if (this.#started.has(input.topic) && !hasOpenBatch(chosen)) {
      chosen = this.#choose(input, chosen);
    }
    if (!hasOpenBatch(chosen)) this.#started.add(input.topic);
    return chosen;
  }

  #choose(input: PartitionerInput, previous: number | undefined): number {
    const pool = input.availablePartitions.length > 0 ? input.availablePartitions : range(input.partitionCount);
    const others = pool.length > 1 && previous !== undefined ? pool.filter((p) => p !== previous) : pool;
    const next = others[Math.floor(this.#random() * others.length)] as number;
    this.#chosen.set(input.topic, next);
    this.#started.delete(input.topic);
    return next;
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
