/**
 * Replica placement for new partitions, in the manner of Kafka's: leaders go round-robin over the
 * brokers from a random start, and followers are shifted by an offset that changes every time the
 * round-robin wraps, so that both leaders and followers spread evenly. With racks, brokers are
 * first interleaved by rack (r1, r2, r3, r1, …) and a partition's followers go to racks it has no
 * replica on while any are left.
 *
 * Pure: randomness comes from the `random` argument (a seeded source in tests).
 */
export interface PlacementBroker {
  readonly brokerId: number;
  readonly rack: string | null;
}

export interface PlacementRequest {
  readonly brokers: readonly PlacementBroker[];
  readonly partitions: number;
  readonly replicationFactor: number;
  /** The first new partition's number: adding partitions continues the spread of the existing ones. */
  readonly firstPartition?: number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

/** Replicas of each new partition, first replica preferred leader. The caller checks RF ≤ brokers. */
export function placeReplicas(request: PlacementRequest): number[][] {
  const { partitions, replicationFactor, random } = request;
  const brokers = rackAlternated(request.brokers);
  const n = brokers.length;
  if (replicationFactor < 1 || replicationFactor > n) {
    throw new Error(`placement: replication factor ${replicationFactor} with ${n} brokers`);
  }
  const racks = new Set(brokers.map((b) => b.rack));
  const rackAware = request.brokers.every((b) => b.rack !== null) && racks.size > 1;
  const startIndex = Math.floor(random() * n);
  let shift = Math.floor(random() * n);
  const first = request.firstPartition ?? 0;
  const out: number[][] = [];
  for (let p = first; p < first + partitions; p++) {
    if (p > 0 && p % n === 0) shift++;
    const leaderIndex = (p + startIndex) % n;
    const chosen = [leaderIndex];
    const usedRacks = new Set([brokers[leaderIndex]?.rack]);
    for (let j = 0; chosen.length < replicationFactor; j++) {
      // Walk the ring from the leader, offset by the shift; skip brokers already chosen and, while
      // racks without a replica remain, brokers on racks that already have one.
      const index = n === 1 ? leaderIndex : (leaderIndex + 1 + ((shift + j) % (n - 1))) % n;
      const candidate = brokers[index];
      if (candidate === undefined || chosen.includes(index)) {
        if (j > 4 * n) throw new Error('placement: no broker left to choose');
        continue;
      }
      const rackFull = rackAware && usedRacks.size < racks.size && usedRacks.has(candidate.rack);
      if (rackFull && j < 2 * n) continue;
      chosen.push(index);
      usedRacks.add(candidate.rack);
    }
    out.push(chosen.map((i) => (brokers[i] as PlacementBroker).brokerId));
  }
  return out;
}

/** Brokers by id, interleaved by rack so that consecutive brokers sit on different racks. */
function rackAlternated(brokers: readonly PlacementBroker[]): PlacementBroker[] {
  const sorted = [...brokers].sort((a, b) => a.brokerId - b.brokerId);
  const byRack = new Map<string | null, PlacementBroker[]>();
  for (const broker of sorted) {
    const list = byRack.get(broker.rack) ?? [];
    list.push(broker);
    byRack.set(broker.rack, list);
  }
  const rackOrder = [...byRack.keys()].sort((a, b) => String(a).localeCompare(String(b)));
  const out: PlacementBroker[] = [];
  for (let i = 0; out.length < sorted.length; i++) {
    for (const rack of rackOrder) {
      const broker = byRack.get(rack)?.[i];
      if (broker !== undefined) out.push(broker);
    }
  }
  return out;
}
