export {
  HttpRaftTransport,
  type HttpRaftTransportOptions,
  type RaftRouteOptions,
  registerRaftRoute,
} from './http-transport.js';
export { LevelRaftStorage, type OpenLevelStorageOptions } from './level-storage.js';
export { type LeaderChange, RaftNode, type RaftNodeOptions, type StateMachine } from './node.js';
export { LocalNetwork, type RaftMessageSink, type RaftTransport } from './transport.js';
export { type DecodeRaftFrameExpectations, decodeRaftFrame, encodeRaftFrame } from './wire.js';
