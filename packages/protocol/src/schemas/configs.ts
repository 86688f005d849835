import { z } from 'zod';
import { MillraceError } from '../errors.js';

/**
 * The settings Millrace knows, under Kafka's names and with Kafka's defaults unless a reason to
 * differ is written beside the entry. Topic settings may be set per topic; each has a cluster-wide
 * default under Kafka's broker name (`log.retention.ms` for `retention.ms`), which the cluster
 * config can change. Values travel as strings, as in Kafka's AlterConfigs, and are checked here.
 */
export type ConfigType = 'int' | 'long' | 'boolean' | 'string';

export interface ConfigDefinition {
  readonly type: ConfigType;
  /** The value when nothing is set, as a string (Kafka's documented default). */
  readonly default: string;
  readonly doc: string;
  /** Checks a value already known to be of `type`; returns a problem, or undefined when valid. */
  readonly check?: (value: bigint | boolean | string) => string | undefined;
  readonly enumValues?: readonly string[];
}

const atLeast =
  (min: bigint) =>
  (value: bigint | boolean | string): string | undefined =>
    typeof value === 'bigint' && value < min ? `must be at least ${min}` : undefined;

const DAY_MS = 86_400_000n;

export const TopicConfigs = {
  'retention.ms': {
    type: 'long',
    default: String(7n * DAY_MS),
    doc: 'How long a batch is kept before retention deletes it; -1 keeps it forever.',
    check: atLeast(-1n),
  },
  'retention.bytes': {
    type: 'long',
    default: '-1',
    doc: 'How many bytes a partition keeps before retention deletes its oldest batches; -1 is no limit.',
    check: atLeast(-1n),
  },
  'min.insync.replicas': {
    type: 'int',
    default: '1',
    doc: 'With acks=all, a write is refused (NOT_ENOUGH_REPLICAS) while the ISR is smaller than this.',
    check: atLeast(1n),
  },
  'unclean.leader.election.enable': {
    type: 'boolean',
    default: 'false',
    doc: 'When the ISR has no live member, whether a live out-of-sync replica may lead (losing acknowledged records) rather than leave the partition offline.',
  },
  'max.message.bytes': {
    type: 'int',
    default: '1048588',
    doc: 'The largest record batch the leader accepts for this topic (MESSAGE_TOO_LARGE above it).',
    check: atLeast(0n),
  },
  'message.timestamp.type': {
    type: 'string',
    default: 'CreateTime',
    doc: "Whether record timestamps are the producer's (CreateTime) or the leader's append time (LogAppendTime).",
    enumValues: ['CreateTime', 'LogAppendTime'],
  },
} as const satisfies Record<string, ConfigDefinition>;

export type TopicConfigName = keyof typeof TopicConfigs;

/** Cluster-wide settings: Kafka's broker-level names. Those in `topicDefaultFor` set a topic setting's default. */
export const ClusterConfigs = {
  'log.retention.ms': { ...TopicConfigs['retention.ms'], doc: 'The default of retention.ms.' },
  'log.retention.bytes': { ...TopicConfigs['retention.bytes'], doc: 'The default of retention.bytes.' },
  'min.insync.replicas': { ...TopicConfigs['min.insync.replicas'], doc: 'The default of min.insync.replicas.' },
  'unclean.leader.election.enable': {
    ...TopicConfigs['unclean.leader.election.enable'],
    doc: 'The default of unclean.leader.election.enable.',
  },
  'message.max.bytes': { ...TopicConfigs['max.message.bytes'], doc: 'The default of max.message.bytes.' },
  'log.message.timestamp.type': {
    ...TopicConfigs['message.timestamp.type'],
    doc: 'The default of message.timestamp.type.',
  },
  'num.partitions': {
    type: 'int',
    default: '1',
    doc: 'Partitions of a topic created without a partition count.',
    check: atLeast(1n),
  },
  'default.replication.factor': {
    type: 'int',
    default: '1',
    doc: 'Replication factor of a topic created without one.',
    check: atLeast(1n),
  },
  'auto.leader.rebalance.enable': {
    type: 'boolean',
    default: 'true',
    doc: 'Whether the active controller moves leadership back to preferred replicas that are alive and in the ISR.',
  },
  'offsets.topic.num.partitions': {
    type: 'int',
    default: '50',
    doc: "Partitions of __consumer_offsets, created when a group first looks for its coordinator; fixed from then on (a group's partition is its id's hash modulo this).",
    check: atLeast(1n),
  },
  'offsets.topic.replication.factor': {
    type: 'int',
    default: '3',
    doc: 'Replication factor of __consumer_offsets; until this many brokers are alive, coordinator lookups answer COORDINATOR_NOT_AVAILABLE.',
    check: atLeast(1n),
  },
  'replica.lag.time.max.ms': {
    type: 'long',
    default: '30000',
    doc: 'A follower that has not caught up to the leader within this time leaves the ISR.',
    check: atLeast(1n),
  },
} as const satisfies Record<string, ConfigDefinition>;

