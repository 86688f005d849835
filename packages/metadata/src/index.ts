export {
  type BrokerRegistration,
  type ConfigSource,
  type EffectiveConfig,
  isKnownConfig,
  MetadataImage,
  type PartitionState,
  type TopicState,
} from './image.js';
