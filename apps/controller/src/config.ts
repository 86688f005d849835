import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ClusterIdSchema, EndpointSchema, MillraceError, parseOrThrow } from '@millrace/protocol';
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
    brokerSessionTimeoutMs: z.int().min(200).max(600_000).default(3000),
    raftTickMs: z.int().min(5).max(1000).default(50),
    raftElectionTimeoutTicks: z.int().min(2).max(1000).default(10),
    raftHeartbeatTimeoutTicks: z.int().min(1).max(100).default(1),
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

/** `host:port`, for flags. */
function endpoint(text: string, flag: string) {
  const match = /^(.+):(\d{1,5})$/.exec(text);
  if (match === null) throw new MillraceError('INVALID_CONFIG', `--${flag} "${text}" is not host:port.`);
  return { host: match[1] as string, port: Number(match[2]) };
}

/** `1@host:port,2@host:port`, for --voters. */
function voters(text: string) {
  return text.split(',').map((item) => {
    const match = /^(\d+)@(.+)$/.exec(item.trim());
    if (match === null) throw new MillraceError('INVALID_CONFIG', `--voters item "${item}" is not id@host:port.`);
    return { nodeId: Number(match[1]), endpoint: endpoint(match[2] as string, 'voters') };
  });
}

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
  --log-level LEVEL           fatal, error, warn, info, debug, trace or silent
  --help                      this text`;

/**
 * Reads the configuration from `argv` (without node and the script), the file it names and the
 * environment (for the two secrets, so they need not appear in a process list). Throws
 * INVALID_CONFIG naming each field at fault.
 */
export function loadControllerConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        config: { type: 'string' },
        'node-id': { type: 'string' },
        'cluster-id': { type: 'string' },
        listen: { type: 'string' },
        voters: { type: 'string' },
        'data-dir': { type: 'string' },
        'admin-token': { type: 'string' },
        'cluster-secret': { type: 'string' },
        initialize: { type: 'boolean' },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new MillraceError('INVALID_CONFIG', `${(error as Error).message}\n\n${CONTROLLER_USAGE}`);
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  let file: Record<string, unknown> = {};
  const configPath = flags.config;
  if (typeof configPath === 'string') {
    let text: string;
    try {
      text = readFileSync(configPath, 'utf8');
    } catch (error) {
      throw new MillraceError('INVALID_CONFIG', `Cannot read config file ${configPath}: ${(error as Error).message}`);
    }
    try {
      file = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new MillraceError('INVALID_CONFIG', `Config file ${configPath} is not valid JSON.`);
    }
    if (typeof file !== 'object' || file === null || Array.isArray(file)) {
      throw new MillraceError('INVALID_CONFIG', `Config file ${configPath} must hold a JSON object.`);
    }
  }
  const str = (name: string) => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined);
  const fromFlags: Record<string, unknown> = {
    nodeId: str('node-id') === undefined ? undefined : Number(str('node-id')),
    clusterId: str('cluster-id'),
    listen: str('listen') === undefined ? undefined : endpoint(str('listen') as string, 'listen'),
    voters: str('voters') === undefined ? undefined : voters(str('voters') as string),
    dataDir: str('data-dir'),
    adminToken: str('admin-token') ?? env.MILLRACE_ADMIN_TOKEN,
    clusterSecret: str('cluster-secret') ?? env.MILLRACE_CLUSTER_SECRET,
    initialize: flags.initialize === true ? true : undefined,
    logLevel: str('log-level'),
  };
  const merged = { ...file };
  for (const [key, value] of Object.entries(fromFlags)) if (value !== undefined) merged[key] = value;
  const source = typeof configPath === 'string' ? `${configPath} and flags` : 'flags';
  try {
    return parseOrThrow(ControllerConfigSchema, merged, 'config');
  } catch (error) {
    throw new MillraceError('INVALID_CONFIG', `${(error as Error).message} (read from ${source})`, { cause: error });
  }
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}
