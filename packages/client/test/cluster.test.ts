import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, type ProcessCluster, startProcessCluster, tail, waitFor } from '@millrace/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsumedMessage, isMillraceError, Millrace, partitionForKey } from '../src/index.js';

// The SDK against a real cluster: three controller and three broker processes, started once for
// this file, on free loopback ports in a temp folder, stopped by PID at the end.

const BROKER_MAIN = fileURLToPath(new URL('../../../apps/broker/dist/main.js', import.meta.url));
const CONTROLLER_MAIN = fileURLToPath(new URL('../../../apps/controller/dist/main.js', import.meta.url));

let cluster: ProcessCluster;
const clients: Millrace[] = [];

beforeAll(async () => {
  cluster = await startProcessCluster({
    controllerMain: CONTROLLER_MAIN,
    brokerMain: BROKER_MAIN,
    brokerFlags: ['--heartbeat-interval-ms', '200', '--replica-fetch-wait-max-ms', '200'],
    controllerFlags: ['--broker-session-timeout-ms', '1500'],
  });
  await cluster.waitReady();
}, 60_000);

afterAll(async () => {
  if (process.env.MILLRACE_LOG !== undefined) {
    for (const [name, proc] of cluster.procs)
      console.log(name, proc.child.exitCode, proc.child.signalCode, tail(proc, 30));
  }
  for (const client of clients) await client.close();
  await cluster?.close();
}, 30_000);

function connect(options: Partial<ConstructorParameters<typeof Millrace>[0]> = {}): Millrace {
  const client = new Millrace({
    bootstrap: cluster.bootstrap,
    token: cluster.adminToken,
    logLevel: (process.env.MILLRACE_LOG as 'debug' | undefined) ?? 'nothing',
    ...options,
  });
  clients.push(client);
  return client;
}

/**
 * After a test that killed or froze a broker: every broker serves again and the controller has it
 * alive (unfenced), so the next test can create topics of replication factor 3. A broker's own
 * /health can say ok a heartbeat before the controller unfences it.
 */
async function healed(): Promise<void> {
  await cluster.waitReady();
  const admin = connect().admin();
  await waitFor(
    'every broker alive at the controller',
    async () => {
      const described = await admin.describeCluster();
      return described.brokers.length === 3 && described.brokers.every((broker) => broker.state === 'alive');
    },
    30_000,
  );
}

/** Reads from the start of every partition of `topic` until `count` records came, or fails after `timeoutMs`. */
async function readAll(client: Millrace, topic: string, count: number, timeoutMs = 20_000): Promise<ConsumedMessage[]> {
  const consumer = client.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 200 });
  await consumer.assign([{ topic }]);
  const got: ConsumedMessage[] = [];
  const timer = setTimeout(() => void consumer.close(), timeoutMs);
  for await (const message of consumer) {
    got.push(message);
    if (got.length >= count) break;
  }
  clearTimeout(timer);
  await consumer.close();
  return got;
}

