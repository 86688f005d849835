import { type MillraceServer, parseBody, parseQuery, requireClusterSecret } from '@millrace/http';
import {
  AllocateProducerIdsRequestSchema,
  AlterPartitionRequestSchema,
  BrokerHeartbeatRequestSchema,
  BrokerRegistrationRequestSchema,
  ContentType,
  CreateInternalTopicRequestSchema,
  MetadataStreamQuerySchema,
  MillraceError,
  Routes,
} from '@millrace/protocol';
import type { Controller } from '../controller.js';
import { allocateProducerIds, alterPartition, createOffsetsTopic, liveContext } from '../metadata/decisions.js';
import { metadataStream } from '../metadata/stream.js';
import type { ControllerNode } from '../node.js';

export interface ClusterRoutesOptions {
  readonly node: ControllerNode;
  readonly controller: Controller;
  readonly clusterSecret: string;
  readonly voters: readonly { nodeId: number; endpoint: { host: string; port: number } }[];
  readonly streamHeartbeatIntervalMs?: number;
}

/**
 * Calls from brokers, all behind the cluster secret. Registration, heartbeats, AlterPartition and
 * producer ids are decided by the active controller only: another controller answers
 * NOT_CONTROLLER naming the active one and its address, and the broker goes there. The metadata
 * stream is served by any controller: every one applies the same committed log.
 */
export function registerClusterRoutes(app: MillraceServer, options: ClusterRoutesOptions): void {
  const { controller } = options;
  const onRequest = requireClusterSecret(options.clusterSecret);
  const requireActive = () => {
    if (controller.isActive) return;
    const active = controller.activeControllerId;
    const endpoint = options.voters.find((v) => v.nodeId === active)?.endpoint;
    throw new MillraceError(
      'NOT_CONTROLLER',
      active === null ? 'There is no active controller right now.' : `Controller ${active} is the active controller.`,
      { details: { activeControllerId: active, ...(endpoint && { endpoint }) } },
    );
  };

  app.post(Routes.brokerRegister, { onRequest }, async (request) => {
    requireActive();
    return controller.registerBroker(parseBody(BrokerRegistrationRequestSchema, request));
  });

  app.post(Routes.brokerHeartbeat, { onRequest }, async (request) => {
    requireActive();
    return controller.heartbeat(parseBody(BrokerHeartbeatRequestSchema, request));
  });

  app.post(Routes.alterPartition, { onRequest }, async (request) => {
    requireActive();
    const body = parseBody(AlterPartitionRequestSchema, request);
    return controller.write((image) => alterPartition(image, body));
  });

  app.post(Routes.allocateProducerIds, { onRequest }, async (request) => {
    requireActive();
    const body = parseBody(AllocateProducerIdsRequestSchema, request);
    const block = await controller.write((image) => allocateProducerIds(image, body.brokerId, body.brokerEpoch));
    return { firstProducerId: block.firstProducerId.toString(), count: block.count };
  });

  app.post(Routes.createInternalTopic, { onRequest }, async (request) => {
    requireActive();
    parseBody(CreateInternalTopicRequestSchema, request);
    const topic = await controller.write((image) => createOffsetsTopic(image, liveContext()));
    return { name: topic.name, topicId: topic.topicId, partitions: topic.partitions.length };
  });

  /**
   * One long-lived HTTP/2 response, one JSON frame per line. The reply is hijacked: the request
   * timeout does not apply to a stream meant to last, and the stream ends when the broker goes
   * away (the connection or stream closes) or falls too far behind.
   */
  app.get(Routes.metadataStream, { onRequest }, async (request, reply) => {
    const query = parseQuery(MetadataStreamQuerySchema, request);
    const abort = new AbortController();
    reply.hijack();
    const raw = reply.raw;
    raw.on('close', () => abort.abort());
    raw.writeHead(200, { 'content-type': ContentType.ndjson, 'cache-control': 'no-store' });
    const frames = metadataStream(options.node.stateMachine, {
      fromOffset: query.fromOffset ?? 0,
      controllerEpoch: () => options.node.raft.status().term,
      signal: abort.signal,
      ...(options.streamHeartbeatIntervalMs === undefined
        ? {}
        : { heartbeatIntervalMs: options.streamHeartbeatIntervalMs }),
    });
    try {
      for await (const frame of frames) {
        if (abort.signal.aborted) break;
        const ok = raw.write(`${JSON.stringify(frame)}\n`);
        if (!ok) await new Promise<void>((resolve) => raw.once('drain', resolve).once('close', resolve));
      }
    } finally {
      if (!raw.writableEnded) raw.end();
    }
  });
}
