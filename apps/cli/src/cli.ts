import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  type ConsumedMessage,
  isMillraceError,
  type Message,
  Millrace,
  MillraceError,
  type SeekTo,
} from '@millrace/client';
import { formatTable, toJson } from './table.js';

/** The local cluster that `pnpm dev` starts (docs/operations.md): two of its brokers. */
export const DEV_BOOTSTRAP = '127.0.0.1:9092,127.0.0.1:9093';
/**
 * The dev cluster's admin token (documented, not secret: it listens on loopback only). Used when
 * neither a bootstrap list nor a token is given, so that the CLI works with `pnpm dev` as it is.
 */
export const DEV_ADMIN_TOKEN = 'millrace-dev-admin-token';

export interface Io {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: Readable;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on Ctrl-C: `consume --follow` stops cleanly. */
  readonly signal?: AbortSignal;
}

const GLOBAL_HELP = `millrace — talk to a Millrace cluster

Usage: millrace <command> [options]

Commands:
  cluster                               controllers, brokers and partition health
  topic list                            topics with partition counts and replication factors
  topic describe TOPIC                  each partition's leader, epochs, replicas and ISR
  topic create TOPIC [--partitions N] [--replication-factor N] [--config k=v ...]
  topic delete TOPIC
  topic alter-config TOPIC [--set k=v ...] [--delete k ...]
  topic add-partitions TOPIC --total N
  produce TOPIC                         one record per line of stdin
  consume TOPIC [--group GROUP]         records to stdout (as a member of GROUP: shared, committed)
  group list                            consumer groups, their states and members
  group describe GROUP                  members, assignments, committed offsets and lag
  group reset-offsets GROUP --topic TOPIC --to earliest|latest|OFFSET|ISO-TIME
  group delete GROUP

Options for every command:
  --bootstrap HOST:PORT[,HOST:PORT]     brokers to start from (env MILLRACE_BOOTSTRAP; default ${DEV_BOOTSTRAP}, the pnpm dev cluster)
  --token TOKEN                         admin token for writes, client token for data (env MILLRACE_TOKEN;
                                        with the default bootstrap, the pnpm dev cluster's token)
  --json                                machine-readable output
  --help                                help for a command (millrace topic create --help)
`;

const HELP: Readonly<Record<string, string>> = {
  cluster: `millrace cluster [--json]

The controllers (which is active), the brokers (alive, fenced, in controlled shutdown) and the
partitions that need attention: offline, under-replicated, under min.insync.replicas.`,
  'topic list': 'millrace topic list [--json]\n\nEvery topic with its partition count and replication factor.',
  'topic describe': `millrace topic describe TOPIC [--json]

Each partition's leader, leader epoch, partition epoch, replicas, ISR and offline replicas.`,
  'topic create': `millrace topic create TOPIC [--partitions N] [--replication-factor N] [--config name=value ...] [--validate-only]

Partitions and replication factor default to the cluster's num.partitions and
default.replication.factor. --config may be repeated (e.g. --config min.insync.replicas=2).`,
  'topic delete': 'millrace topic delete TOPIC [--json]',
  'topic alter-config': `millrace topic alter-config TOPIC [--set name=value ...] [--delete name ...] [--validate-only]

Sets or removes topic settings (Kafka's names: retention.ms, min.insync.replicas, …) and prints
the settings after.`,
  'topic add-partitions':
    'millrace topic add-partitions TOPIC --total N [--validate-only]\n\nGrows the topic to N partitions.',
  produce: `millrace produce TOPIC [--key-separator SEP] [--header name=value ...] [--acks all|1|0] [--partition N]

Sends each line of stdin as one record's value. With --key-separator, the text before the first
SEP is the record's key. --header adds a header to every record. Prints where each record went
with --json; otherwise a count at the end.`,
  consume: `millrace consume TOPIC [--from beginning|latest|OFFSET|ISO-TIME] [--partition N] [--follow] [--max-messages N] [--json]

Prints records as "partition offset key value" lines (or JSON objects, one per line). Starts at
the beginning by default; --from latest waits for new records; --from 2026-11-21T10:00:00Z starts
at the first record at or after a time; a number starts at that offset (with --partition).
Without --follow it stops once it has read everything that was there when it started; with
--follow it waits for more until Ctrl-C.

With --group GROUP it reads as a member of that consumer group: the group's members share the
topic's partitions, reading starts from the group's committed offsets (--from applies to
partitions without one: beginning or latest), and it commits what it printed as it goes and when
it exits. --partition and an offset or time in --from do not apply to a group.`,
  'group list': 'millrace group list [--json]\n\nEvery consumer group, with its state and number of members.',
  'group describe': `millrace group describe GROUP [--json]

The group's state and epochs; each member (id, client, epoch, state, assigned partitions); each
committed offset with the partition's end offset and the lag between them.`,
  'group reset-offsets': `millrace group reset-offsets GROUP --topic TOPIC --to earliest|latest|OFFSET|ISO-TIME [--partition N] [--json]

Moves the group's committed offsets for the topic (every partition, or --partition N). Refused
while the group has members: stop them first, as with Kafka's kafka-consumer-groups.`,
  'group delete': 'millrace group delete GROUP\n\nDeletes a group that has no members, with its committed offsets.',
};