export type ClusterConfigName = keyof typeof ClusterConfigs;

/** Which cluster setting holds the default of each topic setting (Kafka's config synonyms). */
export const TopicConfigDefaultSource: Readonly<Record<TopicConfigName, ClusterConfigName>> = {
  'retention.ms': 'log.retention.ms',
  'retention.bytes': 'log.retention.bytes',
  'min.insync.replicas': 'min.insync.replicas',
  'unclean.leader.election.enable': 'unclean.leader.election.enable',
  'max.message.bytes': 'message.max.bytes',
  'message.timestamp.type': 'log.message.timestamp.type',
};

/** A config value as a caller may send it; it is stored and shown as Kafka does, as a string. */
export const ConfigValueInputSchema = z.union([z.string().max(4096), z.number(), z.boolean()]);

export function isTopicConfigName(name: string): name is TopicConfigName {
  return Object.hasOwn(TopicConfigs, name);
}

export function isClusterConfigName(name: string): name is ClusterConfigName {
  return Object.hasOwn(ClusterConfigs, name);
}

/**
 * Checks one value against its definition and returns its canonical string form. Throws
 * INVALID_CONFIG naming the setting and what is wrong; a setting the catalogue does not know is
 * refused the same way, so a typo never silently does nothing.
 */
export function normalizeConfigValue(
  scope: 'topic' | 'cluster',
  name: string,
  value: string | number | boolean,
): string {
  const definitions: Readonly<Record<string, ConfigDefinition>> = scope === 'topic' ? TopicConfigs : ClusterConfigs;
  const definition = Object.hasOwn(definitions, name) ? definitions[name] : undefined;
  if (definition === undefined) {
    throw new MillraceError('INVALID_CONFIG', `Unknown ${scope} config "${name}".`, { details: { config: name } });
  }
  const text = String(value).trim();
  const fail = (problem: string): never => {
    throw new MillraceError('INVALID_CONFIG', `Invalid value "${text}" for ${scope} config "${name}": ${problem}.`, {
      details: { config: name },
    });
  };
  let typed: bigint | boolean | string;
  switch (definition.type) {
    case 'int':
    case 'long': {
      if (!/^-?(0|[1-9][0-9]{0,18})$/.test(text)) fail(`expected ${definition.type === 'int' ? 'an int' : 'a long'}`);
      typed = BigInt(text);
      const [min, max] = definition.type === 'int' ? [-(2n ** 31n), 2n ** 31n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
      if (typed < min || typed > max) fail(`out of range for ${definition.type}`);
      break;
    }
    case 'boolean': {
      const lower = text.toLowerCase();
      if (lower !== 'true' && lower !== 'false') fail('expected true or false');
      typed = lower === 'true';
      break;
    }
    case 'string':
      typed = text;
      break;
  }
  if (definition.enumValues !== undefined && !definition.enumValues.includes(String(typed))) {
    fail(`expected one of ${definition.enumValues.join(', ')}`);
  }
  const problem = definition.check?.(typed);
  if (problem !== undefined) fail(problem);
  return String(typed);
}