describe('the SDK against a three-broker cluster', () => {
  it('bootstraps past a dead first address, creates a topic, produces and reads back', async () => {
    const [deadPort] = await freePorts(1);
    const client = connect({ bootstrap: [`127.0.0.1:${deadPort}`, ...cluster.bootstrap.slice(0, 1)] });
    const admin = client.admin();
    const created = await admin.createTopic({ name: 'greetings', partitions: 3, replicationFactor: 3 });
    expect(created.partitions).toHaveLength(3);
    // The one plain (not idempotent, acks=1) producer of these tests; the others use the defaults.
    const producer = client.producer({ idempotent: false, acks: 1 });
    const sent = await producer.send({
      topic: 'greetings',
      messages: [
        { key: 'a', value: 'hello', headers: { source: 'test' } },
        { key: 'b', value: Buffer.from('world') },
        { key: null, value: null },
      ],
    });
    expect(sent).toHaveLength(3);
    for (const record of sent) expect(record.offset).toBeGreaterThanOrEqual(0n);
    expect(
      client
        .brokers()
        .map((b) => b.brokerId)
        .sort(),
    ).toEqual([1, 2, 3]);
    const read = await readAll(client, 'greetings', 3);
    const byValue = new Map(read.map((m) => [m.value?.toString() ?? 'null', m]));
    expect(byValue.get('hello')?.key?.toString()).toBe('a');
    expect(byValue.get('hello')?.headers.source?.toString()).toBe('test');
    expect(byValue.get('world')?.key?.toString()).toBe('b');
    expect(byValue.get('null')?.value).toBeNull();
    for (const record of sent) {
      const found = read.find((m) => m.partition === record.partition && m.offset === record.offset);
      expect(found, `${record.partition}@${record.offset}`).toBeDefined();
    }
    await producer.close();
  }, 60_000);

  it('a topic used the moment it is created: send, assign and read wait for the brokers to know it', async () => {
    const admin = connect().admin();
    for (let i = 0; i < 5; i++) {
      const topic = `fresh-${i}`;
      await admin.createTopic({ name: topic, partitions: 3, replicationFactor: 3 });
      // No wait: the brokers may not have applied the topic yet (Kafka's clients wait for it too).
      // A fresh client each time, so nothing it learned before helps.
      const fresh = connect();
      const consumer = fresh.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
      await consumer.assign([{ topic }]);
      const [written] = await fresh.producer().send({ topic, messages: [{ key: 'k', value: `v${i}` }] });
      for await (const message of consumer) {
        expect(message.value?.toString()).toBe(`v${i}`);
        expect(message.partition).toBe(written?.partition);
        break;
      }
      await consumer.close();
    }
  });

  it('keyed records land on the partition Kafka’s partitioner picks, offsets dense per partition, in order', async () => {
    const client = connect();
    await client.admin().createTopic({ name: 'keyed', partitions: 6, replicationFactor: 3 });
    const producer = client.producer({ lingerMs: 2 });
    const messages = Array.from({ length: 3000 }, (_, i) => ({ key: `user-${i % 97}`, value: `event-${i}` }));
    const sent = (
      await Promise.all(
        Array.from({ length: 10 }, (_, chunk) =>
          producer.send({ topic: 'keyed', messages: messages.slice(chunk * 300, chunk * 300 + 300) }),
        ),
      )
    ).flat();
    for (const [i, record] of sent.entries()) {
      expect(record.partition).toBe(partitionForKey(Buffer.from(`user-${i % 97}`), 6));
    }
    const read = await readAll(client, 'keyed', 3000);
    expect(read).toHaveLength(3000);
    for (let p = 0; p < 6; p++) {
      const inPartition = read.filter((m) => m.partition === p);
      expect(inPartition.map((m) => m.offset)).toEqual(inPartition.map((_, i) => BigInt(i)));
      // Per key, values come back in the order sent.
      const lastIndexByKey = new Map<string, number>();
      for (const m of inPartition) {
        const index = Number(m.value?.toString().slice('event-'.length));
        const key = m.key?.toString() as string;
        expect(index).toBeGreaterThan(lastIndexByKey.get(key) ?? -1);
        lastIndexByKey.set(key, index);
      }
    }
    await producer.close();
  }, 60_000);

  it('a consumer follows a leader change without losing or repeating a position', async () => {
    const client = connect();
    await client.admin().createTopic({ name: 'follow', partitions: 1, replicationFactor: 3 });
    const producer = client.producer();
    const consumer = client.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 200 });
    await consumer.assign([{ topic: 'follow', partition: 0 }]);
    const seen: bigint[] = [];
    const reading = consumer.run({
      eachMessage: (message) => {
        seen.push(message.offset);
      },
    });
    await producer.send({ topic: 'follow', messages: Array.from({ length: 100 }, (_, i) => ({ value: `a${i}` })) });
    await waitFor('the first 100 read', () => seen.length >= 100, 20_000);
    const leader = (await client.admin().describeTopic('follow')).partitions[0]?.leader as number;
    await cluster.kill('broker', leader);
    try {
      await producer.send({ topic: 'follow', messages: Array.from({ length: 100 }, (_, i) => ({ value: `b${i}` })) });
      await waitFor('all 200 read after the leader change', () => seen.length >= 200, 30_000);
      expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => BigInt(i)));
    } finally {
      cluster.startBroker(leader);
      await consumer.close();
      await reading;
      await producer.close();
    }
    await healed();
  }, 90_000);

  it('idempotence: a producer under acks=all load while the leader is killed -9 writes every record exactly once, in order', async () => {
    const client = connect();
    await client.admin().createTopic({
      name: 'exactly-once',
      partitions: 2,
      replicationFactor: 3,
      configs: { 'min.insync.replicas': '2' },
    });
    const producer = client.producer({ lingerMs: 1, batchBytes: 4096 });
    const acknowledged: { partition: number; offset: bigint; value: string }[] = [];
    let stop = false;
    let n = 0;
    const failures: unknown[] = [];
    // Several sends in flight at once, each of a few records, as a busy service would.
    const writers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const values = Array.from({ length: 5 }, () => `v${n++}`);
        try {
          const written = await producer.send({
            topic: 'exactly-once',
            messages: values.map((value, i) => ({ key: `k${i % 4}`, value })),
          });
          for (const [i, record] of written.entries()) acknowledged.push({ ...record, value: values[i] as string });
        } catch (error) {
          failures.push(error);
        }
      }
    });
    await waitFor('some records acknowledged', () => acknowledged.length >= 500, 20_000);
    const victim = (await client.admin().describeTopic('exactly-once')).partitions[0]?.leader as number;
    await cluster.kill('broker', victim);
    const before = acknowledged.length;
    try {
      await waitFor('records acknowledged after the kill', () => acknowledged.length >= before + 1000, 30_000);
    } finally {
      stop = true;
      await Promise.all(writers);
      await producer.close();
      cluster.startBroker(victim);
    }
    expect(failures).toEqual([]);
    const total = acknowledged.length;
    const read = await readAll(client, 'exactly-once', total, 30_000);
    // Exactly once: every acknowledged value once, nothing else, at the offset the producer was told.
    expect(read).toHaveLength(total);
    const byPosition = new Map(read.map((m) => [`${m.partition}@${m.offset}`, m.value?.toString()]));
    for (const record of acknowledged)
      expect(byPosition.get(`${record.partition}@${record.offset}`)).toBe(record.value);
    // In order: within a partition, values increase with offsets (values were numbered as sent).
    for (const partition of [0, 1]) {
      const numbers = read.filter((m) => m.partition === partition).map((m) => Number(m.value?.toString().slice(1)));
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    }
    await healed();
  }, 120_000);

  it('a leader frozen with SIGSTOP (a half-open connection) is left within seconds, not at the request deadline', async () => {
    const client = connect({ pingIntervalMs: 500, pingTimeoutMs: 1000 });
    await client.admin().createTopic({ name: 'frozen', partitions: 1, replicationFactor: 3 });
    const producer = client.producer({ requestTimeoutMs: 60_000 });
    await producer.send({ topic: 'frozen', messages: [{ value: 'before' }] });
    const victim = (await client.admin().describeTopic('frozen')).partitions[0]?.leader as number;
    cluster.pause('broker', victim);
    const started = performance.now();
    try {
      // The request goes to the frozen leader and hangs there until the ping timeout drops the
      // connection; the retry then finds the new leader (the controller fences the frozen broker).
      const [written] = await producer.send({ topic: 'frozen', messages: [{ value: 'after' }] });
      expect(written?.offset).toBe(1n);
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      cluster.resume('broker', victim);
      await producer.close();
    }
    await healed();
  }, 60_000);

  it('seek to earliest, latest, an offset and a time; pause and resume; eachBatch', async () => {
    const client = connect();
    await client.admin().createTopic({ name: 'seeking', partitions: 2, replicationFactor: 3 });
    const producer = client.producer();
    const t0 = Date.now();
    await producer.send({
      topic: 'seeking',
      messages: Array.from({ length: 10 }, (_, i) => ({ value: `p0-${i}`, partition: 0, timestamp: t0 + i * 1000 })),
    });
    await producer.send({
      topic: 'seeking',
      messages: Array.from({ length: 5 }, (_, i) => ({ value: `p1-${i}`, partition: 1 })),
    });
    const p0 = { topic: 'seeking', partition: 0 };
    const p1 = { topic: 'seeking', partition: 1 };

    const consumer = client.consumer({ maxWaitMs: 100 });
    await consumer.assign([p0, p1]);
    consumer.seek(p0, { timestamp: t0 + 6500 }); // the first record at or after it: offset 7
    consumer.seek(p1, 3n);
    const seen: string[] = [];
    const iterator = consumer[Symbol.asyncIterator]();
    while (seen.length < 5) seen.push((await iterator.next()).value?.value?.toString() as string);
    expect(seen.sort()).toEqual(['p0-7', 'p0-8', 'p0-9', 'p1-3', 'p1-4']);
    expect(consumer.position(p0)).toBe(10n);
    expect(consumer.position(p1)).toBe(5n);

    // Paused, a partition gives nothing; resumed, it goes on where it was.
    consumer.pause([p0]);
    consumer.seek(p1, 'earliest');
    await producer.send({ topic: 'seeking', messages: [{ value: 'p0-10', partition: 0 }] });
    const afterPause: string[] = [];
    while (afterPause.length < 5) afterPause.push((await iterator.next()).value?.value?.toString() as string);
    expect(afterPause).toEqual(['p1-0', 'p1-1', 'p1-2', 'p1-3', 'p1-4']);
    expect(consumer.paused()).toEqual([p0]);
    consumer.resume([p0]);
    expect((await iterator.next()).value?.value?.toString()).toBe('p0-10');
    consumer.seek(p0, 'latest');
    await producer.send({ topic: 'seeking', messages: [{ value: 'p0-11', partition: 0 }] });
    expect((await iterator.next()).value?.value?.toString()).toBe('p0-11');
    await consumer.close();
    expect((await iterator.next()).done).toBe(true);

    // eachBatch gets each partition's records with the high watermark; positions follow.
    const batches = client.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await batches.assign([p1]);
    const got: { count: number; highWatermark: bigint }[] = [];
    const running = batches.run({
      eachBatch: ({ messages, highWatermark }) => {
        got.push({ count: messages.length, highWatermark });
      },
    });
    await waitFor('a batch', () => got.length > 0, 10_000);
    expect(got[0]).toEqual({ count: 5, highWatermark: 5n });
    expect(batches.position(p1)).toBe(5n);
    await batches.close();
    await running;
    await producer.close();
  }, 60_000);

  it('autoOffsetReset: out of range moves to earliest or latest, or with none stops the consumer visibly', async () => {
    const client = connect();
    await client.admin().createTopic({ name: 'ranges', partitions: 1, replicationFactor: 3 });
    const producer = client.producer();
    await producer.send({ topic: 'ranges', messages: Array.from({ length: 3 }, (_, i) => ({ value: `r${i}` })) });
    const tp = { topic: 'ranges', partition: 0 };

    const toEarliest = client.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await toEarliest.assign([tp]);
    toEarliest.seek(tp, 1000n);
    const first = await toEarliest[Symbol.asyncIterator]().next();
    expect(first.value?.offset).toBe(0n);
    await toEarliest.close();

    const toLatest = client.consumer({ autoOffsetReset: 'latest', maxWaitMs: 100 });
    await toLatest.assign([tp]);
    toLatest.seek(tp, 1000n);
    const next = toLatest[Symbol.asyncIterator]().next();
    await waitFor('the position reset to the end', () => toLatest.position(tp) === 3n, 10_000);
    await producer.send({ topic: 'ranges', messages: [{ value: 'r3' }] });
    expect((await next).value?.value?.toString()).toBe('r3');
    await toLatest.close();

    const strict = client.consumer({ autoOffsetReset: 'none', maxWaitMs: 100 });
    await strict.assign([tp]);
    strict.seek(tp, 1000n);
    const errors: unknown[] = [];
    strict.on('error', (error) => errors.push(error));
    const run = strict.run({ eachMessage: () => undefined });
    await expect(run).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
    expect(errors).toHaveLength(1);
    await strict.close();

    // A handler that throws stops the consumer on that record: its position stays there.
    const failing = client.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await failing.assign([tp]);
    const failed = failing.run({
      eachMessage: (message) => {
        if (message.offset === 2n) throw new Error('cannot handle r2');
      },
    });
    await expect(failed).rejects.toThrow(/cannot handle r2/);
    expect(failing.position(tp)).toBe(2n);
    await failing.close();
    await producer.close();
  }, 60_000);

  it('flush and close cover sends made before them; a send refused for a bad partition leaves nothing; keyless records move on', async () => {
    const client = connect();
    await client.admin().createTopic({ name: 'lifecycle', partitions: 3, replicationFactor: 3 });
    const producer = client.producer({ lingerMs: 50 });
    let flushed = false;
    const before = producer
      .send({ topic: 'lifecycle', messages: [{ value: 'before-flush', partition: 0 }] })
      .then(() => {
        flushed = true;
      });
    await producer.flush();
    expect(flushed).toBe(true);
    await before;

    // Refused before anything is buffered: the good record of the call is not written either.
    await expect(
      producer.send({
        topic: 'lifecycle',
        messages: [
          { value: 'must-not-be-written', partition: 1 },
          { value: 'x', partition: 99 },
        ],
      }),
    ).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });

    // Keyless records stick to a partition while its batch is open and move on once it has gone.
    const used = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const [record] = await producer.send({ topic: 'lifecycle', messages: [{ value: `keyless-${i}` }] });
      used.add(record?.partition as number);
    }
    expect(used.size).toBeGreaterThan(1);
    // The keyless records of one send fill one batch on one partition.
    const together = await producer.send({
      topic: 'lifecycle',
      messages: Array.from({ length: 12 }, (_, i) => ({ value: `together-${i}` })),
    });
    expect(new Set(together.map((r) => r.partition)).size).toBe(1);

    const last = producer.send({ topic: 'lifecycle', messages: [{ value: 'before-close', partition: 2 }] });
    await producer.close();
    expect((await last)[0]?.offset).toBeGreaterThanOrEqual(0n);
    await expect(producer.send({ topic: 'lifecycle', messages: [{ value: 'late' }] })).rejects.toMatchObject({
      code: 'CLIENT_CLOSED',
    });
    const read = await readAll(client, 'lifecycle', 26);
    expect(read.map((m) => m.value?.toString())).not.toContain('must-not-be-written');
    expect(read.map((m) => m.value?.toString())).toEqual(expect.arrayContaining(['before-flush', 'before-close']));
  }, 60_000);

  it('gzip-compressed batches go through the brokers unchanged and are read back', async () => {
    const client = connect();
    await client.admin().createTopic({ name: 'gzipped', partitions: 1, replicationFactor: 3 });
    const producer = client.producer({ compression: 'gzip' });
    const values = Array.from({ length: 200 }, (_, i) => `a compressible value, number ${i}, `.repeat(10));
    await producer.send({ topic: 'gzipped', messages: values.map((value) => ({ value })) });
    await producer.close();
    const read = await readAll(client, 'gzipped', 200);
    expect(read.map((m) => m.value?.toString())).toEqual(values);
  }, 30_000);

  it('send waits while the buffer is full: buffered bytes never pass maxBufferedBytes', async () => {
    const client = connect();
    await client.admin().createTopic({ name: 'pressure', partitions: 2, replicationFactor: 3 });
    const producer = client.producer({ maxBufferedBytes: 64 * 1024, batchBytes: 16 * 1024 });
    let peak = 0;
    const watch = setInterval(() => {
      peak = Math.max(peak, producer.bufferedBytes);
    }, 1);
    const value = Buffer.alloc(1000, 7);
    const sends = Array.from({ length: 500 }, () => producer.send({ topic: 'pressure', messages: [{ value }] }));
    await Promise.all(sends);
    clearInterval(watch);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(64 * 1024);
    await producer.close();
  }, 60_000);

  it('the examples of docs/client.md run, in order, against the cluster', async () => {
    // The page's ts blocks, joined into one function: the bootstrap list is the cluster's, the
    // client gets the cluster's admin token, and the topics the producer example writes to exist.
    const page = readFileSync(fileURLToPath(new URL('../../../docs/client.md', import.meta.url)), 'utf8');
    const blocks = [...page.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string);
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    const lines = blocks.join('\n').split('\n');
    const imports = lines
      .filter((line) => line.startsWith('import '))
      .map((line) =>
        line.replace("'@millrace/client'", `'${fileURLToPath(new URL('../src/index.js', import.meta.url))}'`),
      );
    const body = lines
      .filter((line) => !line.startsWith('import '))
      .join('\n')
      .replace("['127.0.0.1:9092', '127.0.0.1:9093']", JSON.stringify(cluster.bootstrap))
      .replace("clientId: 'billing',", "clientId: 'billing', token,");
    const module = `${imports.join('\n')}
export async function run(token: string, handle: (message: unknown) => Promise<void>, console: { log(...args: unknown[]): void }) {
${body}
  await millrace.close();
  return { written: written.length, topics: topics.map((t) => t.name), cluster: cluster.brokers.length };
}
`;
    const dir = mkdtempSync(join(fileURLToPath(new URL('.', import.meta.url)), '.docs-examples-'));
    const file = join(dir, 'examples.ts');
    writeFileSync(file, module);
    try {
      const client = connect();
      await client.admin().createTopics([
        { name: 'orders', partitions: 6, replicationFactor: 3 },
        { name: 'audit', partitions: 1, replicationFactor: 3 },
      ]);
      const handled: unknown[] = [];
      const printed: unknown[][] = [];
      const examples = (await import(file)) as {
        run: (
          token: string,
          handle: (message: unknown) => Promise<void>,
          console: { log(...args: unknown[]): void },
        ) => Promise<{ written: number; topics: string[]; cluster: number }>;
      };
      const outcome = await examples.run(
        cluster.adminToken,
        async (message) => {
          handled.push(message);
        },
        { log: (...args) => printed.push(args) },
      );
      expect(outcome.written).toBe(2);
      expect(outcome.topics).toEqual(expect.arrayContaining(['orders', 'audit', 'payments']));
      expect(outcome.cluster).toBe(3);
      // The iterator example printed what the producer example wrote to partition… of orders.
      expect(printed.length).toBeGreaterThanOrEqual(2);
      // The group example's member was given the partitions of orders.
      expect(printed.some((args) => args[0] === 'assigned')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('bad arguments are refused with typed errors naming what is wrong', async () => {
    expect(() => new Millrace({ bootstrap: [] })).toThrow(/bootstrap/);
    expect(() => new Millrace({ bootstrap: ['not a host'] })).toThrow(/INVALID_CONFIG|host:port/);
    expect(() => new Millrace({ bootstrap: ['127.0.0.1:1'], retry: { retries: -1 } })).toThrow(/retry\.retries/);
    expect(() => new Millrace({ bootstrap: ['127.0.0.1:1'], lingerMs: 5 } as never)).toThrow(/lingerMs/);
    const client = connect();
    expect(() => client.producer({ acks: 1 })).toThrow(/idempotent/);
    expect(() => client.producer({ lingerMs: -1 })).toThrow(/lingerMs/);
    const producer = client.producer();
    await expect(producer.send({ topic: 'greetings', messages: [{ value: 42 as never }] })).rejects.toThrow(
      /value must be/,
    );
    await expect(
      producer.send({ topic: 'greetings', messages: [{ value: 'x', partition: 99 }] }),
    ).rejects.toMatchObject({
      code: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
    const impatient = connect({ retry: { retries: 2, deadlineMs: 1000 } });
    const error = await impatient
      .producer()
      .send({ topic: 'no-such-topic', messages: [{ value: 'x' }] })
      .catch((e: unknown) => e);
    expect(isMillraceError(error, 'UNKNOWN_TOPIC_OR_PARTITION')).toBe(true);
    await producer.close();
  }, 30_000);

  it('close() releases every socket and timer: the process would exit', async () => {
    const client = new Millrace({ bootstrap: cluster.bootstrap, logLevel: 'nothing' });
    const producer = client.producer();
    await producer.send({ topic: 'greetings', messages: [{ value: 'bye' }] });
    const consumer = client.consumer({ autoOffsetReset: 'earliest' });
    await consumer.assign([{ topic: 'greetings' }]);
    const iterator = consumer[Symbol.asyncIterator]();
    await iterator.next();
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length;
    await client.close();
    await waitFor(
      'resources released',
      () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length < before,
      5_000,
    );
    await expect(producer.send({ topic: 'greetings', messages: [{ value: 'late' }] })).rejects.toMatchObject({
      code: 'CLIENT_CLOSED',
    });
    void tail;
  }, 30_000);
});
