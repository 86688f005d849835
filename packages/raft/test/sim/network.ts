import type { Message, NodeId } from '../../src/types.js';
import type { SimRandom } from './rng.js';

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Delivery delay is uniform in [1, maxDelayUnits] time units; different delays reorder messages. */
  maxDelayUnits: number;
}

export const RELIABLE: NetworkFaults = { dropRate: 0, duplicateRate: 0, maxDelayUnits: 5 };

/**
 * The simulated network: lossy, duplicating and reordering per `faults`, with a set of blocked
 * directed links for partitions. A blocked link loses messages both when they are sent and when
 * they would arrive, as a partition that starts while a message is in flight would.
 */
export class SimNetwork {
  faults: NetworkFaults;
  private readonly blocked = new Set<string>();
  /** A description of the current partition, for traces. */
  description = 'healed';
  sent = 0;
  dropped = 0;

  constructor(
    private readonly random: SimRandom,
    faults: NetworkFaults,
  ) {
    this.faults = faults;
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.has(`${from}->${to}`);
  }

  block(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}->${to}`);
  }

  unblock(from: NodeId, to: NodeId): void {
    this.blocked.delete(`${from}->${to}`);
  }

  healAll(): void {
    this.blocked.clear();
    this.description = 'healed';
  }

  /** Splits nodes into groups; links between groups are cut both ways. */
  partition(groups: NodeId[][], description: string): void {
    this.blocked.clear();
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.block(x, y);
      }
    }
    this.description = description;
  }

  /** Returns the delivery delays for one send: none if lost, two if duplicated. */
  deliveryDelays(m: Message): number[] {
    this.sent++;
    if (this.isBlocked(m.from, m.to) || this.random.chance(this.faults.dropRate)) {
      this.dropped++;
      return [];
    }
    const delays = [this.random.range(1, this.faults.maxDelayUnits)];
    if (this.random.chance(this.faults.duplicateRate)) delays.push(this.random.range(1, this.faults.maxDelayUnits * 2));
    return delays;
  }

  /** Whether a message still in flight gets through now. */
  canDeliver(m: Message): boolean {
    if (this.isBlocked(m.from, m.to)) {
      this.dropped++;
      return false;
    }
    return true;
  }
}
