import { MetadataImage } from '@millrace/metadata';
import { CreateTopicRequestSchema, type MetadataRecord } from '@millrace/protocol';
import { createTopic, type Decision, type DecisionContext, heartbeat, registerBroker } from '../src/index.js';

/** A small seeded PRNG (mulberry32): tests are reproducible from their seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function testContext(seed = 1): DecisionContext {
  const random = seededRandom(seed);
  let topics = 0;
  return {
    random,
    newTopicId: () => {
      topics++;
      return `00000000-0000-4000-8000-${topics.toString(16).padStart(12, '0')}`;
    },
  };
}

export const CLUSTER_ID = 'test-cluster';

export function incarnation(brokerId: number, generation = 0): string {
  return `00000000-0000-4000-9000-${(brokerId * 1000 + generation).toString(16).padStart(12, '0')}`;
}

/** Applies a decision's records to the image at consecutive offsets, as the log would. */
export function commit<T>(image: MetadataImage, decision: Decision<T>): T {
  for (const record of decision.records) image.applyUnchecked(image.offset + 1, record);
  return decision.result;
}

export function apply(image: MetadataImage, records: readonly MetadataRecord[]): void {
  for (const record of records) image.applyUnchecked(image.offset + 1, record);
}

/** Registers brokers (with racks if given) and unfences them as a caught-up heartbeat would. */
export function clusterWith(brokerIds: readonly number[], racks?: readonly string[]): MetadataImage {
  const image = new MetadataImage();
  brokerIds.forEach((brokerId, i) => {
    commit(
      image,
      registerBroker(
        image,
        {
          clusterId: CLUSTER_ID,
          brokerId,
          incarnationId: incarnation(brokerId),
          endpoint: { host: '127.0.0.1', port: 9000 + brokerId },
          rack: racks?.[i] ?? null,
        },
        { clusterId: CLUSTER_ID, sessionAlive: () => false },
      ),
    );
  });
  for (const broker of image.brokers()) {
    commit(image, heartbeat(image, beat(image, broker.brokerId)));
  }
  return image;
}

export function beat(
  image: MetadataImage,
  brokerId: number,
  overrides: Partial<{ wantFence: boolean; wantShutDown: boolean; metadataOffset: number }> = {},
) {
  const broker = image.broker(brokerId);
  if (broker === undefined) throw new Error(`no broker ${brokerId}`);
  return {
    brokerId,
    brokerEpoch: broker.brokerEpoch,
    metadataOffset: overrides.metadataOffset ?? image.offset,
    wantFence: overrides.wantFence ?? false,
    wantShutDown: overrides.wantShutDown ?? false,
  };
}

export function create(image: MetadataImage, request: unknown, context = testContext()) {
  return commit(image, createTopic(image, CreateTopicRequestSchema.parse(request), context));
}
