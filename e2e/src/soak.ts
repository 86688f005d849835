import { formatReport } from './checker.js';
import { broker, type Cluster, checkTopic, controller, type Node, startCluster } from './harness.js';
import { startLoad } from './load.js';

/**
 * The soak: minutes of random faults, one at a time, under acks=all load, then the checker over
 * every acknowledged record. Each fault (kill -9, SIGSTOP then SIGCONT, SIGTERM then start, of a
 * broker, a controller, the active controller or a partition leader) is held for a while and then
 * healed; the next one starts only once every broker is back in every ISR and the quorum has caught
 * up, so the cluster can always take writes with min.insync.replicas=2.
 *
 *   SOAK_SECONDS=300 (default) SOAK_SEED=… pnpm e2e:soak
 *
 * SOAK_SEED fixes the sequence of faults and their durations (not the timing of the processes).
 * Exits 1 on any lost, duplicated, reordered or misplaced record, or if the cluster does not heal.
 */

const seconds = Number(process.env.SOAK_SECONDS ?? 300);
const seed = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
if (!Number.isSafeInteger(seconds) || seconds < 1) throw new Error('SOAK_SECONDS must be a positive integer');
if (!Number.isSafeInteger(seed)) throw new Error('SOAK_SEED must be an integer');

/** mulberry32: a small seeded source, so that a seed replays the same faults. */
function seededRandom(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const random = seededRandom(seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const between = (lowMs: number, highMs: number) => Math.round(lowMs + random() * (highMs - lowMs));
const hold = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Fault = 'kill' | 'pause' | 'restart';
type Target = 'broker' | 'controller' | 'active controller' | 'partition leader';

const TOPIC = 'soak';
const PARTITIONS = 6;

async function chooseNode(cluster: Cluster, target: Target): Promise<Node> {
  switch (target) {
    case 'broker':
      return broker(pick(cluster.brokerIds));
    case 'controller':
      return controller(pick(cluster.controllerIds));
    case 'active controller':
      return controller(await cluster.waitActiveController());
    case 'partition leader':
      return broker(await cluster.waitLeader(TOPIC, Math.floor(random() * PARTITIONS)));
  }
}

/** Applies one fault, holds it, heals it. Returns what it did, for the log. */
async function injectFault(cluster: Cluster): Promise<string> {
  const fault = pick<Fault>(['kill', 'pause', 'restart']);
  const target = pick<Target>(['broker', 'controller', 'active controller', 'partition leader']);
  const node = await chooseNode(cluster, target);
  const heldMs = between(500, 5000);
  const name = `${node.kind} ${node.id}`;
  switch (fault) {
    case 'kill':
      await cluster.kill(node);
      await hold(heldMs);
      cluster.start(node);
      return `kill -9 ${target} (${name}), down ${heldMs} ms`;
    case 'pause':
      cluster.pause(node);
      await hold(heldMs);
      cluster.resume(node);
      return `SIGSTOP ${target} (${name}) for ${heldMs} ms`;
    case 'restart':
      await cluster.stop(node);
      await hold(heldMs);
      cluster.start(node);
      return `SIGTERM ${target} (${name}), down ${heldMs} ms`;
  }
}

async function healed(cluster: Cluster): Promise<void> {
  await cluster.waitActiveController({ timeoutMs: 60_000 });
  await cluster.waitQuorumCaughtUp(60_000);
  await cluster.waitBrokersAlive(cluster.brokerIds, 60_000);
  await cluster.waitFullyReplicated(TOPIC, 60_000);
}

async function main(): Promise<number> {
  console.log(`soak: ${seconds} s of faults under load, SOAK_SEED=${seed}`);
  const cluster = await startCluster();
  const stopOnSignal = () => {
    console.log('soak: interrupted, stopping the cluster');
    void cluster.close().then(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  let healFailure: unknown;
  const faults = new Map<string, number>();
  try {
    await cluster.createReplicatedTopic(TOPIC, PARTITIONS);
    const client = cluster.client();
    const load = startLoad({ client, topic: TOPIC, partitions: PARTITIONS, producer: { deliveryTimeoutMs: 120_000 } });
    const started = performance.now();
    const deadline = started + seconds * 1000;
    try {
      await load.waitForAcks(200);
      while (performance.now() < deadline) {
        const done = await injectFault(cluster);
        const kind = done.split(' (')[0] as string;
        faults.set(kind, (faults.get(kind) ?? 0) + 1);
        const elapsed = Math.round((performance.now() - started) / 1000);
        console.log(`soak: ${elapsed}s ${done}; ${load.acked.length} acknowledged`);
        await healed(cluster);
        await load.waitForMore(100, 60_000);
        await hold(between(0, 2000));
      }
    } catch (error) {
      healFailure = error;
      console.log(`soak: the cluster did not heal: ${String(error)}`);
      for (const [name] of cluster.processes.procs) {
        const [kind, id] = name.split('-') as ['broker' | 'controller', string];
        console.log(`--- ${name}\n${cluster.tail({ kind, id: Number(id) }, 30)}`);
      }
    } finally {
      const stats = await load.stop();
      console.log(
        `soak: load: ${stats.sent} sent, ${stats.acknowledged} acknowledged, ${stats.failed} not acknowledged, longest stall ${stats.longestStallMs} ms`,
      );
      for (const error of load.failures.slice(0, 5)) console.log(`soak: a send failed: ${String(error)}`);
    }
    console.log(`soak: faults: ${[...faults].map(([kind, n]) => `${n}× ${kind}`).join(', ') || 'none'}`);
    // Everything back before reading, so that every partition has its leader.
    if (healFailure === undefined) await healed(cluster);
    const report = await checkTopic(cluster.client(), TOPIC, load.acked, 120_000);
    console.log(formatReport(report));
    return report.ok && healFailure === undefined ? 0 : 1;
  } finally {
    await cluster.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('soak: failed', error);
    process.exit(1);
  },
);
