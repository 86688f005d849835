/**
 * The cluster benchmark: three controller and three broker processes (dist/main.js) on loopback,
 * every topic at replication.factor 3 and min.insync.replicas 2, every write acks=all. Measures:
 *   0. idle: the CPU a quiet cluster uses, with one topic of PARTITIONS partitions and no traffic
 *      (Raft heartbeats, broker heartbeats, replica fetch sessions parked on the leaders);
 *   0b. cost: one request at a time, closed loop, for each of a fetch (nothing to wait for), a
 *      produce acks=1 at RF 1 and a produce acks=all at RF 3 (10 × 100 B records): round trip
 *      and the CPU each request costs the brokers, the controllers and this process (each net of
 *      its idle rate just before the window). Throughput
 *      runs hide per-request costs behind batching; latency at a fixed rate pays them in full;
 *   1. produce throughput with 100 B and with 1 KiB records: one batch per partition in each
 *      request, the partitions of one request all led by the broker it goes to (as a batching
 *      client sends them), IN_FLIGHT requests in flight to each broker;
 *   2. consume throughput: everything produced in 1, read back from the leaders in large fetches
 *      (each batch's CRC checked, as a consumer with check.crcs does);
 *   3. latency at a fixed LATENCY_RATE records/s in small batches: produce-to-acknowledgement, and
 *      end to end (the send time travels in the record's value; long-polling consumers on the
 *      leaders note when they see it);
 *   4. failover: a producer writes acks=all to every partition of a topic in a loop; kill -9 of a
 *      partition leader; time from the kill until every partition it led has acknowledged a write
 *      from its new leader. The killed broker is restarted and back in every ISR between trials.
 * The load generator runs in this process, which shares the machine's cores with the cluster; its
 * CPU is printed beside the cluster's, so a reader can tell whether it bounds a figure. Prints
 * tables; the figures go to BENCHMARKS.md by hand, with the machine and the date.
 *
 *   cd apps/broker && npx tsx bench/cluster.bench.ts      (after building; pnpm bench runs it)
 *
 * Environment (all optional):
 *   PHASES             idle,cost,produce-100,produce-1k,consume,latency,failover (any subset, in
 *                      this order; consume reads back what the produce runs wrote)
 *   IDLE_SECONDS       measured window of the idle run (default 10)
 *   COST_SECONDS       warm-up, then measured window, of each kind of request in the cost run
 *                      (default 5)
 *   WARMUP_SECONDS     before each measured window (default 2)
 *   PRODUCE_SECONDS    measured window of each produce run (default 10)
 *   BATCH_BYTES        target size of each produced batch (default 65536)
 *   IN_FLIGHT          produce requests in flight to each broker (default 5, Kafka's
 *                      max.in.flight.requests.per.connection)
 *   PARTITIONS         partitions of each topic (default 6)
 *   FETCH_PARTITION_BYTES  per-partition limit of a consumer fetch (default 4 MiB)
 *   CONSUME_SECONDS    keep reading each produced topic from its start until this long has
 *                      passed (default 3)
 *   LATENCY_SECONDS    measured window of the latency run (default 10)
 *   LATENCY_WARMUP_SECONDS  the latency run's load before its window (default 20: the figures
 *                      settle only once V8 has optimised the request paths; see BENCHMARKS.md)
 *   LATENCY_RATE       records/s of the latency run (default 5000)
 *   LATENCY_INTERVAL_MS  one produce request every this many ms (default 2)
 *   FAILOVER_TRIALS    kill -9 trials (default 5)
 *   CLIENT_WINDOW_BYTES  HTTP/2 receive window this client grants (default 16 MiB; 65535 is
 *                      HTTP/2's default)
 *   BROKER_FLAGS, CONTROLLER_FLAGS  extra flags for every broker / controller, space-separated
 *                      (e.g. CONTROLLER_FLAGS="--broker-session-timeout-ms 1500")
 *   BROKER_NODE_FLAGS  Node's own flags for every broker, space-separated (e.g. "--cpu-prof
 *                      --cpu-prof-dir=/tmp/prof" for a profile of each broker, written when it stops)
 */
import { randomBytes } from 'node:crypto';
import { type ClientHttp2Session, connect, constants as http2Constants } from 'node:http2';
import { fileURLToPath } from 'node:url';
import { createH2Client, requestJson } from '@millrace/http';
import {
  ContentType,
  decodeFetchResponse,
  decodeRecordBatch,
  encodeProduceRequest,
  encodeRecordBatch,
  lastOffsetOf,
  type MetadataResponse,
  MetadataResponseSchema,
  type ProduceResponse,
  Routes,
  readRecordBatchHeader,
  splitRecordBatches,
  TopicDescriptionSchema,
  verifyRecordBatchCrc,
} from '@millrace/protocol';
import {
  cpuSecondsByProcess,
  envNumber,
  machineBusySeconds,
  type ProcessCluster,
  runningPids,
  startProcessCluster,
  tail,
  waitFor,
  warningsLogged,
} from '@millrace/test-kit';

const BROKER_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const CONTROLLER_MAIN = fileURLToPath(new URL('../../controller/dist/main.js', import.meta.url));

const ALL_PHASES = ['idle', 'cost', 'produce-100', 'produce-1k', 'consume', 'latency', 'failover'];
const PHASES = new Set((process.env.PHASES ?? ALL_PHASES.join(',')).split(',').map((p) => p.trim()));
for (const phase of PHASES) {
  if (!ALL_PHASES.includes(phase)) throw new Error(`PHASES: "${phase}" is not one of ${ALL_PHASES.join(', ')}`);
}
const WARMUP_SECONDS = envNumber('WARMUP_SECONDS', 2);
const PRODUCE_SECONDS = envNumber('PRODUCE_SECONDS', 10);
const BATCH_BYTES = envNumber('BATCH_BYTES', 64 * 1024);
const IN_FLIGHT = envNumber('IN_FLIGHT', 5);
const PARTITIONS = envNumber('PARTITIONS', 6);
const FETCH_PARTITION_BYTES = envNumber('FETCH_PARTITION_BYTES', 4 * 1024 * 1024);
const CONSUME_SECONDS = envNumber('CONSUME_SECONDS', 3);
const LATENCY_SECONDS = envNumber('LATENCY_SECONDS', 10);
const LATENCY_WARMUP_SECONDS = envNumber('LATENCY_WARMUP_SECONDS', 20);
const IDLE_SECONDS = envNumber('IDLE_SECONDS', 10);
const COST_SECONDS = envNumber('COST_SECONDS', 5);
/**
 * The idle measurement before each cost window. /proc counts CPU in 10 ms ticks, so a process
 * that does nothing for the requests can show a few tens of µs per request either side of zero.
 */
