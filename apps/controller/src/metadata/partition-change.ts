import type { MetadataImage, PartitionState } from '@millrace/metadata';
import { type MetadataRecord, NO_LEADER } from '@millrace/protocol';

/**
 * Computes the one record that moves a partition to a new ISR and leader, or nothing when nothing
 * changes. Every decision that touches a partition (fencing, unfencing, controlled shutdown,
 * AlterPartition, preferred and unclean elections) goes through here, so the election rules live
 * in one place:
 *
 * - The ISR never becomes empty. Removing its last member keeps that member in it and leaves the
 *   partition without a leader: when that broker comes back it leads again, and no record that
 *   was acknowledged by the ISR is lost (Kafka's behaviour before eligible leader replicas).
 * - A leader is always in the ISR and usable (registered, unfenced, not shutting down). The
 *   current leader stays if it still qualifies, unless a preferred election is asked for.
 * - Otherwise the first usable ISR member in replica order leads; the replica order makes the
 *   choice deterministic and favours the preferred replica.
 * - With no usable ISR member, the partition goes offline (leader -1), unless unclean election is
 *   allowed: then the first usable replica outside the ISR leads with an ISR of itself, and the
 *   record says `uncleanElection`, because acknowledged records may be lost.
 * - A new leader means a new leader epoch; any change means a new partition epoch.
 */
export interface PartitionChangeOptions {
  /** The ISR to move to; the current one when absent. */
  readonly targetIsr?: readonly number[];
  /** Move leadership to the first replica when it qualifies. */
  readonly preferredElection?: boolean;
  /** Whether a replica outside the ISR may lead when no ISR member can. */
  readonly uncleanElectionAllowed: boolean;
}

export function buildPartitionChange(
  image: MetadataImage,
  partition: PartitionState,
  options: PartitionChangeOptions,
): MetadataRecord | undefined {
  const canLead = (brokerId: number): boolean => image.isBrokerUsable(brokerId);

  let isr = options.targetIsr === undefined ? [...partition.isr] : [...options.targetIsr];
  if (isr.length === 0) {
    // Keep the last member(s) rather than empty the ISR: they hold every acknowledged record.
    isr = [...partition.isr];
  }
  isr = partition.replicas.filter((id) => isr.includes(id));

  let leader: number = NO_LEADER;
  let unclean = false;
  const preferred = partition.replicas[0];
  if (options.preferredElection && preferred !== undefined && isr.includes(preferred) && canLead(preferred)) {
    leader = preferred;
  } else if (partition.leader !== NO_LEADER && isr.includes(partition.leader) && canLead(partition.leader)) {
    leader = partition.leader;
  } else {
    const fromIsr = isr.find(canLead);
    if (fromIsr !== undefined) {
      leader = fromIsr;
    } else if (options.uncleanElectionAllowed) {
      const outsider = partition.replicas.find(canLead);
      if (outsider !== undefined) {
        leader = outsider;
        isr = [outsider];
        unclean = true;
      }
    }
  }

  const isrChanged = isr.length !== partition.isr.length || isr.some((id, i) => partition.isr[i] !== id);
  const leaderChanged = leader !== partition.leader;
  if (!isrChanged && !leaderChanged) return undefined;
  return {
    type: 'partition-change',
    version: 1,
    topicId: partition.topicId,
    partition: partition.partition,
    ...(isrChanged ? { isr } : {}),
    ...(leaderChanged ? { leader } : {}),
    leaderEpoch: partition.leaderEpoch + (leaderChanged ? 1 : 0),
    partitionEpoch: partition.partitionEpoch + 1,
    ...(unclean ? { uncleanElection: true } : {}),
  };
}

export function uncleanElectionAllowed(image: MetadataImage, topicName: string): boolean {
  return image.topicConfig(topicName, 'unclean.leader.election.enable') === 'true';
}