/** Runs one command; resolves to the exit code. Errors are one line on stderr, never a stack trace. */
/**
 * Where the CLI connects and with which token: flags first, then the environment, then the
 * `pnpm dev` cluster — whose admin token is used only when the bootstrap is the dev cluster's too.
 */
export function target(
  flags: { readonly bootstrap?: string | undefined; readonly token?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): { bootstrap: string[]; token: string | undefined } {
  const given = flags.bootstrap ?? env.MILLRACE_BOOTSTRAP;
  const bootstrap = (given ?? DEV_BOOTSTRAP)
    .split(',')
    .map((address) => address.trim())
    .filter((address) => address.length > 0);
  return { bootstrap, token: flags.token ?? env.MILLRACE_TOKEN ?? (given === undefined ? DEV_ADMIN_TOKEN : undefined) };
}

export async function run(argv: readonly string[], io: Io): Promise<number> {
  let client: Millrace | undefined;
  try {
    const parsed = parseCommandLine(argv);
    if (parsed.help || parsed.command === undefined) {
      io.stdout.write(`${(parsed.command !== undefined && HELP[parsed.command]) || GLOBAL_HELP}\n`);
      return parsed.command === undefined && !parsed.help ? 2 : 0;
    }
    const { bootstrap, token } = target({ bootstrap: parsed.values.bootstrap, token: parsed.values.token }, io.env);
    client = new Millrace({
      bootstrap,
      clientId: 'millrace-cli',
      logLevel: 'nothing',
      ...(token === undefined || token === '' ? {} : { token }),
      // Long enough to ride out a controller election or a leader's failover, short enough that a
      // wrong address is reported promptly.
      retry: { deadlineMs: 5_000 },
    });
    return await dispatch(parsed, client, io);
  } catch (error) {
    io.stderr.write(`millrace: ${describe(error)}\n`);
    return isUsageError(error) ? 2 : 1;
  } finally {
    await client?.close();
  }
}

interface Parsed {
  readonly command: string | undefined;
  readonly args: string[];
  readonly values: Record<string, string | undefined> & {
    config?: string[];
    set?: string[];
    delete?: string[];
    header?: string[];
  };
  readonly flags: ReadonlySet<string>;
  readonly help: boolean;
}

class UsageError extends Error {}

function isUsageError(error: unknown): boolean {
  return error instanceof UsageError || isMillraceError(error, 'INVALID_CONFIG');
}

const OPTIONS = {
  bootstrap: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  partitions: { type: 'string' },
  'replication-factor': { type: 'string' },
  config: { type: 'string', multiple: true },
  'validate-only': { type: 'boolean' },
  set: { type: 'string', multiple: true },
  delete: { type: 'string', multiple: true },
  total: { type: 'string' },
  'key-separator': { type: 'string' },
  header: { type: 'string', multiple: true },
  acks: { type: 'string' },
  partition: { type: 'string' },
  from: { type: 'string' },
  follow: { type: 'boolean' },
  'max-messages': { type: 'string' },
  group: { type: 'string' },
  topic: { type: 'string' },
  to: { type: 'string' },
} as const;

function parseCommandLine(argv: readonly string[]): Parsed {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; args: string[] }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)} (see millrace --help)`);
  }
  const positionals = [...parsed.positionals];
  let command = positionals.shift();
  if (command === 'topic' || command === 'topics') {
    const sub = positionals.shift();
    command = sub === undefined ? 'topic list' : `topic ${sub}`;
  } else if (command === 'group' || command === 'groups') {
    const sub = positionals.shift();
    command = sub === undefined ? 'group list' : `group ${sub}`;
  }
  if (command !== undefined && !(command in HELP)) {
    throw new UsageError(`unknown command "${command}" (see millrace --help)`);
  }
  const values = parsed.values as Parsed['values'];
  const flags = new Set(
    Object.entries(parsed.values)
      .filter(([, v]) => v === true)
      .map(([k]) => k),
  );
  return { command, args: positionals, values, flags, help: parsed.values.help === true };
}

async function dispatch(parsed: Parsed, client: Millrace, io: Io): Promise<number> {
  const json = parsed.flags.has('json');
  const out = (text: string) => io.stdout.write(`${text}\n`);
  const admin = client.admin();
  switch (parsed.command) {
    case 'cluster': {
      none(parsed);
      const [cluster, health] = await Promise.all([admin.describeCluster(), admin.clusterHealth()]);
      if (json) {
        out(toJson({ ...cluster, health }));
        return 0;
      }
      out(`cluster ${cluster.clusterId}, metadata offset ${cluster.metadataOffset}`);
      out('');
      out(
        formatTable(
          ['CONTROLLER', 'ENDPOINT', 'ACTIVE'],
          cluster.controllers.map((c) => [
            String(c.nodeId),
            `${c.endpoint.host}:${c.endpoint.port}`,
            c.active ? 'yes' : '',
          ]),
        ),
      );
      out('');
      out(
        formatTable(
          ['BROKER', 'ENDPOINT', 'STATE', 'EPOCH', 'RACK'],
          cluster.brokers.map((b) => [
            String(b.brokerId),
            `${b.endpoint.host}:${b.endpoint.port}`,
            b.state,
            String(b.brokerEpoch),
            b.rack ?? '',
          ]),
        ),
      );
      out('');
      const list = (tps: readonly { topic: string; partition: number }[]) =>
        tps.length === 0 ? 'none' : tps.map((tp) => `${tp.topic}-${tp.partition}`).join(', ');
      out(`health: ${health.healthy ? 'healthy' : 'NOT healthy'}`);
      out(`  offline partitions:          ${list(health.offlinePartitions)}`);
      out(`  under-replicated partitions: ${list(health.underReplicatedPartitions)}`);
      out(`  under min.insync.replicas:   ${list(health.underMinIsrPartitions)}`);
      for (const reason of health.reasons) out(`  - ${reason}`);
      return 0;
    }
    case 'topic list': {
      none(parsed);
      const topics = await admin.listTopics();
      if (json) out(toJson(topics));
      else
        out(
          formatTable(
            ['TOPIC', 'PARTITIONS', 'REPLICATION', 'ID'],
            topics.map((t) => [t.name, String(t.partitions), String(t.replicationFactor), t.topicId]),
          ),
        );
      return 0;
    }
    case 'topic describe': {
      const topic = one(parsed, 'TOPIC');
      const description = await admin.describeTopic(topic);
      if (json) {
        out(toJson(description));
        return 0;
      }
      out(`topic ${description.name} (${description.topicId}), ${description.partitions.length} partitions`);
      out(
        formatTable(
          ['PARTITION', 'LEADER', 'LEADER EPOCH', 'PARTITION EPOCH', 'REPLICAS', 'ISR', 'OFFLINE'],
          description.partitions.map((p) => [
            String(p.partition),
            p.leader === null ? 'none' : String(p.leader),
            String(p.leaderEpoch),
            String(p.partitionEpoch),
            p.replicas.join(','),
            p.isr.join(','),
            p.offlineReplicas.join(','),
          ]),
        ),
      );
      return 0;
    }
    case 'topic create': {
      const topic = one(parsed, 'TOPIC');
      const partitions = optionalInt(parsed, 'partitions');
      const replicationFactor = optionalInt(parsed, 'replication-factor');
      const configs = keyValues(parsed.values.config ?? [], '--config');
      const created = await admin.createTopic({
        name: topic,
        ...(partitions === undefined ? {} : { partitions }),
        ...(replicationFactor === undefined ? {} : { replicationFactor }),
        ...(Object.keys(configs).length === 0 ? {} : { configs }),
        ...(parsed.flags.has('validate-only') ? { validateOnly: true } : {}),
      });
      if (json) out(toJson(created));
      else
        out(
          `${parsed.flags.has('validate-only') ? 'would create' : 'created'} topic ${created.name} with ${created.partitions.length} partitions`,
        );
      return 0;
    }
    case 'topic delete': {
      const topic = one(parsed, 'TOPIC');
      const deleted = await admin.deleteTopic(topic);
      out(json ? toJson(deleted) : `deleted topic ${deleted.name}`);
      return 0;
    }
    case 'topic alter-config': {
      const topic = one(parsed, 'TOPIC');
      const set = keyValues(parsed.values.set ?? [], '--set');
      const remove = parsed.values.delete ?? [];
      if (Object.keys(set).length === 0 && remove.length === 0) {
        throw new UsageError('give at least one --set name=value or --delete name');
      }
      const configs = await admin.alterTopicConfigs(topic, {
        ...(Object.keys(set).length === 0 ? {} : { set }),
        ...(remove.length === 0 ? {} : { delete: remove }),
        ...(parsed.flags.has('validate-only') ? { validateOnly: true } : {}),
      });
      if (json) out(toJson(configs));
      else
        out(
          formatTable(
            ['NAME', 'VALUE', 'SOURCE'],
            configs.map((c) => [c.name, c.value, c.source]),
          ),
        );
      return 0;
    }
    case 'topic add-partitions': {
      const topic = one(parsed, 'TOPIC');
      const total = optionalInt(parsed, 'total');
      if (total === undefined) throw new UsageError('--total N is required');
      const grown = await admin.createPartitions(topic, total, parsed.flags.has('validate-only') || undefined);
      out(json ? toJson(grown) : `topic ${grown.name} has ${grown.partitions.length} partitions`);
      return 0;
    }
    case 'group list': {
      none(parsed);
      const groups = await admin.listGroups();
      if (json) out(toJson(groups));
      else
        out(
          formatTable(
            ['GROUP', 'STATE', 'MEMBERS'],
            groups.map((g) => [g.groupId, g.state, String(g.members)]),
          ),
        );
      return 0;
    }
    case 'group describe': {
      const group = one(parsed, 'GROUP');
      const description = await admin.describeGroup(group);
      if (json) {
        out(toJson(description));
        return 0;
      }
      out(
        `group ${description.groupId}: ${description.state}, epoch ${description.groupEpoch}, ${description.members.length} members`,
      );
      const partitions = (list: readonly { topic: string | null; partitions: readonly number[] }[]) =>
        list.flatMap((t) => t.partitions.map((p) => `${t.topic ?? '?'}-${p}`)).join(', ') || '-';
      out('');
      out(
        formatTable(
          ['MEMBER', 'CLIENT', 'HOST', 'EPOCH', 'STATE', 'ASSIGNED'],
          description.members.map((m) => [
            m.memberId,
            m.clientId,
            m.clientHost,
            String(m.memberEpoch),
            m.state,
            partitions(m.assignment),
          ]),
        ),
      );
      out('');
      out(
        formatTable(
          ['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG'],
          description.offsets.map((o) => [
            o.topic,
            String(o.partition),
            String(o.offset),
            String(o.logEndOffset),
            String(o.lag),
          ]),
        ),
      );
      return 0;
    }
    case 'group reset-offsets': {
      const group = one(parsed, 'GROUP');
      const topic = parsed.values.topic;
      const to = parsed.values.to;
      if (topic === undefined || to === undefined) throw new UsageError('--topic TOPIC and --to are required');
      const partition = optionalInt(parsed, 'partition');
      const target = /^\d+$/.test(to) ? BigInt(to) : startOf(to, undefined);
      const offsets = await admin.resetGroupOffsets(
        group,
        topic,
        target,
        partition === undefined ? undefined : [partition],
      );
      if (json) out(toJson(offsets));
      else
        out(
          formatTable(
            ['TOPIC', 'PARTITION', 'NEW OFFSET'],
            offsets.map((o) => [topic, String(o.partition), String(o.offset)]),
          ),
        );
      return 0;
    }
    case 'group delete': {
      const group = one(parsed, 'GROUP');
      await admin.deleteGroup(group);
      out(json ? toJson({ groupId: group, deleted: true }) : `deleted group ${group}`);
      return 0;
    }
    case 'produce':
      return produce(parsed, client, io);
    case 'consume':
      return consume(parsed, client, io);
    default:
      throw new UsageError(`unknown command "${String(parsed.command)}"`);
  }
}

async function produce(parsed: Parsed, client: Millrace, io: Io): Promise<number> {
  const topic = one(parsed, 'TOPIC');
  const separator = parsed.values['key-separator'];
  if (separator === '') throw new UsageError('--key-separator must not be empty');
  const headers = keyValues(parsed.values.header ?? [], '--header');
  const acksText = parsed.values.acks ?? 'all';
  if (!['all', '1', '0', '-1'].includes(acksText))
    throw new UsageError(`--acks must be all, 1 or 0, not "${acksText}"`);
  const acks = acksText === 'all' || acksText === '-1' ? 'all' : (Number(acksText) as 0 | 1);
  const partition = optionalInt(parsed, 'partition');
  const producer = client.producer({ acks, idempotent: acks === 'all' });
  const json = parsed.flags.has('json');
  const pending: Promise<unknown>[] = [];
  let count = 0;
  let failed: unknown;
  const lines = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    let key: string | null = null;
    let value = line;
    if (separator !== undefined) {
      const at = line.indexOf(separator);
      if (at >= 0) {
        key = line.slice(0, at);
        value = line.slice(at + separator.length);
      }
    }
    const message: Message = {
      key,
      value,
      ...(Object.keys(headers).length === 0 ? {} : { headers }),
      ...(partition === undefined ? {} : { partition }),
    };
    // send waits when the producer's buffer is full, so stdin is read no faster than it drains.
    const sent = producer.send({ topic, messages: [message] }).then(
      ([record]) => {
        count++;
        if (json && record !== undefined) {
          io.stdout.write(`${JSON.stringify({ ...record, offset: record.offset.toString(), key, value })}\n`);
        }
      },
      (error: unknown) => {
        failed ??= error;
      },
    );
    pending.push(sent);
    if (pending.length >= 10_000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await producer.close();
  if (failed !== undefined) throw failed;
  if (!json) io.stderr.write(`produced ${count} records to ${topic}\n`);
  return 0;
}

async function consume(parsed: Parsed, client: Millrace, io: Io): Promise<number> {
  if (parsed.values.group !== undefined) return consumeInGroup(parsed, parsed.values.group, client, io);
  const topic = one(parsed, 'TOPIC');
  const partition = optionalInt(parsed, 'partition');
  const maxMessages = optionalInt(parsed, 'max-messages');
  const follow = parsed.flags.has('follow');
  const json = parsed.flags.has('json');
  const from = startOf(parsed.values.from ?? 'beginning', partition);
  const offsets = await client.admin().fetchTopicOffsets(topic);
  const partitions = partition === undefined ? offsets.map((o) => o.partition) : [partition];
  if (partition !== undefined && !offsets.some((o) => o.partition === partition)) {
    throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${topic} has no partition ${partition}.`);
  }
  const consumer = client.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 500 });
  await consumer.assign(partitions.map((p) => ({ topic, partition: p })));
  for (const p of partitions) consumer.seek({ topic, partition: p }, from);
  // Without --follow, stop once every partition's position reaches the end it had at the start.
  const ends = new Map(offsets.map((o) => [o.partition, o.high]));
  const caughtUp = () =>
    partitions.every((p) => {
      const position = consumer.position({ topic, partition: p });
      return position !== undefined && position >= (ends.get(p) ?? 0n);
    });
  const stop = () => void consumer.close();
  const watch = follow ? undefined : setInterval(() => caughtUp() && stop(), 50);
  io.signal?.addEventListener('abort', stop, { once: true });
  let count = 0;
  try {
    for await (const message of consumer) {
      count++;
      print(message, json, io);
      if (maxMessages !== undefined && count >= maxMessages) break;
      if (!follow && caughtUp()) break;
    }
  } finally {
    clearInterval(watch);
    io.signal?.removeEventListener('abort', stop);
    await consumer.close();
  }
  return 0;
}

