export { type ControllerConfig, ControllerConfigSchema, loadControllerConfig } from './config.js';
export { Controller, type ControllerDeps, type ControllerSettings } from './controller.js';
export { Forwarder } from './forward.js';
export * from './metadata/decisions.js';
export { buildPartitionChange, type PartitionChangeOptions } from './metadata/partition-change.js';
export { type PlacementBroker, type PlacementRequest, placeReplicas } from './metadata/placement.js';
export { type ControllerNode, type ControllerNodeOptions, openControllerNode } from './node.js';
export { buildServer, type ServerDeps } from './server.js';
