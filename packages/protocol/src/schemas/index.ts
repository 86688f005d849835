export * from './admin.js';
export * from './client.js';
export * from './cluster.js';
export * from './common.js';
export * from './configs.js';
export * from './groups.js';
export * from './metadata-records.js';
export * from './raft.js';