/** One record on stdout: a tab-separated line, or a JSON object with --json. */
function print(message: ConsumedMessage, json: boolean, io: Io): void {
  if (json) {
    io.stdout.write(
      `${JSON.stringify({
        topic: message.topic,
        partition: message.partition,
        offset: message.offset.toString(),
        timestamp: message.timestamp,
        key: message.key?.toString() ?? null,
        value: message.value?.toString() ?? null,
        headers: Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v?.toString() ?? null])),
      })}\n`,
    );
  } else {
    io.stdout.write(
      `${message.partition}\t${message.offset}\t${message.key?.toString() ?? '-'}\t${message.value?.toString() ?? ''}\n`,
    );
  }
}

/**
 * consume --group: a member of the group until Ctrl-C (or --max-messages, or without --follow
 * once its partitions are read to the ends they had when it got them); commits what it printed.
 */
async function consumeInGroup(parsed: Parsed, groupId: string, client: Millrace, io: Io): Promise<number> {
  const topic = one(parsed, 'TOPIC');
  if (parsed.values.partition !== undefined) throw new UsageError('--partition does not apply with --group');
  const from = parsed.values.from ?? 'beginning';
  const reset = startOf(from, undefined);
  if (reset !== 'earliest' && reset !== 'latest')
    throw new UsageError('with --group, --from takes beginning or latest (for partitions without a committed offset)');
  const maxMessages = optionalInt(parsed, 'max-messages');
  const follow = parsed.flags.has('follow');
  const json = parsed.flags.has('json');
  const consumer = client.consumer({ groupId, autoOffsetReset: reset, maxWaitMs: 500 });
  // Without --follow: done once every partition it holds is read to the end it had when assigned.
  const ends = new Map<string, bigint>();
  let assigned = false;
  const admin = client.admin();
  consumer.subscribe([topic], {
    onAssigned: async () => {
      const offsets = await admin.fetchTopicOffsets(topic);
      for (const o of offsets) ends.set(`${o.partition}`, o.high);
      assigned = true;
    },
  });
  const done = () =>
    assigned &&
    consumer.assignment().every((tp) => {
      const position = consumer.position(tp);
      return position !== undefined && position >= (ends.get(`${tp.partition}`) ?? 0n);
    });
  const stop = () => void consumer.close();
  const watch = follow ? undefined : setInterval(() => done() && stop(), 100);
  io.signal?.addEventListener('abort', stop, { once: true });
  let count = 0;
  try {
    await consumer.run({
      eachMessage: (message) => {
        if (maxMessages !== undefined && count >= maxMessages) return;
        count++;
        print(message, json, io);
        if (maxMessages !== undefined && count >= maxMessages) stop();
      },
    });
  } finally {
    clearInterval(watch);
    io.signal?.removeEventListener('abort', stop);
    await consumer.close();
  }
  return 0;
}

