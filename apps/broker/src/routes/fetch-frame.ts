import { type FetchResponse, FRAME_MAGIC, FRAME_VERSION } from '@millrace/protocol';

type FetchPartition = FetchResponse['topics'][number]['partitions'][number];

/** A fetch response whose partitions carry their batches as read, not yet joined into one section. */
export type BatchedFetchResponse = Omit<FetchResponse, 'topics'> & {
  topics: {
    topic: string;
    partitions: (Omit<FetchPartition, 'records'> & { readonly records: readonly Buffer[] })[];
  }[];
};

/**
 * The bytes `encodeFetchResponse` (packages/protocol) gives for the same response with each
 * partition's batches joined into its section, built with one copy of each batch. Joining
 * first and then framing copied every batch twice, and the broker sends every byte it stores
 * to each follower and to consumers: a copy per byte is garbage that the collector pays for.
 * The frame layout is protocol's (framing.ts); test/server/fetch-frame.test.ts holds the two
 * encoders to the same bytes.
 */
export function encodeFetchFrame(response: BatchedFetchResponse): Buffer {
  const sections: (readonly Buffer[])[] = [];
  const topics = response.topics.map(({ topic, partitions }) => ({
    topic,
    partitions: partitions.map(({ records, ...partition }) => {
      sections.push(records);
      return partition;
    }),
  }));
  const header = Buffer.from(JSON.stringify({ ...response, topics }), 'utf8');
  let total = PREFIX_BYTES + header.length + 4 + 4 * sections.length;
  for (const batches of sections) for (const batch of batches) total += batch.length;
  const out = Buffer.allocUnsafe(total);
  let at = out.writeUInt16BE(FRAME_MAGIC, 0);
  at = out.writeUInt8(FRAME_VERSION, at);
  at = out.writeUInt32BE(header.length, at);
  at += header.copy(out, at);
  at = out.writeUInt32BE(sections.length, at);
  for (const batches of sections) {
    let length = 0;
    for (const batch of batches) length += batch.length;
    at = out.writeUInt32BE(length, at);
  }
  for (const batches of sections) {
    for (const batch of batches) {
      out.set(batch, at);
      at += batch.length;
    }
  }
  if (at !== total) throw new Error(`invariant broken: a fetch frame of ${total} bytes was written to ${at}`);
  return out;
}

/** Magic (2 bytes), version (1), header length (4). */
const PREFIX_BYTES = 7;
