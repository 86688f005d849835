/**
 * A stub broker for the SDK benchmark (sdk.bench.ts starts it in a child process, so that it does
 * not share the SDK's event loop). It is the real server stack (@millrace/http's fastify over h2c)
 * with the cheapest possible work behind each route, so that what the benchmark measures is the
 * SDK, not a broker:
 *   - POST /v1/metadata: one broker (itself), every topic asked for with PARTITIONS partitions,
 *     all led by itself;
 *   - POST /v1/producer-id: a fixed id and epoch;
 *   - POST /v1/produce: the frame decoded (header checked by its schema, sections sliced), each
 *     batch's header read for its record count, and each partition answered with the next base
 *     offset of a per-partition counter. Nothing is stored and no CRC is computed. Idempotent
 *     batches are checked for gap-free sequences, so a benchmark run also checks the SDK's
 *     numbering; gaps are counted, not refused;
 *   - POST /v1/list-offsets: 0 for every partition;
 *   - POST /v1/fetch: for each partition, copies of one pre-encoded batch of FETCH_RECORDS
 *     records of FETCH_VALUE_BYTES random bytes, up to the partition's byte limit (always at
 *     least one batch), each copy given the base offset that continues from the fetch offset;
 *   - GET /stub/stats: what it has seen, as JSON.
 *
 *   node --import tsx bench/stub-broker.ts <port> <partitions> <fetchValueBytes> <fetchRecords>
 *
 * It prints `listening <port>` once it listens, and exits on SIGTERM.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, frameBody, listen } from '@millrace/http';
import {
  ContentType,
  decodeProduceRequest,
  encodeFetchResponse,
  encodeRecordBatch,
  type FetchRequest,
  type FetchResponse,
  type ListOffsetsRequest,
  type MetadataRequest,
  type ProduceResponse,
  Routes,
  readRecordBatchHeader,
  setBaseOffset,
  splitRecordBatches,
} from '@millrace/protocol';

const [portText, partitionsText, valueBytesText, recordsText] = process.argv.slice(2);
const PORT = Number(portText);
const PARTITIONS = Number(partitionsText ?? 6);
const FETCH_VALUE_BYTES = Number(valueBytesText ?? 1024);
const FETCH_RECORDS = Number(recordsText ?? 63);
for (const [name, value] of Object.entries({ PORT, PARTITIONS, FETCH_VALUE_BYTES, FETCH_RECORDS })) {
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`stub broker: ${name} must be a positive integer`);
}

const HOST = '127.0.0.1';
const BROKER_ID = 1;
const PRODUCER_ID = '4242';

const stats = {
  produceRequests: 0,
  producedBatches: 0,
  producedRecords: 0,
  producedBytes: 0,
  /**
   * Idempotent batches whose base sequence did not continue the partition's last batch: the
   * producer numbered them wrongly, or they were handled in another order than sent (requests
   * on one HTTP/2 connection are handled as their bodies complete). `sequenceHoles` tells the two
   * apart: sequences missing or repeated once every batch has arrived.
   */
  sequencesOutOfOrder: 0,
  fetchRequests: 0,
  fetchedBytes: 0,
};

/** The next offset per topic-partition, for produce answers. */
const logEndOffsets = new Map<string, bigint>();
/** The next expected sequence per topic-partition (idempotent producers). */
const nextSequences = new Map<string, number>();
/** Every idempotent batch's [baseSequence, recordCount] per topic-partition, to look for holes. */
const sequenceRanges = new Map<string, [number, number][]>();

/** Sequences missing or repeated, over every partition, once the batches are put in order. */
function sequenceHoles(): number {
  let holes = 0;
  for (const ranges of sequenceRanges.values()) {
    ranges.sort((a, b) => a[0] - b[0]);
    let next = 0;
    for (const [base, count] of ranges) {
      if (base !== next) holes++;
      next = base + count;
    }
  }
  return holes;
}
const topicIds = new Map<string, string>();

const template = encodeRecordBatch({
  records: Array.from({ length: FETCH_RECORDS }, () => ({ key: null, value: randomBytes(FETCH_VALUE_BYTES) })),
});