const IDLE_BEFORE_COST_MS = 2000;
const LATENCY_RATE = envNumber('LATENCY_RATE', 5000);
const LATENCY_INTERVAL_MS = envNumber('LATENCY_INTERVAL_MS', 2);
const FAILOVER_TRIALS = envNumber('FAILOVER_TRIALS', 5);
const CLIENT_WINDOW_BYTES = envNumber('CLIENT_WINDOW_BYTES', 16 * 1024 * 1024);
const BROKER_FLAGS = (process.env.BROKER_FLAGS ?? '').split(' ').filter((f) => f !== '');
const BROKER_NODE_FLAGS = (process.env.BROKER_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
const CONTROLLER_FLAGS = (process.env.CONTROLLER_FLAGS ?? '').split(' ').filter((f) => f !== '');
const BROKER_IDS = [1, 2, 3] as const;
/** How long acks=all may wait at the leader; long enough that a slow ISR shows as latency, not as errors. */
const PRODUCE_TIMEOUT_MS = 30_000;
/** A failover client's pause between attempts and metadata refreshes (Kafka's retry.backoff.ms is 100). */
const RETRY_BACKOFF_MS = 20;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * One h2c connection (prior knowledge) to one broker through `node:http2`, reopened after it
 * fails. The bench's own client rather than `@millrace/http`'s: produce answers JSON, which
 * `createFrameSession` refuses, and undici's HTTP/2 client costs several times the CPU per
 * request (DESIGN.md decision 7; BENCHMARKS.md, packages/raft), CPU the cluster needs.
 * It grants the broker a receive window of CLIENT_WINDOW_BYTES and DATA frames of up to 1 MiB, so
 * that large fetch answers are neither paced by HTTP/2 flow control nor cut into 16 KiB frames
 * (a consumer's choice; the protocol's defaults are a 65,535-byte window and 16 KiB frames).
 */
class Peer {
  readonly origin: string;
  #session: ClientHttp2Session | undefined;

  constructor(origin: string) {
    this.origin = origin;
  }

  post(
    path: string,
    body: Buffer,
    contentType: string,
    timeoutMs: number,
  ): Promise<{ status: number; body: Buffer; contentType: string }> {
    return new Promise((resolve, reject) => {
      let session: ClientHttp2Session;
      let stream: ReturnType<ClientHttp2Session['request']>;
      try {
        session = this.#connect();
        stream = session.request({ ':method': 'POST', ':path': path, 'content-type': contentType });
      } catch (error) {
        reject(error);
        return;
      }
      let settled = false;
      const finish = (error: unknown, answer?: { status: number; body: Buffer; contentType: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error !== undefined) {
          if (!stream.closed) stream.close(http2Constants.NGHTTP2_CANCEL);
          reject(error);
        } else resolve(answer as { status: number; body: Buffer; contentType: string });
      };
      const timer = setTimeout(
        () => finish(new Error(`POST ${this.origin}${path}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      let status = 0;
      let type = '';
      // With a content-length the answer is copied into one buffer as it arrives, so the chunks
      // die young (a large fetch answer arrives in hundreds of HTTP/2 DATA frames).
      let whole: Buffer | undefined;
      let length = 0;
      const chunks: Buffer[] = [];
      stream.on('response', (headers) => {
        status = Number(headers[':status']);
        type = String(headers['content-type'] ?? '');
        const declared = Number(headers['content-length']);
        if (Number.isSafeInteger(declared) && declared > 0) whole = Buffer.allocUnsafe(declared);
      });
      stream.on('data', (chunk: Buffer) => {
        if (whole !== undefined && length + chunk.length <= whole.length) chunk.copy(whole, length);
        else chunks.push(chunk);
        length += chunk.length;
      });
      stream.on('end', () => {
        if (status === 0 || (stream.rstCode ?? 0) !== http2Constants.NGHTTP2_NO_ERROR) {
          finish(new Error(`POST ${this.origin}${path}: the stream closed without a whole answer`));
        } else if (whole !== undefined && length !== whole.length) {
          finish(new Error(`POST ${this.origin}${path}: ${length} bytes arrived of ${whole.length}`));
        } else {
          const body = whole ?? (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
          finish(undefined, { status, body, contentType: type });
        }
      });
      stream.on('error', (error) => finish(error));
      stream.on('close', () =>
        finish(new Error(`POST ${this.origin}${path}: the stream closed (code ${stream.rstCode})`)),
      );
      stream.end(body);
    });
  }

  /** A JSON request with a JSON answer; a non-2xx answer is an error carrying the body's code. */
  async postJson(path: string, request: unknown, timeoutMs = 5000): Promise<unknown> {
    const answer = await this.post(path, Buffer.from(JSON.stringify(request)), ContentType.json, timeoutMs);
    const body: unknown = JSON.parse(answer.body.toString('utf8'));
    if (answer.status < 200 || answer.status >= 300) {
      throw new Error(`POST ${this.origin}${path}: ${answer.status} ${JSON.stringify(body)}`);
    }
    return body;
  }

  close(): void {
    this.#session?.destroy();
    this.#session = undefined;
  }

  #connect(): ClientHttp2Session {
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const session = connect(this.origin, {
      settings: {
        enablePush: false,
        initialWindowSize: Math.min(CLIENT_WINDOW_BYTES, 2 ** 31 - 1),
        maxFrameSize: 1 << 20,
      },
    });
    session.on('error', () => {}); // Failures reach the requests through their streams.
    session.once('connect', () => session.setLocalWindowSize(Math.min(CLIENT_WINDOW_BYTES * 4, 2 ** 31 - 1)));
    const forget = () => {
      if (this.#session === session) this.#session = undefined;
    };
    session.once('close', forget);
    session.once('goaway', forget);
    this.#session = session;
    return session;
  }
}

interface CpuSnapshot {
  readonly atMs: number;
  readonly machineBusySeconds: number;
  readonly byProcess: ReadonlyMap<string, number>;
  /** Requests the brokers have answered, by route, from their /metrics. */
  readonly requests: ReadonlyMap<string, number>;
}

/** Requests answered by every running broker, summed by route (the count of millrace_http_request_duration_seconds). */
async function requestCounts(cluster: ProcessCluster): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const id of BROKER_IDS) {
    const proc = cluster.procs.get(`broker-${id}`);
    if (proc === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) continue;
    const { body } = await cluster.getJson('broker', id, '/metrics');
    for (const line of String(body).split('\n')) {
      const match = /^millrace_http_request_duration_seconds_count\{[^}]*route="([^"]+)"[^}]*\} (\d+)/.exec(line);
      if (match !== null) counts.set(match[1] as string, (counts.get(match[1] as string) ?? 0) + Number(match[2]));
    }
  }
  return counts;
}

async function cpuSnapshot(cluster: ProcessCluster): Promise<CpuSnapshot> {
  const requests = await requestCounts(cluster);
  const byProcess = cpuSecondsByProcess(runningPids(cluster.procs), 'bench');
  return { atMs: performance.now(), machineBusySeconds: machineBusySeconds(), byProcess, requests };
}

/** The cores process `name` used between two snapshots. */
function coresOf(before: CpuSnapshot, after: CpuSnapshot, name: string): number {
  const seconds = (after.atMs - before.atMs) / 1000;
  return ((after.byProcess.get(name) ?? 0) - (before.byProcess.get(name) ?? 0)) / seconds;
}

/** Cores used between two snapshots: each broker, the controllers together, this process. */
function coresUsed(before: CpuSnapshot, after: CpuSnapshot): string {
  const seconds = (after.atMs - before.atMs) / 1000;
  const used = (name: string) => coresOf(before, after, name);
  const brokers = BROKER_IDS.map((id) => used(`broker-${id}`));
  const controllers = [1, 2, 3].reduce((sum, id) => sum + used(`controller-${id}`), 0);
  const ours = brokers.reduce((a, b) => a + b, 0) + controllers + used('bench');
  const machine = (after.machineBusySeconds - before.machineBusySeconds) / seconds;
  return (
    `brokers ${brokers.map((c) => c.toFixed(2)).join(' + ')}, controllers ${controllers.toFixed(2)}, ` +
    `bench ${used('bench').toFixed(2)}; cluster and bench ${ours.toFixed(2)}, other processes ${Math.max(0, machine - ours).toFixed(2)}. ` +
    `Requests/s the brokers answered: ${requestRates(before, after)}`
  );
}

function requestRates(before: CpuSnapshot, after: CpuSnapshot): string {
  const seconds = (after.atMs - before.atMs) / 1000;
  const rate = (route: string) => ((after.requests.get(route) ?? 0) - (before.requests.get(route) ?? 0)) / seconds;
  return [Routes.produce, Routes.replicaFetch, Routes.fetch]
    .map((route) => `${route.replace('/v1/', '')} ${Math.round(rate(route))}`)
    .join(', ');
}

interface Row {
  readonly measure: string;
  readonly result: string;
  readonly goal: string;
  readonly cpu: string;
}

class Bench {
  readonly cluster: ProcessCluster;
  readonly peers = new Map<number, Peer>();
  readonly rows: Row[] = [];

  constructor(cluster: ProcessCluster) {
    this.cluster = cluster;
    for (const id of BROKER_IDS) this.peers.set(id, new Peer(cluster.origin('broker', id)));
  }

  peer(id: number): Peer {
    const peer = this.peers.get(id);
    if (peer === undefined) throw new Error(`no broker ${id}`);
    return peer;
  }

  close(): void {
    for (const peer of this.peers.values()) peer.close();
  }

  async createTopic(name: string, partitions: number, replicationFactor = 3): Promise<void> {
    const client = createH2Client(this.cluster.origin('broker', 1), { connectTimeoutMs: 1000 });
    try {
      await requestJson(client, {
        method: 'POST',
        path: Routes.topics,
        body: {
          name,
          partitions,
          replicationFactor,
          configs: { 'min.insync.replicas': String(Math.min(2, replicationFactor)) },
        },
        headers: { authorization: `Bearer ${this.cluster.adminToken}` },
        responseSchema: TopicDescriptionSchema,
        timeoutMs: 10_000,
      });
    } finally {
      await client.destroy();
    }
    await this.waitFullIsr(name, replicationFactor, 20_000);
  }

  /** Metadata from the first of `brokers` that answers. */
  async metadata(topics: readonly string[], brokers: readonly number[] = BROKER_IDS): Promise<MetadataResponse> {
    let lastError: unknown;
    for (const id of brokers) {
      try {
        return MetadataResponseSchema.parse(await this.peer(id).postJson(Routes.metadata, { topics }, 1000));
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(`no broker answered metadata`, { cause: lastError });
  }

  /** Waits until every partition of `topic` has a leader and all its replicas in its ISR, on every live broker's metadata. */
  async waitFullIsr(topic: string, replicationFactor: number, timeoutMs: number): Promise<void> {
    await waitFor(
      `${topic}: every partition led, ISR of ${replicationFactor}`,
      async () => {
        for (const id of BROKER_IDS) {
          const meta = await this.metadata([topic], [id]);
          const partitions = meta.topics[0]?.partitions ?? [];
          if (partitions.length === 0) return false;
          if (!partitions.every((p) => p.leader !== null && p.isr.length === replicationFactor)) return false;
        }
        return true;
      },
      timeoutMs,
    );
  }

  /** The partitions of `topic` each broker leads. */
  async leaders(topic: string): Promise<Map<number, number[]>> {
    const meta = await this.metadata([topic]);
    const byBroker = new Map<number, number[]>();
    for (const p of meta.topics[0]?.partitions ?? []) {
      if (p.leader === null) throw new Error(`${topic}-${p.partition} has no leader`);
      byBroker.set(p.leader, [...(byBroker.get(p.leader) ?? []), p.partition]);
    }
    return byBroker;
  }

  /** Sends one produce frame; resolves to the parsed answer. */
  async produce(brokerId: number, body: Buffer, timeoutMs: number): Promise<ProduceResponse> {
    const answer = await this.peer(brokerId).post(Routes.produce, body, ContentType.frame, timeoutMs);
    const parsed: unknown = JSON.parse(answer.body.toString('utf8'));
    if (answer.status < 200 || answer.status >= 300) {
      throw new Error(`produce to broker ${brokerId}: ${answer.status} ${JSON.stringify(parsed)}`);
    }
    return parsed as ProduceResponse;
  }

  /** One fetch of `positions` (partition → offset) of `topic` from a leader, decoded. */
  async fetch(
    brokerId: number,
    topic: string,
    positions: ReadonlyMap<number, bigint>,
    options: { maxWaitMs: number; partitionMaxBytes: number },
  ) {
    const request = {
      maxWaitMs: options.maxWaitMs,
      minBytes: 1,
      maxBytes: 64 * 1024 * 1024,
      topics: [
        {
          topic,
          partitions: [...positions].map(([partition, offset]) => ({
            partition,
            fetchOffset: offset.toString(),
            partitionMaxBytes: options.partitionMaxBytes,
          })),
        },
      ],
    };
    const answer = await this.peer(brokerId).post(
      Routes.fetch,
      Buffer.from(JSON.stringify(request)),
      ContentType.json,
      options.maxWaitMs + 10_000,
    );
    if (answer.status !== 200) {
      throw new Error(`fetch from broker ${brokerId}: ${answer.status} ${answer.body.toString('utf8')}`);
    }
    const partitions = decodeFetchResponse(answer.body).topics[0]?.partitions ?? [];
    for (const p of partitions) {
      if (p.error !== undefined) throw new Error(`fetch ${topic}-${p.partition}: ${p.error.code} ${p.error.message}`);
    }
    return partitions;
  }

  /** 1. Produce throughput with records of `valueBytes`, for PRODUCE_SECONDS after WARMUP_SECONDS. */
  async produceThroughput(
    topic: string,
    valueBytes: number,
    goal: (recordsPerSecond: number, mbPerSecond: number) => string,
  ) {
    await this.createTopic(topic, PARTITIONS);
    const leaders = await this.leaders(topic);
    // Records per batch so that a batch is about BATCH_BYTES: measure one record's encoded size.
    const probe = encodeRecordBatch({
      records: [{ value: randomBytes(valueBytes) }, { value: randomBytes(valueBytes) }],
    });
    const single = encodeRecordBatch({ records: [{ value: randomBytes(valueBytes) }] });
    const perRecord = probe.length - single.length;
    const recordsPerBatch = Math.max(1, Math.floor((BATCH_BYTES - (single.length - perRecord)) / perRecord));
    // A few distinct batches used in turn (values random, so incompressible). Encoding is left out
    // of the loop: the codec bench prices it (825 MB/s at 100 B, 2.7 GB/s at 1 KiB, one core).
    const pool = Array.from({ length: 8 }, () =>
      encodeRecordBatch({
        records: Array.from({ length: recordsPerBatch }, () => ({ value: randomBytes(valueBytes) })),
      }),
    );
    const batchBytes = (pool[0] as Buffer).length;

    let stopping = false;
    let measuring = false;
    let records = 0;
    let requests = 0;
    let errors = 0;
    let firstError = '';
    const latenciesMs: number[] = [];
    let next = 0;
    const loops: Promise<void>[] = [];
    for (const [brokerId, partitions] of leaders) {
      for (let k = 0; k < IN_FLIGHT; k++) {
        loops.push(
          (async () => {
            while (!stopping) {
              const body = encodeProduceRequest({
                acks: 'all',
                timeoutMs: PRODUCE_TIMEOUT_MS,
                topics: [
                  {
                    topic,
                    partitions: partitions.map((partition) => ({
                      partition,
                      records: pool[next++ % pool.length] as Buffer,
                    })),
                  },
                ],
              });
              const sentMs = performance.now();
              let answer: ProduceResponse;
              try {
                answer = await this.produce(brokerId, body, PRODUCE_TIMEOUT_MS + 5000);
              } catch (error) {
                errors++;
                firstError ||= String(error);
                await sleep(100);
                continue;
              }
              if (!measuring) continue;
              latenciesMs.push(performance.now() - sentMs);
              requests++;
              for (const t of answer.topics) {
                for (const p of t.partitions) {
                  if (p.error === undefined) records += recordsPerBatch;
                  else {
                    errors++;
                    firstError ||= `${p.error.code}: ${p.error.message}`;
                  }
                }
              }
            }
          })(),
        );
      }
    }
    await sleep(WARMUP_SECONDS * 1000);
    const before = await cpuSnapshot(this.cluster);
    measuring = true;
    await sleep(PRODUCE_SECONDS * 1000);
    measuring = false;
    const after = await cpuSnapshot(this.cluster);
    stopping = true;
    await Promise.all(loops);
    const seconds = (after.atMs - before.atMs) / 1000;
    const recordsPerSecond = records / seconds;
    const mbPerSecond = (recordsPerSecond * valueBytes) / 1e6;
    latenciesMs.sort((a, b) => a - b);
    const split = [...leaders].map(([id, ps]) => `b${id}:${ps.join(',')}`).join(' ');
    this.rows.push({
      measure:
        `produce ${valueBytes} B records, acks=all (batches of ${recordsPerBatch} = ${batchBytes} B; ` +
        `${IN_FLIGHT} requests in flight per broker; leaders ${split})`,
      result:
        `${Math.round(recordsPerSecond).toLocaleString('en-US')} records/s, ${mbPerSecond.toFixed(1)} MB/s; ` +
        `${Math.round(requests / seconds)} requests/s, ack p50 ${percentile(latenciesMs, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(latenciesMs, 99).toFixed(1)} ms` +
        (errors > 0 ? `; ${errors} errors (first: ${firstError.slice(0, 160)})` : ''),
      goal: goal(recordsPerSecond, mbPerSecond),
      cpu: coresUsed(before, after),
    });
    console.log(this.rows.at(-1));
  }

  /**
   * 2. Consume throughput: each leader's partitions of `topic` read from offset 0 towards the high
   * watermark, one fetch in flight per leader, over and over until CONSUME_SECONDS have passed
   * (the data was just written, so it is served from memory: LevelDB's cache and the page cache).
   */
  async consumeThroughput(topic: string, valueBytes: number, goal: (mbPerSecond: number) => string) {
    const leaders = await this.leaders(topic);
    let records = 0;
    let batchBytes = 0;
    let fetches = 0;
    let passes = 0;
    const before = await cpuSnapshot(this.cluster);
    const deadlineMs = before.atMs + CONSUME_SECONDS * 1000;
    await Promise.all(
      [...leaders].map(async ([brokerId, partitions]) => {
        let positions = new Map<number, bigint>();
        while (performance.now() < deadlineMs) {
          if (positions.size === 0) {
            positions = new Map(partitions.map((p) => [p, 0n]));
            passes++;
          }
          const answer = await this.fetch(brokerId, topic, positions, {
            maxWaitMs: 0,
            partitionMaxBytes: FETCH_PARTITION_BYTES,
          });
          fetches++;
          for (const p of answer) {
            const from = positions.get(p.partition);
            if (from === undefined) continue;
            let nextOffset = from;
            for (const batch of p.records.length === 0 ? [] : splitRecordBatches(p.records)) {
              verifyRecordBatchCrc(batch);
              const header = readRecordBatchHeader(batch);
              records += header.recordCount;
              batchBytes += batch.length;
              nextOffset = lastOffsetOf(header) + 1n;
            }
            if (nextOffset >= p.highWatermark) positions.delete(p.partition);
            else positions.set(p.partition, nextOffset);
          }
        }
      }),
    );
    const after = await cpuSnapshot(this.cluster);
    const seconds = (after.atMs - before.atMs) / 1000;
    const mbPerSecond = (records * valueBytes) / 1e6 / seconds;
    this.rows.push({
      measure:
        `consume ${valueBytes} B records from the leaders (${FETCH_PARTITION_BYTES / 1048576} MiB per partition ` +
        'per fetch, one fetch in flight per leader, every batch CRC-checked)',
      result:
        `${Math.round(records / seconds).toLocaleString('en-US')} records/s, ${mbPerSecond.toFixed(1)} MB/s ` +
        `(${(batchBytes / 1e6).toFixed(0)} MB of batches in ${seconds.toFixed(2)} s, ${fetches} fetches, ` +
        `${passes} leader passes)`,
      goal: goal(mbPerSecond),
      cpu: coresUsed(before, after),
    });
    console.log(this.rows.at(-1));
  }

  /** 0. The CPU of a quiet cluster: one topic, no clients. */
  async idle(topic: string) {
    await this.createTopic(topic, PARTITIONS);
    // Let the topic's creation and the first replica fetch rounds settle before the window.
    await sleep(WARMUP_SECONDS * 1000);
    const before = await cpuSnapshot(this.cluster);
    await sleep(IDLE_SECONDS * 1000);
    const after = await cpuSnapshot(this.cluster);
    const seconds = (after.atMs - before.atMs) / 1000;
    const controllers = [1, 2, 3].map((id) => coresOf(before, after, `controller-${id}`));
    const brokers = BROKER_IDS.map((id) => coresOf(before, after, `broker-${id}`));
    const total = [...controllers, ...brokers].reduce((a, b) => a + b, 0);
    this.rows.push({
      measure: `idle: one topic of ${PARTITIONS} partitions at RF 3, no clients, ${seconds.toFixed(0)} s`,
      result:
        `${total.toFixed(3)} cores: controllers ${controllers.map((c) => c.toFixed(3)).join(' + ')}, ` +
        `brokers ${brokers.map((c) => c.toFixed(3)).join(' + ')}`,
      goal: '',
      cpu: coresUsed(before, after),
    });
    console.log(this.rows.at(-1));
  }

  /** 0b. What one request costs: closed loop, one at a time, round trip and CPU per request. */
  async cost() {
    await this.createTopic('bench-cost-rf1', 1, 1);
    await this.createTopic('bench-cost-rf3', 1, 3);
    const leaderOf = async (topic: string) => [...(await this.leaders(topic)).keys()][0] as number;
    const rf1 = await leaderOf('bench-cost-rf1');
    const rf3 = await leaderOf('bench-cost-rf3');
    const batch = encodeRecordBatch({ records: Array.from({ length: 10 }, () => ({ value: randomBytes(100) })) });
    const produce = (brokerId: number, topic: string, acks: 'all' | 1) => async () => {
      const body = encodeProduceRequest({
        acks,
        timeoutMs: PRODUCE_TIMEOUT_MS,
        topics: [{ topic, partitions: [{ partition: 0, records: batch }] }],
      });
      const error = (await this.produce(brokerId, body, PRODUCE_TIMEOUT_MS + 5000)).topics[0]?.partitions[0]?.error;
      if (error !== undefined) throw new Error(`produce to ${topic}: ${error.code}: ${error.message}`);
    };
    const kinds: [string, () => Promise<unknown>][] = [
      [
        'fetch at the log end (maxWaitMs 0), RF 1',
        () => this.fetch(rf1, 'bench-cost-rf1', new Map([[0, 0n]]), { maxWaitMs: 0, partitionMaxBytes: 1024 }),
      ],
      ['produce acks=1, RF 1', produce(rf1, 'bench-cost-rf1', 1)],
      ['produce acks=all, RF 3', produce(rf3, 'bench-cost-rf3', 'all')],
    ];
    for (const [label, request] of kinds) {
      // Warm up (V8 optimises what runs often), then measure.
      for (const end = performance.now() + COST_SECONDS * 1000; performance.now() < end; ) await request();
      // Every process's idle rate just before the window (heartbeats, parked replica fetches),
      // taken off what the window used, so the figures are what the requests cost.
      await sleep(200);
      const idleFrom = await cpuSnapshot(this.cluster);
      await sleep(IDLE_BEFORE_COST_MS);
      const idleTo = await cpuSnapshot(this.cluster);
      const roundTripsMs: number[] = [];
      const before = await cpuSnapshot(this.cluster);
      for (const end = performance.now() + COST_SECONDS * 1000; performance.now() < end; ) {
        const started = performance.now();
        await request();
        roundTripsMs.push(performance.now() - started);
      }
      const after = await cpuSnapshot(this.cluster);
      const count = roundTripsMs.length;
      const idleRate = (name: string) => coresOf(idleFrom, idleTo, name);
      const windowSeconds = (after.atMs - before.atMs) / 1000;
      const microsPerRequest = (name: string) =>
        ((coresOf(before, after, name) - idleRate(name)) * windowSeconds * 1e6) / count;
      const brokers = BROKER_IDS.map((id) => microsPerRequest(`broker-${id}`));
      const controllers = [1, 2, 3].reduce((sum, id) => sum + microsPerRequest(`controller-${id}`), 0);
      roundTripsMs.sort((a, b) => a - b);
      this.rows.push({
        measure: `cost of one ${label}, one at a time (${(count / windowSeconds).toFixed(0)}/s)`,
        result:
          `round trip p50 ${percentile(roundTripsMs, 50).toFixed(2)} ms, p99 ${percentile(roundTripsMs, 99).toFixed(2)} ms; ` +
          `CPU per request, net of idle: brokers ${brokers.map((c) => c.toFixed(0)).join(' + ')} µs, ` +
          `controllers ${controllers.toFixed(0)} µs, bench ${microsPerRequest('bench').toFixed(0)} µs ` +
          `(idle before: brokers ${BROKER_IDS.map((id) => idleRate(`broker-${id}`).toFixed(3)).join(' + ')}, ` +
          `controllers ${[1, 2, 3].reduce((sum, id) => sum + idleRate(`controller-${id}`), 0).toFixed(3)} cores)`,
        goal: '',
        cpu: coresUsed(before, after),
      });
      console.log(this.rows.at(-1));
    }
  }

  /** 3. Latency at LATENCY_RATE records/s: produce-to-ack and end to end. */
  async latency(topic: string) {
    await this.createTopic(topic, PARTITIONS);
    const leaders = await this.leaders(topic);
    const leaderOf = new Map<number, number>();
    for (const [id, ps] of leaders) for (const p of ps) leaderOf.set(p, id);
    const partitions = [...leaderOf.keys()].sort((a, b) => a - b);
    const recordsPerRequest = Math.max(1, Math.round((LATENCY_RATE * LATENCY_INTERVAL_MS) / 1000));
    const filler = randomBytes(100);

    let stopping = false;
    let windowStartMs = Number.POSITIVE_INFINITY;
    let windowEndMs = Number.POSITIVE_INFINITY;
    const ackMs: number[] = [];
    const endToEndMs: number[] = [];
    let sentInWindow = 0;
    let errors = 0;
    let firstError = '';

    // Consumers first: one long poll in flight per leader, from offset 0 of the fresh topic.
    const consumers = [...leaders].map(async ([brokerId, ps]) => {
      const positions = new Map(ps.map((p) => [p, 0n]));
      while (!stopping) {
        let answer: Awaited<ReturnType<Bench['fetch']>>;
        try {
          answer = await this.fetch(brokerId, topic, positions, { maxWaitMs: 200, partitionMaxBytes: 1024 * 1024 });
        } catch (error) {
          errors++;
          firstError ||= String(error);
          await sleep(50);
          continue;
        }
        const seenMs = performance.now();
        for (const p of answer) {
          if (p.records.length === 0) continue;
          for (const batch of splitRecordBatches(p.records)) {
            for (const record of decodeRecordBatch(batch).records) {
              const sentMs = (record.value as Buffer).readDoubleLE(0);
              if (sentMs >= windowStartMs && sentMs < windowEndMs) endToEndMs.push(seenMs - sentMs);
              positions.set(p.partition, record.offset + 1n);
            }
          }
        }
      }
    });

    // The producer: every LATENCY_INTERVAL_MS, one request of one small batch to the next
    // partition's leader, open loop (it never waits for earlier answers). If the timer runs late,
    // the requests due are sent at once, so the rate holds.
    const producing: Promise<void>[] = [];
    const startMs = performance.now();
    let sent = 0;
    const sendOne = () => {
      const partition = partitions[sent % partitions.length] as number;
      const brokerId = leaderOf.get(partition) as number;
      sent++;
      const sentMs = performance.now();
      const values = Array.from({ length: recordsPerRequest }, () => {
        const value = Buffer.allocUnsafe(100);
        filler.copy(value);
        value.writeDoubleLE(sentMs, 0);
        return { value };
      });
      const body = encodeProduceRequest({
        acks: 'all',
        timeoutMs: PRODUCE_TIMEOUT_MS,
        topics: [{ topic, partitions: [{ partition, records: encodeRecordBatch({ records: values }) }] }],
      });
      const inWindow = sentMs >= windowStartMs && sentMs < windowEndMs;
      if (inWindow) sentInWindow += recordsPerRequest;
      producing.push(
        this.produce(brokerId, body, PRODUCE_TIMEOUT_MS + 5000).then(
          (answer) => {
            const error = answer.topics[0]?.partitions[0]?.error;
            if (error !== undefined) {
              errors++;
              firstError ||= `${error.code}: ${error.message}`;
            } else if (inWindow) ackMs.push(performance.now() - sentMs);
          },
          (error: unknown) => {
            errors++;
            firstError ||= String(error);
          },
        ),
      );
    };
    const totalMs = (LATENCY_WARMUP_SECONDS + LATENCY_SECONDS) * 1000;
    let before: CpuSnapshot | undefined;
    while (performance.now() - startMs < totalMs) {
      const elapsedMs = performance.now() - startMs;
      if (before === undefined && elapsedMs >= LATENCY_WARMUP_SECONDS * 1000) {
        before = await cpuSnapshot(this.cluster);
        windowStartMs = performance.now();
        windowEndMs = windowStartMs + LATENCY_SECONDS * 1000;
      }
      const due = Math.floor(elapsedMs / LATENCY_INTERVAL_MS) + 1;
      while (sent < due) sendOne();
      await sleep(Math.max(0, startMs + sent * LATENCY_INTERVAL_MS - performance.now()));
    }
    const after = await cpuSnapshot(this.cluster);
    await Promise.all(producing);
    // Let the consumers see the last records of the window.
    await waitFor(
      'the consumers to see every record of the window',
      () => endToEndMs.length >= sentInWindow,
      10_000,
    ).catch(() => undefined);
    stopping = true;
    await Promise.all(consumers);
    const seconds = (after.atMs - (before as CpuSnapshot).atMs) / 1000;
    ackMs.sort((a, b) => a - b);
    endToEndMs.sort((a, b) => a - b);
    const rate = sentInWindow / seconds;
    const cpu = coresUsed(before as CpuSnapshot, after);
    const problems =
      (errors > 0 ? `; ${errors} errors (first: ${firstError.slice(0, 160)})` : '') +
      (endToEndMs.length < sentInWindow ? `; consumers saw ${endToEndMs.length} of ${sentInWindow} records` : '');
    this.rows.push({
      measure: `produce → ack at ${Math.round(rate).toLocaleString('en-US')} records/s (${recordsPerRequest} × 100 B per request, one request every ${LATENCY_INTERVAL_MS} ms, after ${LATENCY_WARMUP_SECONDS} s at that rate)`,
      result: `p50 ${percentile(ackMs, 50).toFixed(2)} ms, p99 ${percentile(ackMs, 99).toFixed(2)} ms, max ${(ackMs.at(-1) ?? Number.NaN).toFixed(1)} ms (${ackMs.length} requests)${problems}`,
      goal: `p99 < 5 ms: ${percentile(ackMs, 99) < 5 ? 'met' : 'not met'}`,
      cpu,
    });
    this.rows.push({
      measure: 'end to end: send → a long-polling consumer on the leader sees the record',
      result: `p50 ${percentile(endToEndMs, 50).toFixed(2)} ms, p99 ${percentile(endToEndMs, 99).toFixed(2)} ms, max ${(endToEndMs.at(-1) ?? Number.NaN).toFixed(1)} ms (${endToEndMs.length} records)`,
      goal: `p99 < 10 ms: ${percentile(endToEndMs, 99) < 10 ? 'met' : 'not met'}`,
      cpu,
    });
    console.log(this.rows.at(-2), this.rows.at(-1));
  }

  /** 4. Failover: kill -9 of a leader under an acks=all producer; time until its partitions acknowledge writes again. */
  async failover(topic: string) {
    await this.createTopic(topic, PARTITIONS);
    const allMs: number[] = [];
    const electedMs: number[] = [];
    const perPartitionMs: number[] = [];
    const lines: string[] = [];
    for (let trial = 0; trial < FAILOVER_TRIALS; trial++) {
      const live = new Set<number>(BROKER_IDS);
      // What the producer believes about leaders, refreshed from metadata after every failure.
      const leaderOf = new Map<number, number>();
      const refresh = async () => {
        const meta = await this.metadata([topic], [...live]);
        for (const p of meta.topics[0]?.partitions ?? []) if (p.leader !== null) leaderOf.set(p.partition, p.leader);
      };
      await refresh();
      let stopping = false;
      let victim = -1;
      let killedAtMs = Number.POSITIVE_INFINITY;
      const ackedAt = new Map<number, number>();
      const electedAt = new Map<number, number>();
      let acks = 0;
      let refreshing: Promise<void> | undefined;
      const refreshShared = () => {
        refreshing ??= refresh()
          .catch(() => undefined)
          .finally(() => {
            refreshing = undefined;
          });
        return refreshing;
      };
      const loops = [...Array(PARTITIONS).keys()].map(async (partition) => {
        const records = encodeRecordBatch({ records: [{ value: randomBytes(100) }] });
        while (!stopping) {
          const brokerId = leaderOf.get(partition) as number;
          if (performance.now() > killedAtMs && brokerId !== victim && !electedAt.has(partition)) {
            electedAt.set(partition, performance.now());
          }
          const body = encodeProduceRequest({
            acks: 'all',
            timeoutMs: 10_000,
            topics: [{ topic, partitions: [{ partition, records }] }],
          });
          try {
            const answer = await this.produce(brokerId, body, 12_000);
            const p = answer.topics[0]?.partitions[0];
            if (p?.error === undefined) {
              acks++;
              if (brokerId !== victim && performance.now() > killedAtMs && !ackedAt.has(partition)) {
                ackedAt.set(partition, performance.now());
              }
              continue;
            }
            if (p.currentLeader !== undefined) {
              leaderOf.set(partition, p.currentLeader.leaderId);
              continue;
            }
          } catch {
            // The leader died under the request, or refuses connections: ask the metadata again.
          }
          await sleep(RETRY_BACKOFF_MS);
          await refreshShared();
        }
      });
      await waitFor('steady acks=all writes', () => acks >= 20 * PARTITIONS, 20_000);
      const victimLeads = [...leaderOf].filter(([, id]) => id === leaderOf.get(trial % PARTITIONS)).map(([p]) => p);
      victim = leaderOf.get(trial % PARTITIONS) as number;
      live.delete(victim);
      killedAtMs = performance.now();
      await this.cluster.kill('broker', victim);
      try {
        await waitFor(
          `writes acknowledged by the new leaders of ${victimLeads.join(',')}`,
          () => victimLeads.every((p) => ackedAt.has(p)),
          30_000,
        );
      } finally {
        stopping = true;
        await Promise.all(loops);
      }
      const times = victimLeads.map((p) => (ackedAt.get(p) as number) - killedAtMs);
      const elected = victimLeads.map((p) => (electedAt.get(p) ?? Number.NaN) - killedAtMs);
      perPartitionMs.push(...times);
      allMs.push(Math.max(...times));
      electedMs.push(Math.max(...elected));
      lines.push(
        `trial ${trial + 1}: kill -9 broker ${victim} (led ${victimLeads.join(',')}): new leader in metadata after ` +
          `${Math.max(...elected).toFixed(0)} ms, writes acknowledged on all its partitions after ${Math.max(...times).toFixed(0)} ms`,
      );
      console.log(lines.at(-1));
      // Back to three: restart the killed broker and wait until it is in every ISR again.
      this.cluster.startBroker(victim);
      this.peer(victim).close();
      await this.cluster.waitReady(30_000).catch((error: unknown) => {
        throw new Error(`broker ${victim} did not come back\n${tail(this.cluster.proc('broker', victim))}`, {
          cause: error,
        });
      });
      await this.waitFullIsr(topic, 3, 30_000);
    }
    allMs.sort((a, b) => a - b);
    electedMs.sort((a, b) => a - b);
    perPartitionMs.sort((a, b) => a - b);
    const median = (xs: number[]) => percentile(xs, 50);
    this.rows.push({
      measure: `failover: kill -9 of a leader → first acknowledged write on every partition it led (${FAILOVER_TRIALS} trials)`,
      result:
        `median ${median(allMs).toFixed(0)} ms, max ${(allMs.at(-1) as number).toFixed(0)} ms ` +
        `(per partition: median ${median(perPartitionMs).toFixed(0)} ms; new leader seen in metadata: median ${median(electedMs).toFixed(0)} ms)`,
      goal: `< 3 s: ${(allMs.at(-1) as number) < 3000 ? 'met' : 'not met'} (max)`,
      cpu: '',
    });
    for (const line of lines) console.log(line);
  }
}

function printTable(rows: readonly Row[]): void {
  const header = ['measure', 'result', 'goal'];
  const cells = rows.map((r) => [r.measure, r.result, r.goal]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const format = (line: readonly string[]) => `| ${line.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  console.log(format(header));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const line of cells) console.log(format(line));
  console.log('\nCPU in cores over each measured window (the machine has 2):');
  for (const r of rows) if (r.cpu !== '') console.log(`- ${r.measure.split(' (')[0]}: ${r.cpu}`);
}

/**
 * What the processes logged at warn and above, counted by message (kept output only: the test
 * kit keeps each process's recent output), so a run that went wrong quietly shows it.
 */
function printLogSummary(cluster: ProcessCluster): void {
  const warnings = warningsLogged(cluster.procs);
  console.log('\nLogged at warn and above (all processes, by message):');
  if (warnings.length === 0) console.log('- nothing');
  for (const warning of warnings) console.log(`- ${warning}`);
}

async function main(): Promise<void> {
  const cluster = await startProcessCluster({
    controllerMain: CONTROLLER_MAIN,
    brokerMain: BROKER_MAIN,
    controllers: 3,
    brokers: 3,
    brokerFlags: BROKER_FLAGS,
    brokerNodeArgs: BROKER_NODE_FLAGS,
    controllerFlags: CONTROLLER_FLAGS,
    logLevel: 'warn',
  });
  const onSignal = () => {
    void cluster.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const bench = new Bench(cluster);
  try {
    await cluster.waitReady(60_000);
    console.log(
      `cluster: 3 controllers, 3 brokers (${cluster.root}); broker flags [${BROKER_FLAGS.join(' ')}], controller flags [${CONTROLLER_FLAGS.join(' ')}]`,
    );
    if (PHASES.has('idle')) await bench.idle('bench-idle');
    if (PHASES.has('cost')) await bench.cost();
    if (PHASES.has('produce-100')) {
      await bench.produceThroughput(
        'bench-100b',
        100,
        (rps) => `≥ 250,000 records/s: ${rps >= 250_000 ? 'met' : 'not met'}`,
      );
    }
    if (PHASES.has('produce-1k')) {
      await bench.produceThroughput('bench-1k', 1024, (_, mbps) => `≥ 60 MB/s: ${mbps >= 60 ? 'met' : 'not met'}`);
    }
    if (PHASES.has('consume') && PHASES.has('produce-100')) await bench.consumeThroughput('bench-100b', 100, () => '');
    if (PHASES.has('consume') && PHASES.has('produce-1k')) {
      await bench.consumeThroughput('bench-1k', 1024, (mbps) => `≥ 250 MB/s: ${mbps >= 250 ? 'met' : 'not met'}`);
    }
    if (PHASES.has('latency')) await bench.latency('bench-latency');
    if (PHASES.has('failover')) await bench.failover('bench-failover');
    console.log('');
    printTable(bench.rows);
    printLogSummary(cluster);
  } finally {
    bench.close();
    await cluster.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

await main();
