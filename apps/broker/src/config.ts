import { type FlagSpec, loadConfig, wantsHelp } from '@millrace/node-kit';
import { BrokerIdSchema, ClusterIdSchema, EndpointSchema, RackSchema } from '@millrace/protocol';
import { z } from 'zod';

/**
 * A broker's settings, from a JSON file (`--config`) and/or flags (flags win); the secrets may come
 * from the environment. Every field is checked, with an error naming it.
 */
export const BrokerConfigSchema = z
  .strictObject({
    brokerId: BrokerIdSchema,
    clusterId: ClusterIdSchema,
    /** Where this broker listens: clients, other brokers' replica fetches, the admin API. */
    listen: EndpointSchema,
    /** The address clients and other brokers are told to use; the listen address by default. */
    advertised: EndpointSchema.optional(),
    /** Addresses of the controllers; any one that answers is enough to find the active one. */
    controllers: z.array(EndpointSchema).min(1).max(9),
    dataDir: z.string().min(1),
    rack: RackSchema.nullable().default(null),
    /** Shared by every node; calls between nodes carry it. */
    clusterSecret: z.string().min(16, 'the cluster secret must be at least 16 characters'),
    /** When set, clients must send `Authorization: Bearer <token>` (off in pnpm dev). */
    clientToken: z.string().min(16, 'the client token must be at least 16 characters').nullable().default(null),
    /**
     * How often the broker tells the active controller it is alive. The controller's session
     * timeout (2000 ms by default) must be several of these: 250 ms leaves room for 7 missed ones.
     */
    heartbeatIntervalMs: z.int().min(50).max(60_000).default(250),
    /** `os`: every append is in the OS before it is acknowledged (survives kill -9, not power loss); `every-batch`: fsync per append; `interval`: fsync every logFlushIntervalMs. */
    logFlushPolicy: z.enum(['os', 'every-batch', 'interval']).default('os'),
    logFlushIntervalMs: z.int().min(10).max(3_600_000).default(1000),
    /** How often retention (retention.ms, retention.bytes) runs over every partition (Kafka's log.retention.check.interval.ms). */
    logRetentionCheckIntervalMs: z.int().min(100).max(86_400_000).default(300_000),
    /** How often moved high watermarks are written (Kafka's replica.high.watermark.checkpoint.interval.ms). */
    highWatermarkCheckpointIntervalMs: z.int().min(100).max(3_600_000).default(5000),
    /** Largest produce request accepted, in bytes (Kafka's socket.request.max.bytes). */
    maxRequestBytes: z
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(100 * 1024 * 1024),
    /**
     * Memory for the newest batches of every partition, so followers and consumers at the tail are
     * served without reading LevelDB (Kafka leans on the page cache for this). 0 turns it off.
     */
    tailCacheBytes: z
      .int()
      .min(0)
      .max(16 * 1024 * 1024 * 1024)
      .default(64 * 1024 * 1024),
    /** How long a follower's fetch waits at the leader for new data (Kafka's replica.fetch.wait.max.ms). */
    replicaFetchWaitMaxMs: z.int().min(0).max(60_000).default(500),
    /** How long a SIGTERM waits for the controller to move this broker's leaderships away before stopping anyway. */
    controlledShutdownTimeoutMs: z.int().min(0).max(600_000).default(30_000),
    /** A group member not heard from for this long is removed (Kafka's group.consumer.session.timeout.ms). */
    groupSessionTimeoutMs: z.int().min(1000).max(3_600_000).default(45_000),
    /**
     * How long a member's heartbeat is held when nothing changes for it (Kafka's
     * group.consumer.heartbeat.interval.ms); members hear of changes at once whatever this is.
     */
    groupHeartbeatIntervalMs: z.int().min(100).max(600_000).default(5000),
    /** The most members a group may have (Kafka's group.consumer.max.size). */
    groupMaxSize: z.int().min(1).max(100_000).default(1000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .refine((config) => config.groupHeartbeatIntervalMs < config.groupSessionTimeoutMs, {
    message: 'groupHeartbeatIntervalMs must be shorter than groupSessionTimeoutMs',
    path: ['groupHeartbeatIntervalMs'],
  })
  .transform((config) => ({ ...config, advertised: config.advertised ?? config.listen }));
export type BrokerConfig = z.output<typeof BrokerConfigSchema>;

export const BROKER_USAGE = `Usage: millrace-broker [--config file.json] [flags]

Flags (each overrides the file):
  --broker-id N                 this broker's id
  --cluster-id ID               the cluster's id
  --listen HOST:PORT            where to serve clients, replicas and the admin API
  --advertised HOST:PORT        the address others should use (default: --listen)
  --controllers HOST:PORT,...   the controllers' addresses
  --data-dir PATH               the folder of this broker's partition logs
  --rack RACK                   this broker's rack, for rack-aware placement
  --cluster-secret SECRET       shared by all nodes (or MILLRACE_CLUSTER_SECRET)
  --client-token TOKEN          require clients to send it (or MILLRACE_CLIENT_TOKEN)
  --heartbeat-interval-ms N     default 250
  --log-flush-policy POLICY     os (default), every-batch or interval
  --log-flush-interval-ms N     fsync interval of the interval policy, default 1000
  --log-retention-check-interval-ms N   default 300000
  --replica-fetch-wait-max-ms N default 500
  --tail-cache-bytes N          memory for the newest batches, default 67108864 (64 MiB); 0 is off
  --group-session-timeout-ms N  a silent group member is removed after this, default 45000
  --group-heartbeat-interval-ms N   members' heartbeat interval, default 5000
  --log-level LEVEL             fatal, error, warn, info, debug, trace or silent
  --help                        this text`;

const FLAGS: readonly FlagSpec[] = [
  { flag: 'broker-id', field: 'brokerId', kind: 'int' },
  { flag: 'cluster-id', field: 'clusterId', kind: 'string' },
  { flag: 'listen', field: 'listen', kind: 'endpoint' },
  { flag: 'advertised', field: 'advertised', kind: 'endpoint' },
  { flag: 'controllers', field: 'controllers', kind: 'endpoints' },
  { flag: 'data-dir', field: 'dataDir', kind: 'string' },
  { flag: 'rack', field: 'rack', kind: 'string' },
  { flag: 'cluster-secret', field: 'clusterSecret', kind: 'string', env: 'MILLRACE_CLUSTER_SECRET' },
  { flag: 'client-token', field: 'clientToken', kind: 'string', env: 'MILLRACE_CLIENT_TOKEN' },
  { flag: 'heartbeat-interval-ms', field: 'heartbeatIntervalMs', kind: 'int' },
  { flag: 'log-flush-policy', field: 'logFlushPolicy', kind: 'string' },
  { flag: 'log-flush-interval-ms', field: 'logFlushIntervalMs', kind: 'int' },
  { flag: 'log-retention-check-interval-ms', field: 'logRetentionCheckIntervalMs', kind: 'int' },
  { flag: 'replica-fetch-wait-max-ms', field: 'replicaFetchWaitMaxMs', kind: 'int' },
  { flag: 'tail-cache-bytes', field: 'tailCacheBytes', kind: 'int' },
  { flag: 'group-session-timeout-ms', field: 'groupSessionTimeoutMs', kind: 'int' },
  { flag: 'group-heartbeat-interval-ms', field: 'groupHeartbeatIntervalMs', kind: 'int' },
  { flag: 'log-level', field: 'logLevel', kind: 'string' },
];

export function loadBrokerConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  return loadConfig({ schema: BrokerConfigSchema, flags: FLAGS, usage: BROKER_USAGE, argv, env });
}

export { wantsHelp };
