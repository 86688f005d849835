export * from './metadata/decisions.js';
export { buildPartitionChange, type PartitionChangeOptions } from './metadata/partition-change.js';
export { type PlacementBroker, type PlacementRequest, placeReplicas } from './metadata/placement.js';