/** Whole copies of the template from `fetchOffset` on, at most `maxBytes` (at least one batch). */
function batchesFrom(fetchOffset: bigint, maxBytes: number): Buffer {
  const count = Math.max(1, Math.floor(maxBytes / template.length));
  const out = Buffer.allocUnsafe(count * template.length);
  for (let i = 0; i < count; i++) {
    const at = i * template.length;
    template.copy(out, at);
    setBaseOffset(out.subarray(at, at + template.length), fetchOffset + BigInt(i * FETCH_RECORDS));
  }
  return out;
}

const app = createServer({ logger: false, bodyLimitBytes: 256 * 1024 * 1024 });

app.post(Routes.metadata, async (request) => {
  const body = request.body as MetadataRequest;
  const names = body.topics ?? [...topicIds.keys()];
  return {
    clusterId: 'stub',
    brokerId: BROKER_ID,
    controllerId: null,
    brokers: [{ brokerId: BROKER_ID, endpoint: { host: HOST, port: PORT }, rack: null }],
    topics: names.map((name) => {
      let topicId = topicIds.get(name);
      if (topicId === undefined) {
        topicId = randomUUID();
        topicIds.set(name, topicId);
      }
      return {
        name,
        topicId,
        partitions: Array.from({ length: PARTITIONS }, (_, partition) => ({
          partition,
          leader: BROKER_ID,
          leaderEpoch: 0,
          replicas: [BROKER_ID],
          isr: [BROKER_ID],
          offlineReplicas: [],
        })),
      };
    }),
    metadataOffset: 0,
  };
});

app.post(Routes.initProducerId, async () => ({ producerId: PRODUCER_ID, producerEpoch: 0 }));

app.post(Routes.produce, async (request): Promise<ProduceResponse> => {
  const produce = decodeProduceRequest(frameBody(request));
  stats.produceRequests++;
  return {
    topics: produce.topics.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map(({ partition, records }) => {
        const key = `${topic}\u0000${partition}`;
        const baseOffset = logEndOffsets.get(key) ?? 0n;
        let count = 0;
        for (const batch of splitRecordBatches(records)) {
          const header = readRecordBatchHeader(batch);
          if (header.producerId >= 0n) {
            const expected = nextSequences.get(key) ?? 0;
            if (header.baseSequence !== expected) stats.sequencesOutOfOrder++;
            nextSequences.set(key, (header.baseSequence + header.recordCount) % 0x80000000);
            let ranges = sequenceRanges.get(key);
            if (ranges === undefined) {
              ranges = [];
              sequenceRanges.set(key, ranges);
            }
            ranges.push([header.baseSequence, header.recordCount]);
          }
          count += header.recordCount;
          stats.producedBatches++;
        }
        stats.producedRecords += count;
        stats.producedBytes += records.length;
        logEndOffsets.set(key, baseOffset + BigInt(count));
        return { partition, baseOffset: baseOffset.toString(), logAppendTimeMs: -1, logStartOffset: '0' };
      }),
    })),
  };
});

app.post(Routes.listOffsets, async (request) => {
  const body = request.body as ListOffsetsRequest;
  return {
    topics: body.topics.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map(({ partition }) => ({ partition, offset: '0', timestampMs: -1, leaderEpoch: 0 })),
    })),
  };
});

app.post(Routes.fetch, async (request, reply) => {
  const body = request.body as FetchRequest;
  stats.fetchRequests++;
  let budget = body.maxBytes;
  const response: FetchResponse = {
    topics: body.topics.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map(({ partition, fetchOffset, partitionMaxBytes }) => {
        const from = BigInt(fetchOffset);
        const records = batchesFrom(from, Math.min(partitionMaxBytes, Math.max(0, budget)));
        budget -= records.length;
        stats.fetchedBytes += records.length;
        const end = from + BigInt((records.length / template.length) * FETCH_RECORDS);
        return { partition, highWatermark: end.toString(), logStartOffset: '0', records };
      }),
    })),
  };
  return reply.type(ContentType.frame).send(encodeFetchResponse(response));
});

app.get('/stub/stats', async () => ({ ...stats, sequenceHoles: sequenceHoles() }));

await listen(app, { host: HOST, port: PORT });
process.stdout.write(`listening ${PORT}\n`);
process.once('SIGTERM', () => {
  void app.close().finally(() => process.exit(0));
});
