import { type MillraceServer, parseBody, parseParams, requireBearerToken } from '@millrace/http';
import {
  AlterConfigsRequestSchema,
  BrokerParamsSchema,
  type ClusterDescription,
  CreatePartitionsRequestSchema,
  CreateTopicRequestSchema,
  MillraceError,
  PreferredElectionRequestSchema,
  type QuorumStatus,
  Routes,
  TopicParamsSchema,
} from '@millrace/protocol';
import type { NodeId } from '@millrace/raft';
import type { Controller } from '../controller.js';
import type { Forwarder } from '../forward.js';
import {
  alterConfigs,
  createPartitions,
  createTopic,
  deleteTopic,
  electPreferredLeaders,
  liveContext,
} from '../metadata/decisions.js';
import type { ControllerNode } from '../node.js';
import { clusterHealth, describeBroker, describeTopic, summarizeTopic } from '../views.js';

/** What the admin handlers use of a request and a reply (fastify's, over HTTP/2). */
interface AdminRequest {
  readonly method: string;
  readonly url: string;
  readonly body: unknown;
  readonly params: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}
interface AdminReply {
  code(status: number): AdminReply;
  send(payload?: unknown): unknown;
}

export interface AdminRoutesOptions {
  readonly node: ControllerNode;
  readonly controller: Controller;
  readonly clusterId: string;
  readonly adminToken: string;
  readonly voters: readonly { nodeId: number; endpoint: { host: string; port: number } }[];
  readonly forwarder: Forwarder;
}

/**
 * The admin API. Any controller answers reads from its own committed image (linearizable where a
 * stale answer would mislead: topics and configs); writes need the admin token and are decided by
 * the active controller: another controller forwards them there and relays the answer unchanged.
 */
