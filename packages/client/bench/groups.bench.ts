/**
 * The consumer group benchmark (issue 8): how long a group takes to settle after a member joins
 * and after one is killed, whether members whose partitions stay put keep receiving records
 * meanwhile, and what a group reads per second against a single consumer. Against three
 * controller and three broker processes (apps/*\/dist/main.js, through test-kit's
 * startProcessCluster), broker defaults except `--group-session-timeout-ms` (SESSION_TIMEOUT_MS,
 * default 10000: a killed member is noticed only when its session runs out, and Kafka's 45 s
 * would make the kill phase mostly waiting).
 *
 * Phases:
 *   1. join: MEMBERS (10) in-process members (each its own Millrace client) subscribe to a topic of
 *      PARTITIONS (100) partitions, RF 3, while a producer writes one 100 B record to every
 *      partition every LOAD_TICK_MS (50). Once the group is stable, one more member joins; the
 *      group is settled when the members' own listeners show every partition owned once and the
 *      loads even (so the newcomer holds its share). Timed from the newcomer's `subscribe`, also
 *      as the coordinator sees it (admin.describeGroup polled every 100 ms: state stable with all
 *      members at the assignment epoch). Meanwhile every delivery to every member is timed: the
 *      longest gap on the partitions that did not move, and per member on the partitions it kept,
 *      during the rebalance against the BASELINE_MS before it. The newcomer then leaves; JOIN_TRIALS
 *      (5) trials.
 *   2. kill: MEMBERS - 1 in-process members and one member in a child process (this file with
 *      `member`), which is killed -9 once the group is stable; timed until the in-process members
 *      own every partition (from the kill, minus the session timeout, and from when describeGroup
 *      no longer lists the member). KILL_TRIALS (3) trials.
 *   3. throughput: a topic of PARTITIONS partitions pre-filled with PREFILL_MB (300) of 1 KiB records,
 *      read from the start by one consumer (assign), by a group of MEMBERS in-process members and
 *      by a group of CHILD_MEMBERS (4) member processes (told to subscribe at the same moment).
 *      MB/s of record values, from the start (assign or subscribe) to the last record, and the
 *      cores each process used.
 *
 *   cd packages/client && npx -y pnpm@10.34.8 bench:groups      (tsx bench/groups.bench.ts)
 *
 * Needs apps/controller and apps/broker built (`pnpm build` at the root). The SDK is loaded from
 * dist/ when it is built (SDK_FROM=src for the sources). PHASES picks phases (join,kill,throughput).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  cpuSecondsByProcess,
  envNumber,
  machineBusySeconds,
  type Proc,
  type ProcessCluster,
  runningPids,
  spawnNode,
  startProcessCluster,
  stop,
  tail,
  waitFor,
} from '@millrace/test-kit';
import type { Admin, ConsumedBatch, Consumer, Millrace, TopicPartition } from '../src/index.js';

const BROKER_MAIN = fileURLToPath(new URL('../../../apps/broker/dist/main.js', import.meta.url));
const CONTROLLER_MAIN = fileURLToPath(new URL('../../../apps/controller/dist/main.js', import.meta.url));
const SDK_DIST = new URL('../dist/index.js', import.meta.url);
const SELF = fileURLToPath(import.meta.url);
const SDK_URL =
  process.env.SDK_FROM !== 'src' && existsSync(fileURLToPath(SDK_DIST))
    ? SDK_DIST
    : new URL('../src/index.js', import.meta.url);
const sdk = (await import(SDK_URL.href)) as typeof import('../src/index.js');

/** Wall-clock milliseconds with sub-millisecond precision, comparable between processes. */
const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : (sorted[Math.floor((sorted.length - 1) / 2)] as number);
};
const max = (values: readonly number[]) => (values.length === 0 ? Number.NaN : Math.max(...values));
const ms = (value: number) => (Number.isFinite(value) ? `${Math.round(value)} ms` : 'n/a');

// ---------------------------------------------------------------------------------------------
// A member in a child process: `groups.bench.ts member BOOTSTRAP GROUP TOPIC NAME [wait]`. It
// prints one JSON line per event on stdout; with `wait` it subscribes on SIGUSR1 only.

if (process.argv[2] === 'member') {
  await runMemberProcess(process.argv.slice(3));
} else {
  await main();
}

