import { requestFrame, requestJson, sendFrame } from '@millrace/http';
import {
  type Acks,
  decodeFetchResponse,
  decodeRecordBatch,
  encodeProduceRequest,
  encodeRecordBatch,
  ListOffsetsResponseSchema,
  MetadataResponseSchema,
  ProduceResponseSchema,
  Routes,
  splitRecordBatches,
} from '@millrace/protocol';
import type { Client } from 'undici';

/** The clients' API as tests call it: one request each, on a given connection to a broker. */

export function metadata(client: Client, topics?: string[]) {
  return requestJson(client, {
    method: 'POST',
    path: Routes.metadata,
    body: topics === undefined ? {} : { topics },
    responseSchema: MetadataResponseSchema,
    timeoutMs: 5000,
  });
}

export interface ProduceOptions {
  readonly acks?: Acks;
  readonly partition?: number;
  readonly timeoutMs?: number;
  readonly leaderEpoch?: number;
}

/** Produces `values` as one batch; the partition's answer. */
export async function produce(client: Client, topic: string, values: string[], options: ProduceOptions = {}) {
  const batch = encodeRecordBatch({ records: values.map((value) => ({ value })) });
  const body = encodeProduceRequest({
    acks: options.acks ?? 'all',
    timeoutMs: options.timeoutMs ?? 5000,
    topics: [
      {
        topic,
        partitions: [
          {
            partition: options.partition ?? 0,
            records: batch,
            ...(options.leaderEpoch === undefined ? {} : { leaderEpoch: options.leaderEpoch }),
          },
        ],
      },
    ],
  });
  const answer = await sendFrame(client, {
    path: Routes.produce,
    body,
    responseSchema: ProduceResponseSchema,
    timeoutMs: (options.timeoutMs ?? 5000) + 10_000,
  });
  return answer.topics[0]?.partitions[0];
}

export interface FetchOptions {
  readonly partition?: number;
  readonly maxWaitMs?: number;
  readonly minBytes?: number;
  readonly currentLeaderEpoch?: number;
}

/** One fetch of one partition, with the records decoded. */
export async function fetch(client: Client, topic: string, fetchOffset: bigint, options: FetchOptions = {}) {
  const body = Buffer.from(
    JSON.stringify({
      maxWaitMs: options.maxWaitMs ?? 0,
      minBytes: options.minBytes ?? 1,
      maxBytes: 10 * 1024 * 1024,
      topics: [
        {
          topic,
          partitions: [
            {
              partition: options.partition ?? 0,
              fetchOffset: fetchOffset.toString(),
              partitionMaxBytes: 1024 * 1024,
              ...(options.currentLeaderEpoch === undefined ? {} : { currentLeaderEpoch: options.currentLeaderEpoch }),
            },
          ],
        },
      ],
    }),
  );
  const bytes = await requestFrame(client, {
    path: Routes.fetch,
    body,
    bodyType: 'json',
    timeoutMs: (options.maxWaitMs ?? 0) + 10_000,
  });
  const partition = decodeFetchResponse(bytes).topics[0]?.partitions[0];
  if (partition === undefined) throw new Error('no partition in the fetch answer');
  const records = splitRecordBatches(partition.records).flatMap((batch) => decodeRecordBatch(batch).records);
  return {
    ...partition,
    values: records.map((r) => ({ offset: r.offset, value: r.value?.toString('utf8') ?? null })),
  };
}

/** Every record of a partition up to its high watermark. */
export async function readAll(client: Client, topic: string, partition = 0) {
  const values: { offset: bigint; value: string | null }[] = [];
  let offset = 0n;
  for (;;) {
    const answer = await fetch(client, topic, offset, { partition });
    if (answer.error !== undefined) throw new Error(`fetch failed: ${answer.error.code} ${answer.error.message}`);
    const fresh = answer.values.filter((v) => v.offset >= offset);
    if (fresh.length === 0) return values;
    values.push(...fresh);
    offset = (values[values.length - 1]?.offset ?? -1n) + 1n;
  }
}

export function listOffsets(client: Client, topic: string, spec: unknown, partition = 0) {
  return requestJson(client, {
    method: 'POST',
    path: Routes.listOffsets,
    body: { topics: [{ topic, partitions: [{ partition, spec }] }] },
    responseSchema: ListOffsetsResponseSchema,
    timeoutMs: 5000,
  });
}
