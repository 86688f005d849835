import { tail, waitFor } from '@millrace/test-kit';
import { createTopic, leaders, waitFullIsr } from '../cluster.js';
import { goalText, type Row } from '../report.js';
import { formatCount, median, sortedCopy } from '../stats.js';
import { errorText, type PhaseContext, sleep } from './context.js';

/**
 * Failover as a producing service sees it. A producer with its defaults (acks 'all', idempotent)
 * sends one 100 B record to each partition every SEND_INTERVAL_MS, open loop (sends do not wait
 * for earlier ones). Once every partition is being acknowledged, the leader of one partition
 * (a different partition each trial) is killed with SIGKILL. The trial's figure is the time from
 * the kill until every partition that broker led has acknowledged a record sent after the kill:
 * such a record can only have been written by the partition's new leader. Beside it, the time
 * until the controller's metadata (asked through the surviving brokers every 50 ms) names a new
 * leader for all of them. Between trials the killed broker is restarted and waited for until it
 * is healthy and back in every ISR.
 */

const SEND_INTERVAL_MS = 10;
const TRIAL_TIMEOUT_MS = 30_000;

interface Trial {
  readonly victim: number;
  readonly partitions: readonly number[];
  /** Kill → every partition it led acknowledged a record sent after the kill. */
  readonly writesMs: number;
  /** Kill → the metadata names new leaders for all of them (NaN if not seen). */
  readonly electedMs: number;
}

export async function failover(context: PhaseContext): Promise<{ rows: Row[]; notes: string[] }> {
  const { cluster, client, admin, settings, progress } = context;
  const topic = 'failover';
  await createTopic(context.cluster, admin, topic, settings.partitions);
  const trials: Trial[] = [];
  let failedSends = 0;
  let firstError = '';
  for (let trial = 0; trial < settings.failoverTrials; trial++) {
    progress.step('failover', `trial ${trial + 1} of ${settings.failoverTrials}`);
    const leaderOf = await leaders(admin, topic);
    const victim = leaderOf.get(trial % settings.partitions) as number;
    const victimLeads = [...leaderOf].filter(([, id]) => id === victim).map(([p]) => p);

    const producer = client.producer();
    const value = Buffer.alloc(100, 0x66);
    let killedAtMs = Number.POSITIVE_INFINITY;
    const acked = new Map<number, number>();
    const ackedAfterKill = new Map<number, number>();
    const sending = new Set<Promise<void>>();
    let stopping = false;
    const load = (async () => {
      while (!stopping) {
        for (let partition = 0; partition < settings.partitions; partition++) {
          const sentMs = performance.now();
          const sendingOne: Promise<void> = producer.send({ topic, messages: [{ value, partition }] }).then(
            () => {
              acked.set(partition, (acked.get(partition) ?? 0) + 1);
              if (sentMs > killedAtMs && !ackedAfterKill.has(partition))
                ackedAfterKill.set(partition, performance.now());
            },
            (error: unknown) => {
              failedSends++;
              firstError ||= errorText(error);
            },
          );
          sending.add(sendingOne);
          void sendingOne.finally(() => sending.delete(sendingOne));
        }
        await sleep(SEND_INTERVAL_MS);
      }
    })();
    let electedAtMs = Number.NaN;
    try {
      await waitFor(
        'every partition acknowledging writes',
        () => [...Array(settings.partitions).keys()].every((p) => (acked.get(p) ?? 0) >= 20),
        20_000,
      );
      killedAtMs = performance.now();
      await cluster.kill('broker', victim);
      // The metadata's view, polled beside the producer (bounded by the same wait).
      const watching = waitFor(
        'the metadata to name new leaders',
        async () => {
          const now = await leaders(admin, topic).catch(() => undefined);
          return now !== undefined && victimLeads.every((p) => now.get(p) !== victim) ? performance.now() : false;
        },
        TRIAL_TIMEOUT_MS,
      ).then(
        (atMs) => {
          electedAtMs = atMs;
        },
        () => undefined,
      );
      await waitFor(
        `records sent after the kill acknowledged on partitions ${victimLeads.join(', ')}`,
        () => victimLeads.every((p) => ackedAfterKill.has(p)),
        TRIAL_TIMEOUT_MS,
      );
      await watching;
    } finally {
      stopping = true;
      await load;
      // Every send ends (acknowledged or failed) within the producer's delivery timeout; bounded here.
      await Promise.race([Promise.all(sending), sleep(TRIAL_TIMEOUT_MS)]);
      await Promise.race([producer.close(), sleep(5_000)]);
    }
    const writesMs = Math.max(...victimLeads.map((p) => (ackedAfterKill.get(p) as number) - killedAtMs));
    trials.push({ victim, partitions: victimLeads, writesMs, electedMs: electedAtMs - killedAtMs });
    progress.log(
      `failover trial ${trial + 1}: kill -9 of broker ${victim} (leader of ${victimLeads.join(', ')}): ` +
        `writes acknowledged again after ${formatCount(writesMs)} ms`,
    );

    // Back to three brokers, every ISR whole, before the next trial (and before the run ends).
    progress.step('failover', `trial ${trial + 1}: broker ${victim} restarting`);
    cluster.startBroker(victim);
    await cluster.waitReady(60_000).catch((error: unknown) => {
      throw new Error(`broker ${victim} did not come back: ${tail(cluster.proc('broker', victim), 5)}`, {
        cause: error,
      });
    });
    await waitFullIsr(admin, topic, 60_000);
  }

  const writes = sortedCopy(trials.map((t) => t.writesMs));
  const elected = sortedCopy(trials.map((t) => t.electedMs).filter((ms) => Number.isFinite(ms)));
  const max = writes.at(-1) as number;
  return {
    rows: [
      {
        measure: `failover: kill -9 of a leader → first acknowledged write on each of its partitions (${trials.length} trials)`,
        result:
          `median ${formatCount(median(writes))} ms, max ${formatCount(max)} ms ` +
          `(new leaders in metadata after median ${elected.length === 0 ? 'n/a' : `${formatCount(median(elected))} ms`})` +
          (failedSends > 0 ? `; ${failedSends} sends failed (first: ${firstError})` : ''),
        goal: goalText('< 3 s (max)', max, (v) => v < 3000),
        cores: '',
      },
    ],
    notes: trials.map(
      (t, i) =>
        `failover trial ${i + 1}: broker ${t.victim} (leader of partitions ${t.partitions.join(', ')}) killed; ` +
        `new leaders in metadata after ${Number.isFinite(t.electedMs) ? `${formatCount(t.electedMs)} ms` : 'n/a'}, ` +
        `writes acknowledged on all of them after ${formatCount(t.writesMs)} ms`,
    ),
  };
}
