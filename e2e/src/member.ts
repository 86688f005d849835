import { appendFileSync } from 'node:fs';
import { Millrace } from '@millrace/client';

/**
 * A consumer group member as its own process, so a test can kill it with -9: it joins GROUP on
 * TOPIC and appends one JSON line per event to EVENTS — partitions assigned, revoked or lost,
 * records read (partition and offsets), and each commit, which it makes after every batch
 * (autoCommit off, so the test knows exactly what was committed when). SIGTERM closes it cleanly.
 *
 *   node --import tsx e2e/src/member.ts BOOTSTRAP GROUP TOPIC NAME EVENTS
 */
const [bootstrap, groupId, topic, name, events] = process.argv.slice(2);
if (
  bootstrap === undefined ||
  groupId === undefined ||
  topic === undefined ||
  name === undefined ||
  events === undefined
) {
  console.error('usage: member.ts BOOTSTRAP GROUP TOPIC NAME EVENTS');
  process.exit(2);
}
const emit = (event: Record<string, unknown>) =>
  appendFileSync(events, `${JSON.stringify({ member: name, at: Date.now(), ...event })}\n`);

const client = new Millrace({ bootstrap: bootstrap.split(','), clientId: name, logLevel: 'nothing' });
const consumer = client.consumer({ groupId, autoCommit: false, autoOffsetReset: 'earliest', maxWaitMs: 200 });
const partitions = (list: readonly { partition: number }[]) => list.map((tp) => tp.partition).sort((a, b) => a - b);
consumer.subscribe([topic], {
  onAssigned: (list) => emit({ event: 'assigned', partitions: partitions(list) }),
  onRevoked: (list) => emit({ event: 'revoked', partitions: partitions(list) }),
  onLost: (list) => emit({ event: 'lost', partitions: partitions(list) }),
});
process.on('SIGTERM', () => {
  void consumer
    .close()
    .then(() => client.close())
    .then(() => process.exit(0));
});
emit({ event: 'started', memberId: consumer.memberId });
await consumer.run({
  eachBatch: async (batch) => {
    emit({ event: 'records', partition: batch.partition, offsets: batch.messages.map((m) => m.offset.toString()) });
    const next = (batch.messages.at(-1)?.offset ?? -1n) + 1n;
    try {
      await consumer.commit([{ topic, partition: batch.partition, offset: next }]);
      emit({ event: 'committed', partition: batch.partition, offset: next.toString() });
    } catch (error) {
      // The next batch's commit covers these records; until then they may be read again.
      emit({ event: 'commit-failed', partition: batch.partition, error: String(error) });
    }
  },
});
