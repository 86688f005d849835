/**
 * Names shared by every Millrace server and client: content types, headers and routes. Servers
 * and clients import these rather than spelling paths twice.
 */
export const ContentType = {
  json: 'application/json',
  /** A frame: JSON header plus raw sections (see framing.ts). */
  frame: 'application/vnd.millrace.frame',
  /** One JSON object per line: the metadata stream. */
  ndjson: 'application/x-ndjson',
} as const;

export const Headers = {
  /** Calls between nodes carry the cluster's shared secret here; refused without it. */
  clusterSecret: 'x-millrace-cluster-secret',
  /** Admin writes and (when enabled) client calls carry `Bearer <token>`. */
  authorization: 'authorization',
} as const;

export const Routes = {
  health: '/health',
  metrics: '/metrics',
  // Admin API (controllers and brokers).
  cluster: '/v1/cluster',
  clusterQuorum: '/v1/cluster/quorum',
  clusterHealth: '/v1/cluster/health',
  clusterConfigs: '/v1/cluster/configs',
  brokers: '/v1/brokers',
  broker: '/v1/brokers/:brokerId',
  topics: '/v1/topics',
  topic: '/v1/topics/:topic',
  topicPartitions: '/v1/topics/:topic/partitions',
  topicConfigs: '/v1/topics/:topic/configs',
  preferredElection: '/v1/elections/preferred',
  // Clients' API (brokers).
  metadata: '/v1/metadata',
  produce: '/v1/produce',
  fetch: '/v1/fetch',
  listOffsets: '/v1/list-offsets',
  initProducerId: '/v1/producer-id',
  // Consumer groups (brokers; all but the lookup go to the group's coordinator).
  findCoordinator: '/v1/groups/coordinator',
  groupHeartbeat: '/v1/groups/heartbeat',
  offsetCommit: '/v1/groups/offsets/commit',
  offsetFetch: '/v1/groups/offsets/fetch',
  groups: '/v1/groups',
  describeGroup: '/v1/groups/describe',
  deleteGroup: '/v1/groups/delete',
  // Between nodes.
  brokerRegister: '/v1/brokers/register',
  brokerHeartbeat: '/v1/brokers/heartbeat',
  alterPartition: '/v1/alter-partition',
  allocateProducerIds: '/v1/producer-ids',
  createInternalTopic: '/v1/internal-topics',
  metadataStream: '/v1/metadata/stream',
  replicaFetch: '/v1/replica-fetch',
  offsetsForLeaderEpoch: '/v1/offsets-for-leader-epoch',
  raft: '/v1/raft',
} as const;
