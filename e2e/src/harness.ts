import { fileURLToPath } from 'node:url';
import { type Admin, type ClientOptions, Millrace } from '@millrace/client';
import { killHard, type ProcessCluster, startProcessCluster, tail, waitFor } from '@millrace/test-kit';
import { type AckedRecord, type CheckReport, check, type LogRecord } from './checker.js';
import { ackedEnds, decodeRecordId } from './load.js';

/**
 * The e2e harness: a thin layer on test-kit's process cluster that names the operations the
 * scenarios use (kill -9, freeze, graceful stop, restart, add a broker) and the waits between them
 * ("every broker alive at the controller", "the partition has a leader other than X"). Every wait
 * is bounded; every process and client it starts, `close()` stops.
 */

export const BROKER_MAIN = fileURLToPath(new URL('../../apps/broker/dist/main.js', import.meta.url));
export const CONTROLLER_MAIN = fileURLToPath(new URL('../../apps/controller/dist/main.js', import.meta.url));

/**
 * Short broker sessions so that a dead broker's leaderships move in about two seconds, as the
 * client and broker process tests run: heartbeats every 200 ms, fenced after 1.5 s of silence.
 */
export const FAST_FAILOVER = {
  brokerFlags: ['--heartbeat-interval-ms', '200', '--replica-fetch-wait-max-ms', '200'],
  controllerFlags: ['--broker-session-timeout-ms', '1500'],
} as const;

export type NodeKind = 'controller' | 'broker';

export interface Node {
  readonly kind: NodeKind;
  readonly id: number;
}

export const broker = (id: number): Node => ({ kind: 'broker', id });
export const controller = (id: number): Node => ({ kind: 'controller', id });
const nodeName = (node: Node) => `${node.kind} ${node.id}`;

export interface ClusterOptions {
  readonly controllers?: number;
  readonly brokers?: number;
  readonly brokerFlags?: readonly string[];
  readonly controllerFlags?: readonly string[];
}

export interface PartitionState {
  readonly leader: number | null;
  readonly leaderEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

/** Starts controllers and brokers (3 and 3 by default) with `FAST_FAILOVER` and waits until every broker is alive. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const processes = await startProcessCluster({
    controllerMain: CONTROLLER_MAIN,
    brokerMain: BROKER_MAIN,
    controllers: options.controllers ?? 3,
    brokers: options.brokers ?? 3,
    brokerFlags: options.brokerFlags ?? FAST_FAILOVER.brokerFlags,
    controllerFlags: options.controllerFlags ?? FAST_FAILOVER.controllerFlags,
    logLevel: process.env.MILLRACE_NODE_LOG ?? 'warn',
  });
  const cluster = new Cluster(processes, options.controllers ?? 3);
  try {
    await cluster.waitBrokersAlive();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

export class Cluster implements AsyncDisposable {
  readonly processes: ProcessCluster;
  readonly controllerIds: readonly number[];
  readonly #clients: Millrace[] = [];
  #admin: Admin | undefined;

  constructor(processes: ProcessCluster, controllers: number) {
    this.processes = processes;
    this.controllerIds = Array.from({ length: controllers }, (_, i) => i + 1);
  }

  /** A client bootstrapped from every broker (added ones included), closed with the cluster. */
  client(options: Partial<ClientOptions> = {}): Millrace {
    const client = new Millrace({
      bootstrap: this.processes.bootstrap,
      token: this.processes.adminToken,
      logLevel: (process.env.MILLRACE_LOG as 'debug' | undefined) ?? 'nothing',
      ...options,
    });
    this.#clients.push(client);
    return client;
  }

  /** An admin client of the cluster (one, made on first use). */
  get admin(): Admin {
    this.#admin ??= this.client().admin();
    return this.#admin;
  }

  /** Every broker id ever started, in order. */
  get brokerIds(): number[] {
    return this.processes.brokerPorts.map((_, i) => i + 1);
  }

  /** Brokers whose process is running (a paused one counts: its process is alive). */
  liveBrokers(): number[] {
    return this.brokerIds.filter((id) => this.processes.running('broker', id));
  }