async function runMemberProcess(args: string[]): Promise<void> {
  const [bootstrap, groupId, topic, name, wait] = args;
  if (bootstrap === undefined || groupId === undefined || topic === undefined || name === undefined)
    throw new Error('usage: groups.bench.ts member BOOTSTRAP GROUP TOPIC NAME [wait]');
  const say = (event: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify({ at: nowMs(), ...event })}\n`);
  };
  const client = new sdk.Millrace({ bootstrap: bootstrap.split(','), clientId: name, logLevel: 'nothing' });
  await client.refreshMetadata([topic]);
  const consumer = client.consumer({ groupId, autoOffsetReset: 'earliest' });
  const list = (partitions: readonly TopicPartition[]) => partitions.map((tp) => tp.partition);
  let records = 0;
  let bytes = 0;
  let firstAt = 0;
  let lastAt = 0;
  const next: Record<number, string> = {};
  let reported = -1;
  const report = () => {
    if (reported === records) return;
    reported = records;
    say({ event: 'progress', records, bytes, firstAt, lastAt, next });
  };
  setInterval(report, 100).unref();
  process.on('SIGTERM', () => {
    report();
    void consumer
      .close()
      .then(() => client.close())
      .then(() => process.exit(0));
  });
  const start = () => {
    say({ event: 'subscribed', memberId: consumer.memberId });
    consumer.subscribe([topic], {
      onAssigned: (partitions) => say({ event: 'assigned', partitions: list(partitions) }),
      onRevoked: (partitions) => say({ event: 'revoked', partitions: list(partitions) }),
      onLost: (partitions) => say({ event: 'lost', partitions: list(partitions) }),
    });
    void consumer.run({
      eachBatch: (batch) => {
        const at = nowMs();
        if (firstAt === 0) firstAt = at;
        lastAt = at;
        records += batch.messages.length;
        for (const message of batch.messages) bytes += message.value?.length ?? 0;
        const last = batch.messages.at(-1);
        if (last !== undefined) next[batch.partition] = (last.offset + 1n).toString();
      },
    });
  };
  if (wait === 'wait') process.once('SIGUSR1', start);
  else start();
  say({ event: 'ready', memberId: consumer.memberId });
  // Kept alive by the consumer's connections and the progress timer's successor: wait for a signal.
  await new Promise<never>(() => setInterval(() => undefined, 60_000));
}

/** The parent's view of a member process, from its stdout. */
interface ChildMember {
  readonly proc: Proc;
  readonly owned: Set<number>;
  memberId: string | undefined;
  ready: boolean;
  progress: { records: number; bytes: number; firstAt: number; lastAt: number; next: Record<string, string> };
}

function spawnMember(
  cluster: ProcessCluster,
  groupId: string,
  topic: string,
  name: string,
  wait: boolean,
  onChange: () => void,
): ChildMember {
  const proc = spawnNode(
    name,
    SELF,
    ['member', cluster.bootstrap.join(','), groupId, topic, name, ...(wait ? ['wait'] : [])],
    {},
    ['--import', import.meta.resolve('tsx')],
  );
  const member: ChildMember = {
    proc,
    owned: new Set(),
    memberId: undefined,
    ready: false,
    progress: { records: 0, bytes: 0, firstAt: 0, lastAt: 0, next: {} },
  };
  let pending = '';
  proc.child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const event = JSON.parse(line) as {
        event: string;
        memberId?: string;
        partitions?: number[];
      } & Partial<ChildMember['progress']>;
      if (event.event === 'ready') {
        member.ready = true;
        member.memberId = event.memberId;
      } else if (event.event === 'assigned') for (const p of event.partitions ?? []) member.owned.add(p);
      else if (event.event === 'revoked' || event.event === 'lost')
        for (const p of event.partitions ?? []) member.owned.delete(p);
      else if (event.event === 'progress') member.progress = event as ChildMember['progress'];
      onChange();
    }
  });
  return member;
}

// ---------------------------------------------------------------------------------------------
// In-process members

interface Member {
  readonly name: string;
  readonly client: Millrace;
  readonly consumer: Consumer;
  readonly owned: Set<number>;
  /** Delivery times (performance.now()) per partition. */
  readonly deliveries: Map<number, number[]>;
  records: number;
  bytes: number;
  firstAt: number;
  lastAt: number;
  readonly next: Map<number, bigint>;
  /** What its listener heard, when (performance.now()). */
  readonly events: { at: number; kind: 'assigned' | 'revoked' | 'lost'; partitions: number }[];
  readonly running: Promise<void>;
}

function startMember(
  bootstrap: string[],
  groupId: string,
  topic: string,
  name: string,
  onChange: () => void,
  timeDeliveries: boolean,
): Member {
  const client = new sdk.Millrace({ bootstrap, clientId: name, logLevel: 'nothing' });
  const consumer = client.consumer({ groupId, autoOffsetReset: timeDeliveries ? 'latest' : 'earliest' });
  const member: Omit<Member, 'running'> & { running?: Promise<void> } = {
    name,
    client,
    consumer,
    owned: new Set(),
    deliveries: new Map(),
    records: 0,
    bytes: 0,
    firstAt: 0,
    lastAt: 0,
    next: new Map(),
    events: [],
  };
  const heard = (kind: 'assigned' | 'revoked' | 'lost', partitions: readonly TopicPartition[]) =>
    member.events.push({ at: performance.now(), kind, partitions: partitions.length });
  consumer.subscribe([topic], {
    onAssigned: (partitions) => {
      heard('assigned', partitions);
      for (const tp of partitions) member.owned.add(tp.partition);
      onChange();
    },
    onRevoked: (partitions) => {
      heard('revoked', partitions);
      for (const tp of partitions) member.owned.delete(tp.partition);
      onChange();
    },
    onLost: (partitions) => {
      heard('lost', partitions);
      for (const tp of partitions) member.owned.delete(tp.partition);
      onChange();
    },
  });
  member.running = consumer
    .run({
      eachBatch: (batch: ConsumedBatch) => {
        const at = performance.now();
        if (member.firstAt === 0) member.firstAt = at;
        member.lastAt = at;
        member.records += batch.messages.length;
        for (const message of batch.messages) member.bytes += message.value?.length ?? 0;
        const last = batch.messages.at(-1);
        if (last !== undefined) member.next.set(batch.partition, last.offset + 1n);
        if (!timeDeliveries) return;
        let times = member.deliveries.get(batch.partition);
        if (times === undefined) {
          times = [];
          member.deliveries.set(batch.partition, times);
        }
        times.push(at);
      },
    })
    .catch((error: unknown) => console.error(`${name} stopped:`, error));
  return member as Member;
}

async function closeMember(member: Member): Promise<void> {
  await member.consumer.close().catch(() => undefined);
  await member.client.close().catch(() => undefined);
}

/**
 * Settled as the members' own listeners show it: every partition owned by exactly one member,
 * and loads that differ by at most one (so a newcomer holds its share).
 */
function settled(owners: readonly ReadonlySet<number>[], partitions: number): boolean {
  let total = 0;
  const seen = new Set<number>();
  for (const owned of owners) {
    total += owned.size;
    for (const p of owned) seen.add(p);
  }
  const sizes = owners.map((o) => o.size);
  return total === partitions && seen.size === partitions && Math.max(...sizes) - Math.min(...sizes) <= 1;
}

/** The longest gap between deliveries that overlaps [from, to], over the given delivery times. */
function longestGap(times: readonly number[] | undefined, from: number, to: number): number {
  if (times === undefined) return Number.POSITIVE_INFINITY;
  let longest = 0;
  for (let i = 1; i < times.length; i++) {
    const a = times[i - 1] as number;
    const b = times[i] as number;
    if (b < from || a > to) continue;
    longest = Math.max(longest, b - a);
  }
  // Nothing delivered since `from` while the window is over: the gap runs to its end at least.
  const last = times.at(-1);
  if (last !== undefined && last < to) longest = Math.max(longest, to - Math.max(last, from));
  return longest;
}

function countIn(times: readonly number[] | undefined, from: number, to: number): number {
  return (times ?? []).filter((t) => t >= from && t <= to).length;
}

// ---------------------------------------------------------------------------------------------
// CPU accounting

type CpuSnapshot = { at: number; machine: number; byProcess: Map<string, number> };

function cpuSnapshot(procs: ReadonlyMap<string, Proc>): CpuSnapshot {
  return {
    at: performance.now(),
    machine: machineBusySeconds(),
    byProcess: cpuSecondsByProcess(runningPids(procs), 'bench'),
  };
}

/** Cores used between two snapshots: this process, the children by kind, and everything else. */
function cpuText(before: CpuSnapshot, after: CpuSnapshot): string {
  const seconds = (after.at - before.at) / 1000;
  const byKind = new Map<string, number>();
  let ours = 0;
  for (const [name, end] of after.byProcess) {
    const used = (end - (before.byProcess.get(name) ?? end)) / seconds;
    ours += used;
    const kind = name === 'bench' ? 'bench process' : `${name.replace(/-\d+$/, '')}s`;
    byKind.set(kind, (byKind.get(kind) ?? 0) + used);
  }
  const other = Math.max(0, (after.machine - before.machine) / seconds - ours);
  return [...[...byKind].map(([kind, cores]) => `${kind} ${cores.toFixed(2)}`), `other ${other.toFixed(2)}`].join(', ');
}

// ---------------------------------------------------------------------------------------------
// The run

async function main(): Promise<void> {
  const ALL_PHASES = ['join', 'kill', 'throughput'];
  const PHASES = new Set((process.env.PHASES ?? ALL_PHASES.join(',')).split(',').map((p) => p.trim()));
  for (const phase of PHASES)
    if (!ALL_PHASES.includes(phase)) throw new Error(`PHASES: "${phase}" is not one of ${ALL_PHASES.join(', ')}`);
  const MEMBERS = envNumber('MEMBERS', 10);
  const PARTITIONS = envNumber('PARTITIONS', 100);
  const SESSION_TIMEOUT_MS = envNumber('SESSION_TIMEOUT_MS', 10_000);
  const LOAD_TICK_MS = envNumber('LOAD_TICK_MS', 50);
  const BASELINE_MS = envNumber('BASELINE_MS', 3000);
  const JOIN_TRIALS = envNumber('JOIN_TRIALS', 5);
  const KILL_TRIALS = envNumber('KILL_TRIALS', 3);
  const PREFILL_MB = envNumber('PREFILL_MB', 300);
  const CHILD_MEMBERS = envNumber('CHILD_MEMBERS', 4);

  console.log(
    `consumer groups bench: ${MEMBERS} members, ${PARTITIONS} partitions (RF 3), session timeout ${SESSION_TIMEOUT_MS} ms; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} at the start; SDK from ${SDK_URL.pathname.includes('/dist/') ? 'dist' : 'src'}`,
  );
  const cluster = await startProcessCluster({
    controllerMain: CONTROLLER_MAIN,
    brokerMain: BROKER_MAIN,
    brokerFlags: ['--group-session-timeout-ms', String(SESSION_TIMEOUT_MS)],
    logLevel: 'warn',
  });
  const children = new Set<ChildMember>();
  const onSignal = () => {
    for (const child of children) child.proc.child.kill('SIGKILL');
    void cluster.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const client = new sdk.Millrace({ bootstrap: cluster.bootstrap, token: cluster.adminToken, logLevel: 'nothing' });
  const rows: [string, string, string][] = [];
  try {
    await cluster.waitReady(60_000);
    const admin = client.admin();
    await waitFor(
      'every broker alive',
      async () => (await admin.describeCluster()).brokers.filter((b) => b.state === 'alive').length === 3,
      60_000,
    );
    if (PHASES.has('join') || PHASES.has('kill'))
      rows.push(...(await rebalancePhases(cluster, client, admin, children)));
    if (PHASES.has('throughput')) rows.push(...(await throughputPhase(cluster, client, admin, children)));
  } finally {
    for (const child of children) await stop(child.proc, 3000).catch(() => undefined);
    await client.close().catch(() => undefined);
    await cluster.close();
  }
  console.log('\n| measure | result | goal |\n| --- | --- | --- |');
  for (const [measure, result, goal] of rows) console.log(`| ${measure} | ${result} | ${goal} |`);

  async function rebalancePhases(
    cluster: ProcessCluster,
    client: Millrace,
    admin: Admin,
    children: Set<ChildMember>,
  ): Promise<[string, string, string][]> {
    const topic = 'rebalance';
    const groupId = 'rebalancers';
    await admin.createTopic({ name: topic, partitions: PARTITIONS, replicationFactor: 3 });
    // Steady load: one 100 B record to every partition every LOAD_TICK_MS.
    const producer = client.producer();
    const value = randomBytes(100);
    let inFlight = 0;
    let skipped = 0;
    let failed = 0;
    const load = setInterval(() => {
      if (inFlight >= 20) {
        skipped++;
        return;
      }
      inFlight++;
      producer
        .send({ topic, messages: Array.from({ length: PARTITIONS }, (_, partition) => ({ value, partition })) })
        .catch(() => failed++)
        .finally(() => inFlight--);
    }, LOAD_TICK_MS);
    const members: Member[] = [];
    let watch: (() => void) | undefined;
    const onChange = () => watch?.();
    /** Resolves with the time (performance.now()) `condition` first holds, checked at every listener call. */
    const when = (condition: () => boolean, timeoutMs: number, what: string) =>
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          watch = undefined;
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        watch = () => {
          if (!condition()) return;
          watch = undefined;
          clearTimeout(timer);
          resolve(performance.now());
        };
        watch();
      });
    const rows: [string, string, string][] = [];
    const bootstrap = cluster.bootstrap;
    try {
      for (let i = 0; i < MEMBERS; i++)
        members.push(startMember(bootstrap, groupId, topic, `member-${i}`, onChange, true));
      await when(
        () =>
          settled(
            members.map((m) => m.owned),
            PARTITIONS,
          ),
        60_000,
        `${MEMBERS} members sharing ${PARTITIONS} partitions`,
      );
      console.log(`${MEMBERS} members stable; load: ${PARTITIONS} records every ${LOAD_TICK_MS} ms`);
      // What one write of the coordinator costs (a commit is one acks=all append to the group's
      // partition of __consumer_offsets): a rebalance is a chain of such writes, one at a time.
      const commitTimes: number[] = [];
      for (let i = 0; i < 20; i++) {
        const m = members[i % members.length] as Member;
        const p = [...m.owned][0] as number;
        const at = performance.now();
        await m.consumer.commit([{ topic, partition: p, offset: m.next.get(p) ?? 0n }]);
        commitTimes.push(performance.now() - at);
        await sleep(50);
      }
      console.log(
        `a commit (one coordinator write) takes median ${ms(median(commitTimes))}, max ${ms(max(commitTimes))}`,
      );
      rows.push([
        'one commit (a coordinator write, acks=all), 20 in a row',
        `median ${ms(median(commitTimes))}, max ${ms(max(commitTimes))}`,
        '',
      ]);

      if (PHASES.has('join')) {
        const settle: number[] = [];
        const coordinatorSettle: number[] = [];
        const firstRecord: number[] = [];
        const gapBefore: number[] = [];
        const gapDuring: number[] = [];
        const memberGapBefore: number[] = [];
        const memberGapDuring: number[] = [];
        const rateRatio: number[] = [];
        const loopBefore: number[] = [];
        const loopDuring: number[] = [];
        const loopDelay = monitorEventLoopDelay({ resolution: 10 });
        loopDelay.enable();
        for (let trial = 1; trial <= JOIN_TRIALS; trial++) {
          loopDelay.reset();
          await sleep(BASELINE_MS);
          loopBefore.push(loopDelay.max / 1e6);
          const ownerBefore = new Map<number, Member>();
          for (const m of members) for (const p of m.owned) ownerBefore.set(p, m);
          loopDelay.reset();
          const joinAt = performance.now();
          let coordinatorAt = Number.NaN;
          let polling = true;
          const poll = (async () => {
            while (polling) {
              const described = await admin.describeGroup(groupId).catch(() => undefined);
              if (
                described !== undefined &&
                described.state === 'stable' &&
                described.members.length === MEMBERS + 1 &&
                described.members.every((m) => m.memberEpoch === described.assignmentEpoch)
              ) {
                coordinatorAt = performance.now();
                return;
              }
              await sleep(100);
            }
          })();
          const newcomer = startMember(bootstrap, groupId, topic, `joiner-${trial}`, onChange, true);
          const all = [...members, newcomer];
          const settledAt = await when(
            () =>
              settled(
                all.map((m) => m.owned),
                PARTITIONS,
              ),
            30_000,
            'the group to settle after the join',
          );
          await Promise.race([poll, sleep(10_000)]);
          polling = false;
          const windowEnd = settledAt + 500;
          await sleep(Math.max(0, windowEnd - performance.now()) + 300);
          loopDuring.push(loopDelay.max / 1e6);
          // Unmoved partitions: the same member owned them before the join and owns them now.
          const unmoved = [...ownerBefore].filter(([p, m]) => m.owned.has(p));
          const before = (p: number, m: Member) => longestGap(m.deliveries.get(p), joinAt - BASELINE_MS, joinAt);
          const during = (p: number, m: Member) => longestGap(m.deliveries.get(p), joinAt, windowEnd);
          gapBefore.push(max(unmoved.map(([p, m]) => before(p, m))));
          gapDuring.push(max(unmoved.map(([p, m]) => during(p, m))));
          // Per member, its deliveries on the partitions it kept, merged.
          const memberTimes = members.map((m) =>
            unmoved
              .filter(([, owner]) => owner === m)
              .flatMap(([p]) => m.deliveries.get(p) ?? [])
              .sort((a, b) => a - b),
          );
          memberGapBefore.push(max(memberTimes.map((t) => longestGap(t, joinAt - BASELINE_MS, joinAt))));
          memberGapDuring.push(max(memberTimes.map((t) => longestGap(t, joinAt, windowEnd))));
          const countBefore = unmoved.reduce(
            (n, [p, m]) => n + countIn(m.deliveries.get(p), joinAt - BASELINE_MS, joinAt),
            0,
          );
          const countDuring = unmoved.reduce((n, [p, m]) => n + countIn(m.deliveries.get(p), joinAt, windowEnd), 0);
          rateRatio.push(countDuring / (windowEnd - joinAt) / (countBefore / BASELINE_MS));
          const since = (m: Member, kind: string) => m.events.filter((e) => e.at >= joinAt && e.kind === kind);
          const revokes = members.flatMap((m) => since(m, 'revoked')).map((e) => e.at - joinAt);
          const takes = since(newcomer, 'assigned').map((e) => `${e.partitions}@${Math.round(e.at - joinAt)}`);
          console.log(
            `join ${trial} timeline: ${revokes.length} revocations heard ${ms(Math.min(...revokes))}–${ms(Math.max(...revokes))} ` +
              `after the join; the newcomer took partitions (count@ms) ${takes.join(' ')}`,
          );
          const newcomerFirst = Math.min(...[...newcomer.deliveries.values()].map((t) => t[0] ?? Infinity));
          settle.push(settledAt - joinAt);
          coordinatorSettle.push(coordinatorAt - joinAt);
          firstRecord.push(newcomerFirst - joinAt);
          console.log(
            `join ${trial}: settled in ${ms(settledAt - joinAt)} (members' listeners), ${ms(coordinatorAt - joinAt)} ` +
              `(describeGroup, polled every 100 ms); newcomer owns ${newcomer.owned.size}, first record after ` +
              `${ms(newcomerFirst - joinAt)}; ${unmoved.length} partitions did not move: longest delivery gap ` +
              `${ms(gapBefore.at(-1) as number)} in the ${BASELINE_MS} ms before, ${ms(gapDuring.at(-1) as number)} ` +
              `during; per member ${ms(memberGapBefore.at(-1) as number)} → ${ms(memberGapDuring.at(-1) as number)}; ` +
              `deliveries/s on them ${(100 * (rateRatio.at(-1) as number)).toFixed(0)}% of before; this process's ` +
              `event loop delay max ${ms(loopBefore.at(-1) as number)} → ${ms(loopDuring.at(-1) as number)}`,
          );
          // The newcomer leaves; the group goes back to MEMBERS.
          await closeMember(newcomer);
          await when(
            () =>
              settled(
                members.map((m) => m.owned),
                PARTITIONS,
              ),
            30_000,
            'the group to settle after the leave',
          );
        }
        loopDelay.disable();
        const spread = (values: number[]) => `median ${ms(median(values))}, max ${ms(max(values))}`;
        const goal = median(settle) < 1000 && max(settle) < 1000 ? '**met**' : '**not met**';
        rows.push(
          [`settle after a join, members' listeners (${JOIN_TRIALS} trials)`, spread(settle), `< 1 s: ${goal}`],
          ['settle after a join, describeGroup stable (polled every 100 ms)', spread(coordinatorSettle), ''],
          ['newcomer: first record after its join', spread(firstRecord), ''],
          [
            'longest delivery gap, unmoved partitions: before → during',
            `${ms(median(gapBefore))} → ${ms(median(gapDuring))} (median of trials); max ${ms(max(gapBefore))} → ${ms(max(gapDuring))}`,
            'no stop-the-world',
          ],
          [
            'longest delivery gap per member on kept partitions: before → during',
            `${ms(median(memberGapBefore))} → ${ms(median(memberGapDuring))} (median); max ${ms(max(memberGapBefore))} → ${ms(max(memberGapDuring))}`,
            '',
          ],
          [
            'deliveries/s on unmoved partitions during the rebalance, vs before',
            `${(100 * median(rateRatio)).toFixed(0)}% (median), ${(100 * Math.min(...rateRatio)).toFixed(0)}% (lowest)`,
            '',
          ],
          [
            "bench process's event-loop delay, max: before → during",
            `${ms(median(loopBefore))} → ${ms(median(loopDuring))} (median)`,
            '',
          ],
        );
      }

      if (PHASES.has('kill')) {
        // MEMBERS in all: MEMBERS - 1 here and one in a child process, which is killed -9.
        const leaving = members.pop() as Member;
        await closeMember(leaving);
        const total: number[] = [];
        const afterRemoval: number[] = [];
        for (let trial = 1; trial <= KILL_TRIALS; trial++) {
          const victim = spawnMember(cluster, groupId, topic, `victim-${trial}`, false, onChange);
          children.add(victim);
          await when(
            () => victim.owned.size > 0 && settled([...members.map((m) => m.owned), victim.owned], PARTITIONS),
            60_000,
            `the victim to hold its share\n${tail(victim.proc)}`,
          );
          // Past the first heartbeats: the victim's next one is a held long poll, as in a steady group.
          await sleep(2000);
          const victimId = victim.memberId;
          const killAt = performance.now();
          victim.proc.child.kill('SIGKILL');
          let removedAt = Number.NaN;
          let polling = true;
          const poll = (async () => {
            while (polling) {
              const described = await admin.describeGroup(groupId).catch(() => undefined);
              if (described !== undefined && !described.members.some((m) => m.memberId === victimId)) {
                removedAt = performance.now();
                return;
              }
              await sleep(100);
            }
          })();
          const ownedAt = await when(
            () =>
              settled(
                members.map((m) => m.owned),
                PARTITIONS,
              ),
            SESSION_TIMEOUT_MS + 30_000,
            "the victim's partitions to move",
          );
          await Promise.race([poll, sleep(5000)]);
          polling = false;
          await victim.proc.exited;
          children.delete(victim);
          total.push(ownedAt - killAt);
          afterRemoval.push(ownedAt - removedAt);
          console.log(
            `kill ${trial}: the others own every partition ${ms(ownedAt - killAt)} after the kill ` +
              `(${ms(ownedAt - killAt - SESSION_TIMEOUT_MS)} beyond the session timeout); describeGroup dropped the ` +
              `member after ${ms(removedAt - killAt)}, partitions owned ${ms(ownedAt - removedAt)} after that`,
          );
          await sleep(1000);
        }
        rows.push(
          [
            `partitions owned by others after a member is killed -9 (${KILL_TRIALS} trials)`,
            `median ${ms(median(total))}, max ${ms(max(total))}; minus the ${SESSION_TIMEOUT_MS} ms session timeout: median ${ms(median(total) - SESSION_TIMEOUT_MS)}, max ${ms(max(total) - SESSION_TIMEOUT_MS)}`,
            '',
          ],
          [
            'the same, from when describeGroup no longer lists the member',
            `median ${ms(median(afterRemoval))}, max ${ms(max(afterRemoval))}`,
            '',
          ],
        );
      }
    } finally {
      clearInterval(load);
      await Promise.all(members.map(closeMember));
      await producer.close().catch(() => undefined);
      console.log(`load: ${skipped} ticks skipped (20 sends in flight), ${failed} sends failed`);
    }
    return rows;
  }

  async function throughputPhase(
    cluster: ProcessCluster,
    client: Millrace,
    admin: Admin,
    children: Set<ChildMember>,
  ): Promise<[string, string, string][]> {
    const topic = 'prefilled';
    await admin.createTopic({ name: topic, partitions: PARTITIONS, replicationFactor: 3 });
    const producer = client.producer();
    const value = randomBytes(1024);
    const perSend = 977;
    const sends = Math.ceil((PREFILL_MB * 1e6) / (perSend * 1024));
    const started = performance.now();
    const ends = new Map<number, bigint>();
    let sent = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (sent < sends) {
          sent++;
          const written = await producer.send({ topic, messages: Array.from({ length: perSend }, () => ({ value })) });
          for (const r of written)
            if (r.offset + 1n > (ends.get(r.partition) ?? 0n)) ends.set(r.partition, r.offset + 1n);
        }
      }),
    );
    await producer.close();
    const records = sends * perSend;
    const megabytes = (records * 1024) / 1e6;
    console.log(
      `pre-filled ${topic}: ${records} records of 1 KiB (${megabytes.toFixed(0)} MB) in ${ms(performance.now() - started)}`,
    );
    const done = (next: (partition: number) => bigint | undefined) =>
      [...ends].every(([p, end]) => (next(p) ?? 0n) >= end);
    const rows: [string, string, string][] = [];
    /** MB/s from the start (assign or subscribe, so a group's joining counts) and from the first record. */
    const rates = (startAt: number, firstAt: number, lastAt: number) =>
      `${(megabytes / ((lastAt - startAt) / 1000)).toFixed(1)} MB/s (${ms(lastAt - startAt)}; ` +
      `${(megabytes / ((lastAt - firstAt) / 1000)).toFixed(1)} MB/s from the first record, ${ms(firstAt - startAt)} after the start)`;
    const procs = () => {
      const map = new Map(cluster.procs);
      for (const child of children) map.set(`member-process-${child.proc.name.split('-').at(-1)}`, child.proc);
      return map;
    };

    // One consumer, every partition assigned.
    {
      const reader = new sdk.Millrace({ bootstrap: cluster.bootstrap, logLevel: 'nothing' });
      const consumer = reader.consumer({ autoOffsetReset: 'earliest' });
      const next = new Map<number, bigint>();
      let firstAt = 0;
      let lastAt = 0;
      const cpu = cpuSnapshot(procs());
      const startAt = performance.now();
      await consumer.assign([{ topic }]);
      const finished = new Promise<void>((resolve) => {
        void consumer.run({
          eachBatch: (batch) => {
            lastAt = performance.now();
            if (firstAt === 0) firstAt = lastAt;
            const last = batch.messages.at(-1);
            if (last !== undefined) next.set(batch.partition, last.offset + 1n);
            if (done((p) => next.get(p))) resolve();
          },
        });
      });
      await finished;
      const used = cpuText(cpu, cpuSnapshot(procs()));
      await reader.close();
      const rate = rates(startAt, firstAt, lastAt);
      console.log(`one consumer: ${rate}; cores: ${used}`);
      rows.push([
        `consume ${megabytes.toFixed(0)} MB of 1 KiB records: one consumer (assign)`,
        `${rate}; cores: ${used}`,
        '',
      ]);
    }

    // A group of MEMBERS in this process.
    {
      const members: Member[] = [];
      let check: (() => void) | undefined;
      const finished = new Promise<void>((resolve) => {
        check = () => {
          if (
            done((p) =>
              members.reduce<bigint | undefined>((best, m) => {
                const n = m.next.get(p);
                return n !== undefined && (best === undefined || n > best) ? n : best;
              }, undefined),
            )
          )
            resolve();
        };
      });
      const cpu = cpuSnapshot(procs());
      const startAt = performance.now();
      for (let i = 0; i < MEMBERS; i++)
        members.push(startMember(cluster.bootstrap, 'readers-here', topic, `reader-${i}`, () => undefined, false));
      const timer = setInterval(() => check?.(), 20);
      await finished;
      clearInterval(timer);
      const lastAt = Math.max(...members.map((m) => m.lastAt));
      const firstAt = Math.min(...members.filter((m) => m.firstAt > 0).map((m) => m.firstAt));
      const used = cpuText(cpu, cpuSnapshot(procs()));
      const read = members.reduce((n, m) => n + m.records, 0);
      await Promise.all(members.map(closeMember));
      const rate = rates(startAt, firstAt, lastAt);
      console.log(`group of ${MEMBERS} in this process: ${rate}, ${read - records} records read twice; cores: ${used}`);
      rows.push([
        `the same: a group of ${MEMBERS} members in this process`,
        `${rate}, ${read - records} read twice; cores: ${used}`,
        '',
      ]);
    }

    // A group of CHILD_MEMBERS processes, told to subscribe at the same moment.
    {
      const members: ChildMember[] = [];
      for (let i = 0; i < CHILD_MEMBERS; i++) {
        const member = spawnMember(cluster, 'readers-apart', topic, `reader-${i}`, true, () => undefined);
        members.push(member);
        children.add(member);
      }
      await waitFor('the member processes ready', () => members.every((m) => m.ready), 30_000);
      const cpu = cpuSnapshot(procs());
      const startAt = nowMs();
      for (const m of members) m.proc.child.kill('SIGUSR1');
      const best = (p: number) =>
        members.reduce<bigint | undefined>((top, m) => {
          const text = m.progress.next[String(p)];
          const n = text === undefined ? undefined : BigInt(text);
          return n !== undefined && (top === undefined || n > top) ? n : top;
        }, undefined);
      await waitFor('every record read by the member processes', () => done(best), 120_000);
      const used = cpuText(cpu, cpuSnapshot(procs()));
      const lastAt = Math.max(...members.map((m) => m.progress.lastAt));
      const firstAt = Math.min(...members.filter((m) => m.progress.firstAt > 0).map((m) => m.progress.firstAt));
      const read = members.reduce((n, m) => n + m.progress.records, 0);
      for (const m of members) {
        await stop(m.proc, 5000);
        children.delete(m);
      }
      const rate = rates(startAt, firstAt, lastAt);
      console.log(`group of ${CHILD_MEMBERS} processes: ${rate}, ${read - records} records read twice; cores: ${used}`);
      rows.push([
        `the same: a group of ${CHILD_MEMBERS} member processes`,
        `${rate}, ${read - records} read twice; cores: ${used}`,
        '',
      ]);
    }
    return rows;
  }
}
