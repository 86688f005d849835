export { ControllerClient, type ControllerClientOptions } from './cluster/controller-client.js';
export { BrokerLifecycle, type BrokerState, type LifecycleOptions } from './cluster/lifecycle.js';
export { type MetadataChange, MetadataFollower, type MetadataFollowerOptions } from './cluster/metadata-follower.js';
export { BROKER_USAGE, type BrokerConfig, BrokerConfigSchema, loadBrokerConfig } from './config.js';
export * from './log/index.js';
export { type FollowerProgress, LeaderReplicationState, type LeaderStateInit } from './replication/leader-state.js';