  liveControllers(): number[] {
    return this.controllerIds.filter((id) => this.processes.running('controller', id));
  }

  // Node operations.

  /** kill -9: no goodbye, no flush beyond what the OS already has. */
  async kill(node: Node): Promise<void> {
    await this.processes.kill(node.kind, node.id);
  }

  /** SIGTERM: a broker's controlled shutdown, a controller's leadership hand-off. Fails unless it exits 0. */
  async stop(node: Node, graceMs = 30_000): Promise<void> {
    const code = await this.processes.terminate(node.kind, node.id, graceMs);
    if (code !== 0) {
      throw new Error(`${nodeName(node)} exited ${code} on SIGTERM\n${tail(this.processes.proc(node.kind, node.id))}`);
    }
  }

  /** Starts a node that is not running, with the data it had. */
  start(node: Node): void {
    if (this.processes.running(node.kind, node.id)) throw new Error(`${nodeName(node)} is already running`);
    if (node.kind === 'broker') this.processes.startBroker(node.id);
    else this.processes.startController(node.id);
  }

  /** SIGSTOP: the process freezes holding its sockets, as a stalled machine. */
  pause(node: Node): void {
    this.processes.pause(node.kind, node.id);
  }

  /** SIGCONT after `pause`. */
  resume(node: Node): void {
    this.processes.resume(node.kind, node.id);
  }

  /** Starts a broker that was never in the cluster: the next id, a new port, an empty folder. */
  async addBroker(): Promise<number> {
    return (await this.processes.addBroker()).id;
  }

  /** The recent output of a node, for failure messages. */
  tail(node: Node, lines = 40): string {
    return tail(this.processes.proc(node.kind, node.id), lines);
  }

  // Views and waits.

  /** The brokers the active controller has alive (registered, unfenced, not shutting down). */
  async aliveAtController(): Promise<number[]> {
    const described = await this.admin.describeCluster();
    return described.brokers.filter((b) => b.state === 'alive').map((b) => b.brokerId);
  }

  /**
   * Waits until the controller has exactly `ids` alive (default: every running broker), each of
   * which also answers `/health` ok. A broker's own health can say ok a heartbeat before the
   * controller unfences it, and a killed one stays alive at the controller until its session ends.
   */
  async waitBrokersAlive(ids: readonly number[] = this.liveBrokers(), timeoutMs = 30_000): Promise<void> {
    const want = [...ids].sort((a, b) => a - b).join(',');
    let seen = '';
    await waitFor(
      () => `brokers ${want} alive at the controller (last seen: ${seen})`,
      async () => {
        const alive = (await this.aliveAtController()).sort((a, b) => a - b);
        seen = alive.join(',');
        if (seen !== want) return false;
        for (const id of ids) {
          const health = await this.processes.getJson('broker', id, '/health');
          if ((health.body as { status?: string }).status !== 'ok') return false;
        }
        return true;
      },
      timeoutMs,
    );
  }

  /** A partition as the active controller has it. */
  async partition(topic: string, partition: number): Promise<PartitionState> {
    const described = await this.admin.describeTopic(topic);
    const found = described.partitions.find((p) => p.partition === partition);
    if (found === undefined) throw new Error(`${topic} has no partition ${partition}`);
    return found;
  }

  /**
   * The partition once `ok` holds for it; bounded. Admin reads are served by any controller, and a
   * standby's image can trail the active one's by a moment, so a state is waited for, not read once.
   */
  async waitPartition(
    topic: string,
    partition: number,
    what: string,
    ok: (state: PartitionState) => boolean,
    timeoutMs = 30_000,
  ): Promise<PartitionState> {
    let last = '';
    return waitFor(
      () => `${topic}-${partition}: ${what} (last: ${last})`,
      async () => {
        const state = await this.partition(topic, partition);
        last = JSON.stringify(state);
        return ok(state) ? state : undefined;
      },
      timeoutMs,
    );
  }

