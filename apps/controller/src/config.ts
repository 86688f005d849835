import { type FlagSpec, loadConfig, wantsHelp } from '@millrace/node-kit';
import { ClusterIdSchema, EndpointSchema } from '@millrace/protocol';
import { z } from 'zod';

/**
 * A controller's settings, from a JSON file (`--config`) and/or flags (flags win). Every field is
 * checked here, with an error that names the field and where it came from; nothing starts on a
 * half-understood configuration.
 */
const VoterSchema = z.strictObject({
  nodeId: z
    .int()
    .min(1)
    .max(2 ** 31 - 1),
  endpoint: EndpointSchema,
});

export const ControllerConfigSchema = z
  .strictObject({
    nodeId: z
      .int()
      .min(1)
      .max(2 ** 31 - 1),
    clusterId: ClusterIdSchema,
    /** Where this controller listens: the admin API, the metadata stream, Raft traffic. */
    listen: EndpointSchema,
    /** Every voter of the quorum, this one included. */
    voters: z.array(VoterSchema).min(1).max(9),
    dataDir: z.string().min(1),
    /** Bearer token that admin writes must carry. */
    adminToken: z.string().min(16, 'the admin token must be at least 16 characters'),
    /** Shared by every node; calls between nodes carry it. */
    clusterSecret: z.string().min(16, 'the cluster secret must be at least 16 characters'),
    /** Create the Raft store in an empty data folder: a deliberate first start only. */
    initialize: z.boolean().default(false),
    /**
     * A broker silent this long is fenced and its leaderships move (Kafka's
     * broker.session.timeout.ms, 9 s there). 2 s, with brokers heartbeating every 250 ms, moves a
     * dead broker's leaderships in about 2 s, under the 3 s the project aims for (3 s and 500 ms
     * gave 2.6-3.1 s); it still allows 7 heartbeats to go missing, and every process test has run
     * with 1.5 s on a loaded 2-core machine without a spurious fencing.
     */
    brokerSessionTimeoutMs: z.int().min(200).max(600_000).default(2000),
    raftTickMs: z.int().min(5).max(1000).default(50),
    raftElectionTimeoutTicks: z.int().min(2).max(1000).default(10),
    /**
     * Heartbeats every 2 ticks (100 ms, etcd's default): an idle leader's heartbeats and their
     * answers were most of an idle quorum's CPU, and every 100 ms still leaves five of them inside
     * the shortest election timeout. Commits and ReadIndex rounds do not wait for it (the leader
     * sends those at once).
     */
    raftHeartbeatTimeoutTicks: z.int().min(1).max(100).default(2),
    snapshotEveryEntries: z.int().min(10).max(10_000_000).default(10_000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((config, ctx) => {
    const ids = config.voters.map((v) => v.nodeId);
    if (new Set(ids).size !== ids.length)
      ctx.addIssue({ code: 'custom', path: ['voters'], message: 'voter ids must be unique' });
    if (!ids.includes(config.nodeId)) {
      ctx.addIssue({
        code: 'custom',
        path: ['voters'],
        message: `the voters must include this node (${config.nodeId})`,
      });
    }
    if (config.raftHeartbeatTimeoutTicks >= config.raftElectionTimeoutTicks) {
      ctx.addIssue({
        code: 'custom',
        path: ['raftHeartbeatTimeoutTicks'],
        message: 'the heartbeat interval must be shorter than the election timeout',
      });
    }
  });
export type ControllerConfig = z.output<typeof ControllerConfigSchema>;

export const CONTROLLER_USAGE = `Usage: millrace-controller [--config file.json] [flags]

Flags (each overrides the file):
  --node-id N                 this controller's id (a voter id)
  --cluster-id ID             the cluster's id
  --listen HOST:PORT          where to serve the admin API, the metadata stream and Raft
  --voters ID@HOST:PORT,...   every voter of the quorum, this one included
  --data-dir PATH             the folder of this controller's Raft log
  --admin-token TOKEN         bearer token for admin writes (or MILLRACE_ADMIN_TOKEN)
  --cluster-secret SECRET     shared by all nodes (or MILLRACE_CLUSTER_SECRET)
  --initialize                create the Raft store in an empty data folder (first start only)
  --broker-session-timeout-ms N   fence a broker silent this long (default 2000)
  --log-level LEVEL           fatal, error, warn, info, debug, trace or silent
  --help                      this text`;

const FLAGS: readonly FlagSpec[] = [
  { flag: 'node-id', field: 'nodeId', kind: 'int' },
  { flag: 'cluster-id', field: 'clusterId', kind: 'string' },
  { flag: 'listen', field: 'listen', kind: 'endpoint' },
  { flag: 'voters', field: 'voters', kind: 'voters' },
  { flag: 'data-dir', field: 'dataDir', kind: 'string' },
  { flag: 'admin-token', field: 'adminToken', kind: 'string', env: 'MILLRACE_ADMIN_TOKEN' },
  { flag: 'cluster-secret', field: 'clusterSecret', kind: 'string', env: 'MILLRACE_CLUSTER_SECRET' },
  { flag: 'initialize', field: 'initialize', kind: 'boolean' },
  { flag: 'broker-session-timeout-ms', field: 'brokerSessionTimeoutMs', kind: 'int' },
  { flag: 'log-level', field: 'logLevel', kind: 'string' },
];

/**
 * Reads the configuration from `argv` (without node and the script), the file it names and the
 * environment (for the two secrets). Throws INVALID_CONFIG naming each field at fault.
 */
export function loadControllerConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  return loadConfig({ schema: ControllerConfigSchema, flags: FLAGS, usage: CONTROLLER_USAGE, argv, env });
}

export { wantsHelp };