function startOf(from: string, partition: number | undefined): SeekTo {
  if (from === 'beginning' || from === 'earliest') return 'earliest';
  if (from === 'latest' || from === 'end') return 'latest';
  if (/^\d+$/.test(from)) {
    if (partition === undefined) throw new UsageError('--from OFFSET needs --partition N');
    return BigInt(from);
  }
  const time = Date.parse(from);
  if (Number.isNaN(time)) {
    throw new UsageError(
      `--from takes beginning, latest, an offset or an ISO time like 2026-11-21T10:00:00Z, not "${from}"`,
    );
  }
  return { timestamp: time };
}

function none(parsed: Parsed): void {
  if (parsed.args.length > 0) throw new UsageError(`unexpected argument "${parsed.args[0]}"`);
}

function one(parsed: Parsed, name: string): string {
  const [value, extra] = parsed.args;
  if (value === undefined) throw new UsageError(`missing ${name} (see millrace ${parsed.command} --help)`);
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  return value;
}

function optionalInt(parsed: Parsed, name: string): number | undefined {
  const text = parsed.values[name] as string | undefined;
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--${name} takes a non-negative integer, not "${text}"`);
  }
  return Number(text);
}

function keyValues(items: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf('=');
    if (at <= 0) throw new UsageError(`${flag} takes name=value, not "${item}"`);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

function describe(error: unknown): string {
  if (error instanceof MillraceError) {
    const cause = error.code === 'NETWORK_EXCEPTION' ? ' — is the cluster running? (pnpm dev, or --bootstrap)' : '';
    return `${error.message} [${error.code}]${cause}`;
  }
  return error instanceof Error ? error.message : String(error);
}
