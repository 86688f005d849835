import { fileURLToPath } from 'node:url';
import type { Admin, LogEntry } from '@millrace/client';
import { MetadataResponseSchema, Routes } from '@millrace/protocol';
import { type ProcessCluster, startProcessCluster, waitFor } from '@millrace/test-kit';

/**
 * The cluster a run measures: three controllers and three brokers from the built apps
 * (`dist/main.js`), each with its default settings and log level warn, on loopback, their data in
 * a temp folder that `close()` removes. And what the phases share about it: topics, leaders,
 * process ids for the CPU figures, and what the SDK logged.
 */

export const CONTROLLER_MAIN = fileURLToPath(new URL('../../apps/controller/dist/main.js', import.meta.url));
export const BROKER_MAIN = fileURLToPath(new URL('../../apps/broker/dist/main.js', import.meta.url));
export const BROKER_IDS = [1, 2, 3] as const;

export function startCluster(): Promise<ProcessCluster> {
  return startProcessCluster({
    controllerMain: CONTROLLER_MAIN,
    brokerMain: BROKER_MAIN,
    controllers: 3,
    brokers: BROKER_IDS.length,
    logLevel: 'warn',
  });
}

/**
 * Creates `name` with RF 3 and min.insync.replicas 2, and waits (bounded) until every partition is
 * led with an ISR of 3 and every running broker's metadata has it. The last wait matters: the
 * create answers once the controller has committed it, and a broker that has not applied it yet
 * answers UNKNOWN_TOPIC_OR_PARTITION, which the SDK does not retry.
 */
export async function createTopic(
  cluster: ProcessCluster,
  admin: Admin,
  name: string,
  partitions: number,
): Promise<void> {
  await admin.createTopic({
    name,
    partitions,
    replicationFactor: 3,
    configs: { 'min.insync.replicas': '2' },
  });
  await waitFullIsr(admin, name, 30_000);
  for (const id of BROKER_IDS) {
    if (!cluster.running('broker', id)) continue;
    await waitFor(
      `broker ${id}'s metadata to have ${name}`,
      async () => {
        const answer = await cluster.postJson('broker', id, Routes.metadata, { topics: [name] });
        if (answer.status !== 200) return false;
        const topic = MetadataResponseSchema.parse(answer.body).topics[0];
        return (
          topic !== undefined &&
          topic.error === undefined &&
          topic.partitions.length === partitions &&
          topic.partitions.every((p) => p.leader !== null)
        );
      },
      30_000,
    );
  }
}

export async function waitFullIsr(admin: Admin, topic: string, timeoutMs: number): Promise<void> {
  await waitFor(
    `${topic}: every partition led, ISR of 3`,
    async () => {
      const partitions = (await admin.describeTopic(topic)).partitions;
      return partitions.length > 0 && partitions.every((p) => p.leader !== null && p.isr.length === 3);
    },
    timeoutMs,
  );
}

/** Each partition's leader, as the controller has it now. */
export async function leaders(admin: Admin, topic: string): Promise<Map<number, number>> {
  const leaderOf = new Map<number, number>();
  for (const p of (await admin.describeTopic(topic)).partitions) {
    if (p.leader === null) throw new Error(`${topic}-${p.partition} has no leader`);
    leaderOf.set(p.partition, p.leader);
  }
  return leaderOf;
}

/**
 * The SDK's log entries (at debug and above: retries show there), counted by message and error
 * code instead of printed, so that they neither break the progress line nor cost much; each
 * phase takes the counts of its own run.
 */
export class LogCounter {
  readonly #counts = new Map<string, number>();

  /** The client's `logger` option (typed `unknown` there; the entries are LogEntry). */
  readonly sink = (raw: unknown): void => {
    const entry = raw as LogEntry;
    const error = entry.fields?.error as { code?: unknown } | undefined;
    const code = typeof error?.code === 'string' ? ` (${error.code})` : '';
    const key = `${entry.level} ${entry.namespace}: ${entry.message}${code}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  };

  /** "3 × debug producer: …; 1 × warn …" since the last call, most frequent first (empty if none). */
  take(): string {
    const text = [...this.#counts]
      .sort((a, b) => b[1] - a[1])
      .map(([key, count]) => `${count} × ${key}`)
      .join('; ');
    this.#counts.clear();
    return text;
  }
}
