import { collectedGauge, createServer, type MillraceServer } from '@millrace/http';
import { NO_LEADER } from '@millrace/protocol';
import { type NodeId, registerRaftRoute } from '@millrace/raft';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import type { ControllerConfig } from './config.js';
import type { Forwarder } from './forward.js';
import type { ControllerNode } from './node.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerClusterRoutes } from './routes/cluster.js';

export interface ServerDeps {
  readonly config: ControllerConfig;
  readonly node: ControllerNode;
  readonly forwarder: Forwarder;
  readonly logger: Logger | false;
  readonly streamHeartbeatIntervalMs?: number;
}

/** The controller's HTTP/2 server: admin API, broker calls, metadata stream, Raft, health and metrics. */
export function buildServer(deps: ServerDeps): MillraceServer {
  const { config, node } = deps;
  const controller = node.controller;
  const app = createServer({
    logger: deps.logger,
    health: () => {
      const status = node.raft.status();
      const leader = status.lead === 0 ? null : status.lead;
      return {
        status: leader === null ? 'degraded' : 'ok',
        role: controller.isActive ? 'active' : 'standby',
        nodeId: config.nodeId,
        activeControllerId: leader,
        term: status.term,
        commitIndex: status.commit,
        metadataOffset: Math.max(0, controller.image.offset),
      };
    },
  });
  registerRaftRoute(app, {
    clusterId: config.clusterId,
    self: config.nodeId as NodeId,
    voters: config.voters.map((v) => v.nodeId as NodeId),
    clusterSecret: config.clusterSecret,
    sink: node.raft,
  });
  registerClusterRoutes(app, {
    node,
    controller,
    clusterSecret: config.clusterSecret,
    voters: config.voters,
    ...(deps.streamHeartbeatIntervalMs === undefined
      ? {}
      : { streamHeartbeatIntervalMs: deps.streamHeartbeatIntervalMs }),
  });
  registerAdminRoutes(app, {
    node,
    controller,
    clusterId: config.clusterId,
    adminToken: config.adminToken,
    voters: config.voters,
    forwarder: deps.forwarder,
  });
  registerMetrics(app, node);
  watchUncleanElections(app, node, deps.logger);
  return app;
}

/**
 * An unclean election may have lost acknowledged records: every controller logs each one it
 * applies, at warn level, and counts them, so the loss is never silent.
 */
function watchUncleanElections(app: MillraceServer, node: ControllerNode, logger: Logger | false): void {
  const counter = new Counter({
    name: 'millrace_controller_unclean_elections_total',
    help: 'Leaders elected from outside the ISR (unclean.leader.election.enable=true): acknowledged records may be lost',
    registers: [app.metricsRegistry],
  });
  const stop = node.stateMachine.onApply((batch) => {
    for (const record of batch.records) {
      if (record.type !== 'partition-change' || record.uncleanElection !== true) continue;
      counter.inc();
      const topic = node.stateMachine.image.topicById(record.topicId)?.name ?? record.topicId;
      if (logger !== false) {
        logger.warn(
          {
            topic,
            partition: record.partition,
            leader: record.leader,
            leaderEpoch: record.leaderEpoch,
            offset: batch.offset,
          },
          'unclean leader election: a replica outside the ISR now leads; acknowledged records may be lost',
        );
      }
    }
  });
  app.addHook('onClose', async () => stop());
}

function registerMetrics(app: MillraceServer, node: ControllerNode): void {
  const gauge = (name: string, help: string, value: () => number) =>
    collectedGauge(app.metricsRegistry, name, help, value);
  const image = () => node.controller.image;
  gauge('millrace_controller_active', '1 when this controller is the active controller', () =>
    node.controller.isActive ? 1 : 0,
  );
  gauge(
    'millrace_controller_fenced_brokers',
    'Registered brokers that are fenced',
    () =>
      image()
        .brokers()
        .filter((b) => b.fenced).length,
  );
  gauge('millrace_controller_registered_brokers', 'Registered brokers', () => image().brokers().length);
  gauge('millrace_controller_offline_partitions', 'Partitions without a leader', () =>
    image()
      .topics()
      .reduce((n, t) => n + t.partitions.filter((p) => p.leader === NO_LEADER).length, 0),
  );
  gauge('millrace_controller_metadata_offset', 'Offset of the last metadata batch applied', () =>
    Math.max(0, image().offset),
  );
  gauge('millrace_raft_term', 'Current Raft term (the controller epoch)', () => node.raft.status().term);
  gauge('millrace_raft_commit_index', 'Raft commit index', () => node.raft.status().commit);
  gauge('millrace_raft_applied_index', 'Raft index applied to the metadata image', () => node.raft.appliedIndex);
}
