import { type AuthHook, type MillraceServer, parseBody } from '@millrace/http';
import type { MetadataImage } from '@millrace/metadata';
import {
  DeleteGroupRequestSchema,
  DescribeGroupRequestSchema,
  type DescribeGroupResponse,
  FindCoordinatorRequestSchema,
  type FindCoordinatorResponse,
  GroupHeartbeatRequestSchema,
  type GroupHeartbeatResponse,
  type ListGroupsResponse,
  OffsetCommitRequestSchema,
  OffsetFetchRequestSchema,
  type OffsetFetchResponse,
  offsetToJson,
  Routes,
} from '@millrace/protocol';
import type { GroupCoordinator } from '../groups/coordinator.js';
import type { CommittedOffset } from '../groups/group-store.js';
import { LONG_REQUEST_TIMEOUT_MS, whileConnected } from './common.js';

export interface GroupRoutesOptions {
  readonly coordinator: GroupCoordinator;
  readonly readyImage: () => MetadataImage;
  /** Set when clients must present a token: group calls are clients' calls. */
  readonly auth: AuthHook | undefined;
}

/**
 * Consumer groups: the coordinator lookup on any broker; heartbeats, commits, offset fetches and
 * the groups' admin calls on the group's coordinator (elsewhere NOT_COORDINATOR, naming it).
 * They sit behind the clients' token, as Kafka's group ACLs are separate from the cluster's: a
 * member commits its own offsets, and resetting an empty group's offsets is the same call.
 */
export function registerGroupRoutes(app: MillraceServer, options: GroupRoutesOptions): void {
  const { coordinator } = options;
  const onRequest = options.auth === undefined ? [] : [options.auth];

  app.post(Routes.findCoordinator, { onRequest }, async (request): Promise<FindCoordinatorResponse> => {
    const { groupId } = parseBody(FindCoordinatorRequestSchema, request);
    return { groupId, ...coordinator.findCoordinator(groupId) };
  });

  app.post(
    Routes.groupHeartbeat,
    { onRequest, handlerTimeout: LONG_REQUEST_TIMEOUT_MS },
    async (request): Promise<GroupHeartbeatResponse> => {
      const body = parseBody(GroupHeartbeatRequestSchema, request);
      return whileConnected(request.raw, (signal) =>
        coordinator.heartbeat(
          {
            groupId: body.groupId,
            memberId: body.memberId,
            memberEpoch: body.memberEpoch,
            subscribedTopicNames: body.subscribedTopicNames,
            rebalanceTimeoutMs: body.rebalanceTimeoutMs,
            ownedPartitions: body.ownedPartitions,
            clientId:
              body.clientId ??
              (typeof request.headers['x-millrace-client-id'] === 'string'
                ? request.headers['x-millrace-client-id']
                : undefined),
            clientHost: request.ip,
            noWait: body.noWait,
          },
          signal,
        ),
      );
    },
  );

  app.post(Routes.offsetCommit, { onRequest }, async (request) => {
    const body = parseBody(OffsetCommitRequestSchema, request);
    const committed = await coordinator.commitOffsets({
      groupId: body.groupId,
      memberId: body.memberId,
      memberEpoch: body.memberEpoch,
      offsets: body.topics.flatMap(({ topic, partitions }) =>
        partitions.map((p) => ({
          topic,
          partition: p.partition,
          offset: p.offset,
          leaderEpoch: p.leaderEpoch,
          metadata: p.metadata,
        })),
      ),
    });
    return { committed };
  });

  app.post(Routes.offsetFetch, { onRequest }, async (request): Promise<OffsetFetchResponse> => {
    const body = parseBody(OffsetFetchRequestSchema, request);
    const partitions = body.topics?.flatMap(({ topic, partitions }) =>
      partitions.map((partition) => ({ topic, partition })),
    );
    const offsets = await coordinator.fetchOffsets(body.groupId, partitions);
    return { groupId: body.groupId, offsets: offsets.map(offsetToWire) };
  });

  app.get(Routes.groups, { onRequest }, async (): Promise<ListGroupsResponse> => {
    options.readyImage();
    return { groups: coordinator.listGroups() };
  });

  app.post(Routes.describeGroup, { onRequest }, async (request): Promise<DescribeGroupResponse> => {
    const { groupId } = parseBody(DescribeGroupRequestSchema, request);
    const { description, offsets } = await coordinator.describeGroup(groupId);
    const image = options.readyImage();
    const named = (list: readonly { topicId: string; partitions: readonly number[] }[]) =>
      list.map(({ topicId, partitions }) => ({
        topicId,
        topic: image.topicById(topicId)?.name ?? null,
        partitions: [...partitions],
      }));
    return {
      groupId,
      state: description.state,
      groupEpoch: description.groupEpoch,
      assignmentEpoch: description.assignmentEpoch,
      members: description.members.map((member) => ({
        memberId: member.memberId,
        clientId: member.clientId,
        clientHost: member.clientHost,
        memberEpoch: member.memberEpoch,
        state: member.state,
        subscribedTopicNames: [...member.subscribedTopicNames],
        assignment: named(member.assigned),
        pendingRevocation: named(member.pendingRevocation),
        target: named(member.target),
      })),
      offsets: offsets.map(offsetToWire),
    };
  });

  app.post(Routes.deleteGroup, { onRequest }, async (request) => {
    const { groupId } = parseBody(DeleteGroupRequestSchema, request);
    await coordinator.deleteGroup(groupId);
    return { groupId, deleted: true };
  });
}

/** Offsets travel as decimal strings. */
function offsetToWire(offset: CommittedOffset) {
  return { ...offset, offset: offsetToJson(offset.offset) };
}
