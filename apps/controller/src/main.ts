#!/usr/bin/env node
import { listen } from '@millrace/http';
import { runMain } from '@millrace/node-kit';
import { HttpRaftTransport, type NodeId } from '@millrace/raft';
import { pino } from 'pino';
import { CONTROLLER_USAGE, loadControllerConfig, wantsHelp } from './config.js';
import { Forwarder } from './forward.js';
import { openControllerNode } from './node.js';
import { buildServer } from './server.js';

/** Reads the configuration, opens the Raft store, serves, and stops cleanly on SIGTERM or SIGINT. */
async function main(argv: readonly string[]): Promise<void> {
  if (wantsHelp(argv)) {
    console.log(CONTROLLER_USAGE);
    return;
  }
  const config = loadControllerConfig(argv);
  const logger = pino({ level: config.logLevel, base: { node: `controller-${config.nodeId}` } });
  const node = await openControllerNode({
    nodeId: config.nodeId,
    voters: config.voters.map((v) => v.nodeId),
    dataDir: config.dataDir,
    initialize: config.initialize,
    settings: { clusterId: config.clusterId, brokerSessionTimeoutMs: config.brokerSessionTimeoutMs },
    raft: {
      tickMs: config.raftTickMs,
      electionTimeoutTicks: config.raftElectionTimeoutTicks,
      heartbeatTimeoutTicks: config.raftHeartbeatTimeoutTicks,
      snapshotEveryEntries: config.snapshotEveryEntries,
    },
    onError: (error, what) => logger.warn({ err: error }, `failed ${what}`),
  });
  const origins = new Map<NodeId, string>(
    config.voters.map((v) => [v.nodeId as NodeId, `http://${v.endpoint.host}:${v.endpoint.port}`]),
  );
  const forwarder = new Forwarder(origins);
  const server = buildServer({ config, node, forwarder, logger });
  try {
    await listen(server, config.listen);
  } catch (error) {
    await node.stop();
    throw error;
  }
  node.start(
    new HttpRaftTransport({
      clusterId: config.clusterId,
      self: config.nodeId as NodeId,
      peers: origins,
      clusterSecret: config.clusterSecret,
      sink: node.raft,
    }),
  );
  node.raft.onLeaderChange((change) =>
    logger.info(
      { leaderId: change.leaderId, term: change.term },
      change.isLeader ? 'this controller leads the quorum' : 'quorum leader changed',
    ),
  );
  logger.info({ listen: config.listen, voters: config.voters.map((v) => v.nodeId) }, 'controller started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    await handOverLeadership(
      node,
      config.voters.map((v) => v.nodeId),
    ).catch(() => undefined);
    await server.close();
    await forwarder.close();
    await node.stop();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', (signal) => void stop(signal));
  process.on('SIGINT', (signal) => void stop(signal));
}

/** A leader that stops hands leadership to a peer first, so the quorum does not wait out an election timeout. */
async function handOverLeadership(
  node: Awaited<ReturnType<typeof openControllerNode>>,
  voters: readonly number[],
): Promise<void> {
  if (!node.raft.isLeader) return;
  const progress = node.raft.status().progress;
  const peers = voters.filter((id) => id !== node.raft.id);
  const best = peers.sort(
    (a, b) => (progress?.get(b as NodeId)?.match ?? 0) - (progress?.get(a as NodeId)?.match ?? 0),
  )[0];
  if (best === undefined) return;
  node.raft.transferLeadership(best as NodeId);
  const deadline = Date.now() + 2000;
  while (node.raft.isLeader && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

runMain('millrace-controller', main);