export function registerAdminRoutes(app: MillraceServer, options: AdminRoutesOptions): void {
  const { controller, node, forwarder } = options;
  const auth = requireBearerToken(options.adminToken);

  /** Runs `handle` here when active; otherwise relays the request to the active controller. */
  const onActive =
    (handle: (request: AdminRequest, reply: AdminReply) => Promise<unknown>) =>
    async (request: AdminRequest, reply: AdminReply) => {
      if (controller.isActive) return handle(request, reply);
      const active = controller.activeControllerId;
      if (active === null || active === node.raft.id) {
        throw new MillraceError('NOT_CONTROLLER', 'There is no active controller right now; retry shortly.', {
          details: { activeControllerId: active },
        });
      }
      const answer = await forwarder.forward(active, {
        method: request.method,
        url: request.url,
        body: request.body ?? undefined,
        authorization: typeof request.headers.authorization === 'string' ? request.headers.authorization : undefined,
      });
      return reply.code(answer.status).send(answer.body);
    };

  const context = liveContext;

  app.get(Routes.cluster, async (): Promise<ClusterDescription> => {
    const image = controller.image;
    const active = controller.activeControllerId;
    return {
      clusterId: options.clusterId,
      activeControllerId: active,
      controllers: options.voters.map((v) => ({ nodeId: v.nodeId, endpoint: v.endpoint, active: v.nodeId === active })),
      brokers: image.brokers().map(describeBroker),
      metadataOffset: Math.max(0, image.offset),
    };
  });

  app.get(
    Routes.clusterQuorum,
    onActive(async (): Promise<QuorumStatus> => {
      const status = node.raft.status();
      const lastIndex = status.lastIndex;
      return {
        leaderId: status.lead === 0 ? null : status.lead,
        term: status.term,
        commitIndex: status.commit,
        voters: options.voters.map((v) => {
          const progress = status.progress?.get(v.nodeId as never);
          const logEndIndex = v.nodeId === status.id ? lastIndex : (progress?.match ?? 0);
          const heard = node.raft.msSinceHeardFrom(v.nodeId as NodeId);
          return {
            nodeId: v.nodeId,
            logEndIndex,
            lag: Math.max(0, lastIndex - logEndIndex),
            lastContactMsAgo: heard === undefined ? null : heard,
          };
        }),
      };
    }),
  );

  app.get(Routes.clusterHealth, async () => clusterHealth(controller.image, controller.activeControllerId));

  app.get(Routes.brokers, async () => ({ brokers: controller.image.brokers().map(describeBroker) }));
  app.get(Routes.broker, async (request) => {
    const { brokerId } = parseParams(BrokerParamsSchema, request);
    const broker = controller.image.broker(brokerId);
    if (broker === undefined)
      throw new MillraceError('BROKER_ID_NOT_REGISTERED', `Broker ${brokerId} is not registered.`);
    return describeBroker(broker);
  });

  app.get(Routes.topics, async () => ({ topics: (await controller.readImage()).topics().map(summarizeTopic) }));

  app.post(
    Routes.topics,
    { onRequest: auth },
    onActive(async (request, reply) => {
      const body = parseBody(CreateTopicRequestSchema, request);
      if (body.validateOnly) {
        const decision = createTopic(controller.image.clone(), body, context());
        return reply.code(200).send(describeTopic(controller.image, decision.result));
      }
      const topic = await controller.write((image) => createTopic(image, body, context()));
      return reply.code(201).send(describeTopic(controller.image, topic));
    }),
  );

  app.get(Routes.topic, async (request) => {
    const { topic } = parseParams(TopicParamsSchema, request);
    const image = await controller.readImage();
    const state = image.topicByName(topic);
    if (state === undefined) throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${topic}" does not exist.`);
    return describeTopic(image, state);
  });

  app.delete(
    Routes.topic,
    { onRequest: auth },
    onActive(async (request) => {
      const { topic } = parseParams(TopicParamsSchema, request);
      const removed = await controller.write((image) => deleteTopic(image, topic));
      return { name: removed.name, topicId: removed.topicId };
    }),
  );

  app.post(
    Routes.topicPartitions,
    { onRequest: auth },
    onActive(async (request) => {
      const { topic } = parseParams(TopicParamsSchema, request);
      const body = parseBody(CreatePartitionsRequestSchema, request);
      if (body.validateOnly) {
        const decision = createPartitions(controller.image.clone(), topic, body.totalCount, context());
        return describeTopic(controller.image, decision.result);
      }
      const grown = await controller.write((image) => createPartitions(image, topic, body.totalCount, context()));
      return describeTopic(controller.image, grown);
    }),
  );

  app.get(Routes.topicConfigs, async (request) => {
    const { topic } = parseParams(TopicParamsSchema, request);
    const image = await controller.readImage();
    if (image.topicByName(topic) === undefined) {
      throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${topic}" does not exist.`);
    }
    return { configs: image.describeTopicConfigs(topic) };
  });

  app.patch(
    Routes.topicConfigs,
    { onRequest: auth },
    onActive(async (request) => {
      const { topic } = parseParams(TopicParamsSchema, request);
      const body = parseBody(AlterConfigsRequestSchema, request);
      const change = { ...(body.set && { set: body.set }), ...(body.delete && { delete: body.delete }) };
      if (body.validateOnly) alterConfigs(controller.image.clone(), { type: 'topic', name: topic }, change);
      else await controller.write((image) => alterConfigs(image, { type: 'topic', name: topic }, change));
      return { configs: controller.image.describeTopicConfigs(topic) };
    }),
  );

  app.get(Routes.clusterConfigs, async () => ({ configs: (await controller.readImage()).describeClusterConfigs() }));

  app.patch(
    Routes.clusterConfigs,
    { onRequest: auth },
    onActive(async (request) => {
      const body = parseBody(AlterConfigsRequestSchema, request);
      const change = { ...(body.set && { set: body.set }), ...(body.delete && { delete: body.delete }) };
      if (body.validateOnly) alterConfigs(controller.image.clone(), { type: 'cluster' }, change);
      else await controller.write((image) => alterConfigs(image, { type: 'cluster' }, change));
      return { configs: controller.image.describeClusterConfigs() };
    }),
  );

  app.post(
    Routes.preferredElection,
    { onRequest: auth },
    onActive(async (request) => {
      const body = parseBody(PreferredElectionRequestSchema, request);
      const results = await controller.write((image) => electPreferredLeaders(image, body.partitions));
      return { results };
    }),
  );
}