  /** The partition's leader once it has one that is not in `notIn`; bounded. */
  async waitLeader(
    topic: string,
    partition: number,
    { notIn = [], timeoutMs = 30_000 }: { notIn?: readonly number[]; timeoutMs?: number } = {},
  ): Promise<number> {
    return waitFor(
      `a leader of ${topic}-${partition} other than ${notIn.join(',') || 'none'}`,
      async () => {
        const { leader } = await this.partition(topic, partition);
        return leader !== null && !notIn.includes(leader) ? leader : undefined;
      },
      timeoutMs,
    );
  }

  /** Waits until every partition of `topic` has a leader and its ISR holds every replica. */
  /** A topic as the scenarios use it: replication factor 3, `min.insync.replicas` 2, every replica in sync. */
  async createReplicatedTopic(name: string, partitions: number): Promise<void> {
    await this.admin.createTopic({ name, partitions, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } });
    await this.waitFullyReplicated(name);
  }

  async waitFullyReplicated(topic: string, timeoutMs = 30_000): Promise<void> {
    let last = '';
    await waitFor(
      () => `every partition of ${topic} led, with every replica in sync (last: ${last})`,
      async () => {
        const described = await this.admin.describeTopic(topic);
        last = JSON.stringify(described.partitions.map((p) => ({ p: p.partition, l: p.leader, isr: p.isr })));
        return described.partitions.every((p) => p.leader !== null && p.isr.length === p.replicas.length);
      },
      timeoutMs,
    );
  }

  /**
   * The active controller as every running controller sees it: one id they all name, itself
   * running. Undefined while they disagree or none is active.
   */
  async activeController(): Promise<number | undefined> {
    const seen = await Promise.all(
      this.liveControllers().map(async (id) => {
        const answer = await this.processes.getJson('controller', id, '/v1/cluster');
        return (answer.body as { activeControllerId?: number | null }).activeControllerId ?? null;
      }),
    );
    const [first] = seen;
    if (first === null || first === undefined || seen.some((id) => id !== first)) return undefined;
    return this.processes.running('controller', first) ? first : undefined;
  }

  async waitActiveController({
    notIn = [],
    timeoutMs = 30_000,
  }: {
    notIn?: readonly number[];
    timeoutMs?: number;
  } = {}) {
    return waitFor(
      `an active controller other than ${notIn.join(',') || 'none'}, agreed by every running controller`,
      async () => {
        const active = await this.activeController().catch(() => undefined);
        return active !== undefined && !notIn.includes(active) ? active : undefined;
      },
      timeoutMs,
    );
  }

  /** Waits until the active controller has every voter caught up (no lag, heard from lately). */
  async waitQuorumCaughtUp(timeoutMs = 30_000): Promise<void> {
    let last = '';
    await waitFor(
      () => `every controller caught up in the quorum (last: ${last})`,
      async () => {
        const quorum = await this.admin.describeQuorum();
        last = JSON.stringify(quorum.voters);
        return (
          quorum.leaderId !== null &&
          quorum.voters.every(
            (v) =>
              v.lag === 0 &&
              (v.nodeId === quorum.leaderId || (v.lastContactMsAgo !== null && v.lastContactMsAgo < 1000)),
          )
        );
      },
      timeoutMs,
    );
  }

  /** `POST /v1/metadata` asked of one broker directly: what that broker serves. */
  async brokerMetadata(id: number, topics?: readonly string[]): Promise<BrokerMetadata> {
    const answer = await this.processes.postJson('broker', id, '/v1/metadata', topics === undefined ? {} : { topics });
    if (answer.status !== 200)
      throw new Error(`broker ${id} answered metadata with ${answer.status}: ${JSON.stringify(answer.body)}`);
    return answer.body as BrokerMetadata;
  }

  /** One counter or gauge (without labels) from a node's `/metrics`. */
  async metric(node: Node, name: string): Promise<number> {
    const answer = await this.processes.getJson(node.kind, node.id, '/metrics');
    const line = String(answer.body)
      .split('\n')
      .find((l) => l.startsWith(`${name} `));
    if (line === undefined) throw new Error(`${nodeName(node)} has no metric ${name}`);
    return Number(line.slice(name.length + 1));
  }

  /**
   * Closes every client, kills every process it started (by PID: a graceful stop of a whole
   * cluster at once only waits out the brokers' controlled shutdown), removes the folder.
   */
  async close(): Promise<void> {
    await Promise.all(this.#clients.splice(0).map((client) => client.close().catch(() => undefined)));
    await Promise.all([...this.processes.procs.values()].map((proc) => killHard(proc)));
    await this.processes.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The parts of a broker's metadata answer the scenarios compare. */
export interface BrokerMetadata {
  readonly brokerId: number;
  readonly controllerId: number | null;
  readonly brokers: readonly { readonly brokerId: number; readonly endpoint: unknown }[];
  readonly topics: readonly {
    readonly name: string;
    readonly error?: { readonly code: string };
    readonly partitions: readonly {
      readonly partition: number;
      readonly leader: number | null;
      readonly leaderEpoch: number;
      readonly replicas: readonly number[];
      readonly isr: readonly number[];
    }[];
  }[];
  readonly metadataOffset: number;
}

/**
 * Reads every partition of `topic` from offset 0 up to its high watermark, through its leader, as
 * records for the checker, sorted by partition and offset. `atLeast` (per partition, e.g. `ackedEnds(load.acked)`) is the log end
 * the read should cover: a new leader's high watermark can trail the acknowledged offsets for a
 * moment after a failover, so the read waits (bounded) for it; if it never gets there, the read
 * stops at the high watermark there is and the checker reports what is missing.
 */
export async function readLog(
  client: Millrace,
  topic: string,
  { atLeast = new Map(), timeoutMs = 60_000 }: { atLeast?: ReadonlyMap<number, bigint>; timeoutMs?: number } = {},
): Promise<LogRecord[]> {
  const deadline = Date.now() + timeoutMs;
  // Half the time at most for the high watermarks, the rest for reading.
  const coveredBy = Date.now() + timeoutMs / 2;
  const admin = client.admin();
  let ends = await admin.fetchTopicOffsets(topic);
  while (ends.some((e) => e.high < (atLeast.get(e.partition) ?? 0n)) && Date.now() < coveredBy) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    ends = await admin.fetchTopicOffsets(topic);
  }
  const wanted = ends.filter((e) => e.high > 0n);
  const records: LogRecord[] = [];
  if (wanted.length === 0) return records;
  const consumer = client.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 200 });
  const tps = wanted.map((e) => ({ topic, partition: e.partition }));
  await consumer.assign(tps);
  for (const tp of tps) consumer.seek(tp, 0n);
  const high = new Map(wanted.map((e) => [e.partition, e.high]));
  const done = () => wanted.every((e) => (consumer.position({ topic, partition: e.partition }) ?? 0n) >= e.high);
  const timer = setTimeout(() => void consumer.close(), Math.max(1000, deadline - Date.now()));
  try {
    for await (const message of consumer) {
      if (message.offset < (high.get(message.partition) ?? 0n)) {
        records.push({
          topic,
          partition: message.partition,
          offset: message.offset,
          id: decodeRecordId(message.value),
        });
      }
      if (done()) break;
    }
  } finally {
    clearTimeout(timer);
    await consumer.close();
  }
  if (!done()) {
    const short = wanted
      .map((e) => `${e.partition}: at ${consumer.position({ topic, partition: e.partition })} of ${e.high}`)
      .join(', ');
    throw new Error(`reading ${topic} did not reach the high watermarks within ${timeoutMs} ms (${short})`);
  }
  // Partitions arrive interleaved as their fetches answer: sorted, two reads of one log compare equal.
  return records.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
}

/** Reads `topic` back (covering every acknowledgement, see `readLog`) and checks `acked` against it. */
export async function checkTopic(
  client: Millrace,
  topic: string,
  acked: readonly AckedRecord[],
  timeoutMs = 60_000,
): Promise<CheckReport> {
  const log = await readLog(client, topic, { atLeast: ackedEnds(acked), timeoutMs });
  return check(
    acked.filter((record) => record.topic === topic),
    log,
  );
}
