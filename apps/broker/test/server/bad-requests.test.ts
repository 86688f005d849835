import {
  ContentType,
  decodeFetchResponse,
  ErrorBodySchema,
  type ErrorCode,
  encodeProduceRequest,
  encodeRecordBatch,
  FRAME_MAGIC,
  FRAME_VERSION,
  Headers,
  OffsetsForLeaderEpochResponseSchema,
  ProduceResponseSchema,
  Routes,
} from '@millrace/protocol';
import type { Client } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, type BrokerCluster, SECRET, startCluster, waitFor } from '../cluster/brokers.js';

/**
 * DESIGN.md decision 8 and "every bad request is refused with an error; none corrupts state or
 * stops a node", checked against a running three-broker cluster over the real wire. Each case
 * sends one bad request, asserts the HTTP status and the catalogue code, and then (afterEach)
 * that the partition's log is exactly what it was and every broker still serves.
 */

const TOPIC = 'orders';
/** Produce bodies above this are refused whole (the broker's maxRequestBytes). */
const MAX_REQUEST_BYTES = 4096;
const json = { 'content-type': ContentType.json };
const frame = { 'content-type': ContentType.frame };
const secret = { ...json, [Headers.clusterSecret]: SECRET };

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

interface RawRequest {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

/** One request exactly as given (no client-side checks), and its whole answer. */
async function send(client: Client, request: RawRequest): Promise<Answer> {
  const response = await client.request({
    method: request.method ?? 'POST',
    path: request.path,
    headers: request.headers ?? {},
    body: request.body,
    signal: AbortSignal.timeout(10_000),
  });
  const body = Buffer.from(await response.body.arrayBuffer());
  return { status: response.statusCode, headers: response.headers, body };
}

/** The answer is the catalogue error body with this status and code (and a message naming the problem). */
function expectRefused(answer: Answer, status: number, code: ErrorCode, message?: RegExp) {
  const text = answer.body.toString('utf8');
  expect(answer.status, text).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  const { error } = ErrorBodySchema.parse(JSON.parse(text));
  expect(error.code, text).toBe(code);
  if (message !== undefined) expect(error.message).toMatch(message);
  return error;
}

/** A frame with every field under the caller's control, so that its lengths can lie. */
function rawFrame(parts: {
  readonly magic?: number;
  readonly version?: number;
  readonly header: string;
  readonly headerLength?: number;
  readonly sectionCount?: number;
  readonly lengths: readonly number[];
  readonly payload: Buffer;
}): Buffer {
  const header = Buffer.from(parts.header, 'utf8');
  const prefix = Buffer.alloc(7);
  prefix.writeUInt16BE(parts.magic ?? FRAME_MAGIC, 0);
  prefix.writeUInt8(parts.version ?? FRAME_VERSION, 2);
  prefix.writeUInt32BE(parts.headerLength ?? header.length, 3);
  const lengths = Buffer.alloc(4 + 4 * parts.lengths.length);
  lengths.writeUInt32BE(parts.sectionCount ?? parts.lengths.length, 0);
  for (const [i, length] of parts.lengths.entries()) lengths.writeUInt32BE(length, 4 + 4 * i);
  return Buffer.concat([prefix, header, lengths, parts.payload]);
}

const batchOf = (...values: string[]) => encodeRecordBatch({ records: values.map((value) => ({ value })) });
const goodHeader = { acks: 'all', timeoutMs: 5000, topics: [{ topic: TOPIC, partitions: [{ partition: 0 }] }] };

/** A produce frame whose header is `header` (any JSON) and whose one section is a valid batch. */
function produceWithHeader(header: unknown): Buffer {
  const batch = batchOf('never');
  return rawFrame({ header: JSON.stringify(header), lengths: [batch.length], payload: batch });
}

function producePartition(header: Record<string, unknown>): Buffer {
  return produceWithHeader({ ...goodHeader, topics: [{ topic: TOPIC, partitions: [{ partition: 0, ...header }] }] });
}

/** A fetch body for `TOPIC`-0, with the partition's fields and the request's fields overridden. */
function fetchBody(partition: Record<string, unknown> = {}, request: Record<string, unknown> = {}): string {
  return JSON.stringify({
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 1024 * 1024,
    topics: [
      { topic: TOPIC, partitions: [{ partition: 0, fetchOffset: '0', partitionMaxBytes: 65_536, ...partition }] },
    ],
    ...request,
  });
}

const listOffsetsBody = (partition: Record<string, unknown>) =>
  JSON.stringify({ topics: [{ topic: TOPIC, partitions: [{ partition: 0, spec: 'latest', ...partition }] }] });

interface BadCase {
  readonly name: string;
  readonly request: RawRequest;
  readonly status: number;
  readonly code: ErrorCode;
  readonly message?: RegExp;
}

const routingCases: BadCase[] = [
  {
    name: 'GET on a POST route',
    request: { method: 'GET', path: Routes.fetch },
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
    message: /use POST/,
  },
  {
    name: 'PUT with a body on a POST route',
    request: { method: 'PUT', path: Routes.produce, headers: frame, body: produceWithHeader(goodHeader) },
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
  },
  {
    name: 'DELETE on the metadata route',
    request: { method: 'DELETE', path: Routes.metadata },
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
  },
  {
    name: 'an unknown route',
    request: { path: '/v1/fetches', headers: json, body: fetchBody() },
    status: 404,
    code: 'NOT_FOUND',
  },
  { name: 'an unversioned route', request: { method: 'GET', path: '/fetch' }, status: 404, code: 'NOT_FOUND' },
  {
    name: 'a path that climbs out',
    request: { method: 'GET', path: '/v1/../../etc/passwd' },
    status: 404,
    code: 'NOT_FOUND',
  },
];

const jsonBodyCases: BadCase[] = [
  // Not JSON, or JSON that is not one object.
  {
    name: 'malformed JSON',
    request: { path: Routes.fetch, headers: json, body: '{"maxWaitMs": 0,' },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /not valid JSON/,
  },
  {
    name: 'an empty body',
    request: { path: Routes.fetch, headers: json, body: '' },
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'no body at all',
    request: { path: Routes.listOffsets, headers: json },
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'a JSON array',
    request: { path: Routes.fetch, headers: json, body: '[]' },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /JSON object, not an array/,
  },
  {
    name: 'a JSON string',
    request: { path: Routes.metadata, headers: json, body: '"orders"' },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /JSON object/,
  },
  {
    name: 'JSON null',
    request: { path: Routes.listOffsets, headers: json, body: 'null' },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /JSON object, not null/,
  },
  {
    name: 'a JSON number',
    request: { path: Routes.fetch, headers: json, body: '42' },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /JSON object/,
  },
  // Content types.
  {
    name: 'text/plain',
    request: { path: Routes.fetch, headers: { 'content-type': 'text/plain' }, body: fetchBody() },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: /text\/plain/,
  },
  {
    name: 'form encoding',
    request: {
      path: Routes.metadata,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'topics=orders',
    },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'a body without a content type',
    request: { path: Routes.listOffsets, body: listOffsetsBody({}) },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'a frame on a JSON route',
    request: { path: Routes.fetch, headers: frame, body: produceWithHeader(goodHeader) },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'JSON on the frame route',
    request: { path: Routes.produce, headers: json, body: JSON.stringify(goodHeader) },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'text/plain on the frame route',
    request: { path: Routes.produce, headers: { 'content-type': 'text/plain' }, body: 'MF' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  // Size.
  {
    name: 'a JSON body over 1 MiB',
    request: {
      path: Routes.metadata,
      headers: json,
      body: JSON.stringify({ topics: Array.from({ length: 5000 }, (_, i) => `t${i}-${'x'.repeat(240)}`) }),
    },
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: `a produce frame over maxRequestBytes (${MAX_REQUEST_BYTES})`,
    request: {
      path: Routes.produce,
      headers: frame,
      body: produceWithHeader({ ...goodHeader, pad: 'x'.repeat(5000) }),
    },
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: /4096/,
  },
  // Strict schemas: unknown fields and prototype keys.
  {
    name: 'an unknown top-level field',
    request: { path: Routes.fetch, headers: json, body: fetchBody({}, { isolationLevel: 'read_committed' }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /isolationLevel/,
  },
  {
    name: 'an unknown nested field',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ leaderEpoch: 0 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /leaderEpoch/,
  },
  {
    name: 'an unknown field on metadata',
    request: { path: Routes.metadata, headers: json, body: '{"topics":["orders"],"allowAutoTopicCreation":true}' },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /allowAutoTopicCreation/,
  },
  {
    name: 'a __proto__ key',
    request: { path: Routes.metadata, headers: json, body: '{"__proto__":{"topics":["orders"]}}' },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /__proto__/,
  },
  {
    name: 'a nested __proto__ key',
    request: {
      path: Routes.fetch,
      headers: json,
      body: fetchBody().replace('"partition":0', '"partition":0,"__proto__":{"isAdmin":true}'),
    },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /__proto__/,
  },
  {
    name: 'a __proto__ key spelt with \\u escapes',
    request: { path: Routes.listOffsets, headers: json, body: '{"\\u005f_proto__":{},"topics":[]}' },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /__proto__/,
  },
  {
    name: 'a constructor key',
    request: { path: Routes.fetch, headers: json, body: fetchBody({}, { constructor: { prototype: { x: 1 } } }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /constructor/,
  },
  // 64-bit offsets travel as decimal strings only.
  {
    name: 'fetchOffset as a JSON number',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ fetchOffset: 0 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /body\.topics\[0\]\.partitions\[0\]\.fetchOffset/,
  },
  {
    name: 'a negative fetchOffset',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ fetchOffset: '-1' }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /fetchOffset/,
  },
  {
    name: 'a hexadecimal fetchOffset',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ fetchOffset: '0x10' }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /fetchOffset/,
  },
  {
    name: 'a fetchOffset in exponent notation',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ fetchOffset: '1e3' }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /fetchOffset/,
  },
  {
    name: 'a fetchOffset with a leading zero',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ fetchOffset: '01' }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /fetchOffset/,
  },
  {
    name: 'a fetchOffset with spaces',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ fetchOffset: ' 1' }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /fetchOffset/,
  },
  {
    name: 'a fetchOffset past int64 (2^63)',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ fetchOffset: '9223372036854775808' }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /fetchOffset/,
  },
  {
    name: 'a fetchOffset of 20 digits',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ fetchOffset: '12345678901234567890' }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /fetchOffset/,
  },
  // Integers out of range or not integers.
  {
    name: 'partition -1',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ partition: -1 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /body\.topics\[0\]\.partitions\[0\]\.partition/,
  },
  {
    name: 'partition 1.5',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ partition: 1.5 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /partition/,
  },
  {
    name: 'partition as a string',
    request: { path: Routes.listOffsets, headers: json, body: listOffsetsBody({ partition: '0' }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /partition/,
  },
  {
    name: 'partition past int32',
    request: { path: Routes.listOffsets, headers: json, body: listOffsetsBody({ partition: 2 ** 31 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /partition/,
  },
  {
    name: 'maxWaitMs above 300 s',
    request: { path: Routes.fetch, headers: json, body: fetchBody({}, { maxWaitMs: 300_001 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /body\.maxWaitMs/,
  },
  {
    name: 'a negative maxWaitMs',
    request: { path: Routes.fetch, headers: json, body: fetchBody({}, { maxWaitMs: -1 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /body\.maxWaitMs/,
  },
  {
    name: 'maxBytes 0',
    request: { path: Routes.fetch, headers: json, body: fetchBody({}, { maxBytes: 0 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /body\.maxBytes/,
  },
  {
    name: 'maxBytes as a float',
    request: { path: Routes.fetch, headers: json, body: fetchBody({}, { maxBytes: 1e3 + 0.5 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /body\.maxBytes/,
  },
  {
    name: 'partitionMaxBytes 0',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ partitionMaxBytes: 0 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /partitionMaxBytes/,
  },
  {
    name: 'a negative currentLeaderEpoch',
    request: { path: Routes.fetch, headers: json, body: fetchBody({ currentLeaderEpoch: -1 }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /currentLeaderEpoch/,
  },
  {
    name: 'no topics to fetch',
    request: { path: Routes.fetch, headers: json, body: fetchBody({}, { topics: [] }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /body\.topics/,
  },
  {
    name: 'a missing field',
    request: { path: Routes.fetch, headers: json, body: JSON.stringify({ maxWaitMs: 0, maxBytes: 1, topics: [] }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /body\.minBytes/,
  },
  {
    name: 'an unknown offset spec',
    request: { path: Routes.listOffsets, headers: json, body: listOffsetsBody({ spec: 'newest' }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /spec/,
  },
  {
    name: 'a negative timestamp spec',
    request: { path: Routes.listOffsets, headers: json, body: listOffsetsBody({ spec: { timestampMs: -5 } }) },
    status: 400,
    code: 'INVALID_REQUEST',
    message: /spec/,
  },
  // Topic names outside Kafka's rules.
  ...(
    [
      ['with a slash', 'a/b'],
      ['"."', '.'],
      ['".."', '..'],
      ['empty', ''],
      ['of 250 characters', 'x'.repeat(250)],
      ['with a space', 'or ders'],
      ['non-ASCII', 'ordérs'],
      ['with a NUL', 'a\u0000b'],
    ] as const
  ).flatMap(([what, name]): BadCase[] => [
    {
      name: `a topic name ${what} in metadata`,
      request: { path: Routes.metadata, headers: json, body: JSON.stringify({ topics: [name] }) },
      status: 400,
      code: 'INVALID_REQUEST',
      message: /body\.topics\[0\]/,
    },
    {
      name: `a topic name ${what} in fetch`,
      request: {
        path: Routes.fetch,
        headers: json,
        body: fetchBody({}).replace(`"topic":"${TOPIC}"`, `"topic":${JSON.stringify(name)}`),
      },
      status: 400,
      code: 'INVALID_REQUEST',
      message: /body\.topics\[0\]\.topic/,
    },
  ]),
];

const frameCases: BadCase[] = (
  [
    ['fewer bytes than the smallest frame', Buffer.from('MF\u0001'), /shorter than the smallest frame/],
    [
      'bad magic',
      rawFrame({ magic: 0x5858, header: JSON.stringify(goodHeader), lengths: [0], payload: Buffer.alloc(0) }),
      /magic 0x5858/,
    ],
    [
      'an unknown version',
      rawFrame({ version: 2, header: JSON.stringify(goodHeader), lengths: [0], payload: Buffer.alloc(0) }),
      /version 2/,
    ],
    [
      'a header length past the end',
      rawFrame({ header: JSON.stringify(goodHeader), headerLength: 3000, lengths: [0], payload: Buffer.alloc(0) }),
      /runs past the end/,
    ],
    [
      'a header length of 4 GiB',
      rawFrame({ header: '{}', headerLength: 0xffff_ffff, lengths: [], payload: Buffer.alloc(0) }),
      /exceeds the limit/,
    ],
    [
      'a section count past the limit',
      rawFrame({ header: '{}', sectionCount: 0xffff_ffff, lengths: [], payload: Buffer.alloc(0) }),
      /section count/,
    ],
    [
      'section lengths past the end',
      rawFrame({ header: JSON.stringify(goodHeader), sectionCount: 50, lengths: [], payload: Buffer.alloc(8) }),
      /section lengths run past/,
    ],
    [
      'a section longer than the bytes sent',
      rawFrame({ header: JSON.stringify(goodHeader), lengths: [100], payload: batchOf('x') }),
      /add up/,
    ],
    [
      'bytes after the last section',
      rawFrame({ header: JSON.stringify(goodHeader), lengths: [1], payload: Buffer.from('xy') }),
      /add up/,
    ],
    [
      'a header that is not JSON',
      rawFrame({ header: '{acks: all}', lengths: [0], payload: Buffer.alloc(0) }),
      /not valid JSON/,
    ],
    ['a header that is a JSON array', produceWithHeader([goodHeader]), /frame header/],
    ['acks 2', produceWithHeader({ ...goodHeader, acks: 2 }), /frame header\.acks/],
    ['acks -1 (Kafka wire style)', produceWithHeader({ ...goodHeader, acks: -1 }), /frame header\.acks/],
    ['acks "1" as a string', produceWithHeader({ ...goodHeader, acks: '1' }), /frame header\.acks/],
    ['acks "ALL"', produceWithHeader({ ...goodHeader, acks: 'ALL' }), /frame header\.acks/],
    ['acks missing', produceWithHeader({ timeoutMs: 5000, topics: goodHeader.topics }), /frame header\.acks/],
    ['timeoutMs -1', produceWithHeader({ ...goodHeader, timeoutMs: -1 }), /frame header\.timeoutMs/],
    ['timeoutMs above 300 s', produceWithHeader({ ...goodHeader, timeoutMs: 300_001 }), /frame header\.timeoutMs/],
    ['an unknown header field', produceWithHeader({ ...goodHeader, transactionalId: 'tx' }), /transactionalId/],
    [
      'a __proto__ key in the header',
      rawFrame({
        header: `{"__proto__":{"acks":1},${JSON.stringify(goodHeader).slice(1)}`,
        lengths: [0],
        payload: Buffer.alloc(0),
      }),
      /__proto__/,
    ],
    [
      'a constructor key in the header',
      produceWithHeader({ ...goodHeader, constructor: { prototype: {} } }),
      /constructor/,
    ],
    ['partition -1', producePartition({ partition: -1 }), /partitions\[0\]\.partition/],
    ['partition as a string', producePartition({ partition: '0' }), /partitions\[0\]\.partition/],
    ['a negative leaderEpoch', producePartition({ leaderEpoch: -1 }), /leaderEpoch/],
    ['no partitions', produceWithHeader({ ...goodHeader, topics: [{ topic: TOPIC, partitions: [] }] }), /partitions/],
    ['no topics', produceWithHeader({ ...goodHeader, topics: [] }), /frame header\.topics/],
    [
      'a topic name ".."',
      produceWithHeader({ ...goodHeader, topics: [{ topic: '..', partitions: [{ partition: 0 }] }] }),
      /topics\[0\]\.topic/,
    ],
    [
      'a topic name with a slash',
      produceWithHeader({ ...goodHeader, topics: [{ topic: 'a/b', partitions: [{ partition: 0 }] }] }),
      /topics\[0\]\.topic/,
    ],
    [
      'no section for the partition listed',
      rawFrame({ header: JSON.stringify(goodHeader), lengths: [], payload: Buffer.alloc(0) }),
      /lists 1 partitions but the frame has 0 sections/,
    ],
    [
      'two sections for one partition listed',
      rawFrame({ header: JSON.stringify(goodHeader), lengths: [0, 0], payload: Buffer.alloc(0) }),
      /lists 1 partitions but the frame has 2 sections/,
    ],
  ] as const
).map(([name, body, message]) => ({
  name: `a produce frame with ${name}`,
  request: { path: Routes.produce, headers: frame, body },
  status: 400,
  code: 'INVALID_REQUEST',
  message,
}));

describe('a three-broker cluster refuses bad requests and keeps its log', () => {
  let cluster: BrokerCluster;
  let topicId: string;
  let leader: number;
  let follower: number;
  /** The broker that led first: stopped and started again, so the leader epoch is 1. */
  let restarted: number;
  let staleBrokerEpoch: number;
  const baseline = { values: [] as (string | null)[], logEndOffset: 0n, leaderEpoch: 0 };

  const leaderClient = () => cluster.client(leader);

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3, config: { maxRequestBytes: MAX_REQUEST_BYTES } });
    await cluster.ready();
    // The leader this file sets up must stay the leader: no move back to the preferred replica.
    await cluster.alterConfigs('cluster', { 'auto.leader.rebalance.enable': 'false' });
    await cluster.createTopic(TOPIC, { partitions: 1, replicationFactor: 3 });
    const first = await cluster.leaderOf(TOPIC);
    expect((await cluster.produce(first, TOPIC, ['a', 'b', 'c']))?.error).toBeUndefined();
    // Move leadership once, so that there is an older leader epoch to send and a broker epoch
    // from before a restart.
    restarted = first;
    staleBrokerEpoch = cluster.brokers.get(first)?.lifecycle.brokerEpoch as number;
    await cluster.stop(first, true);
    leader = await waitFor('a new leader', async () => {
      const id = [...cluster.brokers.keys()][0] as number;
      const p = (await cluster.metadata(id, [TOPIC])).topics[0]?.partitions[0];
      return p?.leader !== null && p?.leader !== first && p?.leaderEpoch === 1 ? (p.leader as number) : undefined;
    });
    await cluster.start(first);
    await cluster.ready();
    expect((await cluster.produce(leader, TOPIC, ['d', 'e']))?.error).toBeUndefined();
    follower = [1, 2, 3].find((id) => id !== leader) as number;
    const meta = await cluster.metadata(leader, [TOPIC]);
    topicId = meta.topics[0]?.topicId as string;
    // Every replica in the ISR, every log at the same end, every broker on the same epoch.
    await waitFor('all three replicas in sync', async () => {
      for (const id of cluster.brokers.keys()) {
        const p = (await cluster.metadata(id, [TOPIC])).topics[0]?.partitions[0];
        if (p?.leader !== leader || p.leaderEpoch !== 1 || p.isr.length !== 3) return false;
        const log = cluster.brokers.get(id)?.manager.get(topicId, 0)?.log;
        if (log?.logEndOffset !== 5n || log.highWatermark !== 5n) return false;
      }
      return true;
    });
    baseline.values = (await cluster.readAll(leader, TOPIC)).map((r) => r.value);
    baseline.logEndOffset = 5n;
    baseline.leaderEpoch = 1;
    expect(baseline.values).toEqual(['a', 'b', 'c', 'd', 'e']);
  }, 30_000);

  afterAll(async () => {
    await cluster?.close();
  });

  // Whatever the case, the log is as it was and every broker still answers.
  afterEach(async () => {
    const latest = await cluster.listOffsets(leader, TOPIC, 'latest');
    expect(latest.topics[0]?.partitions[0]).toMatchObject({ offset: baseline.logEndOffset, leaderEpoch: 1 });
    expect((await cluster.readAll(leader, TOPIC)).map((r) => r.value)).toEqual(baseline.values);
    expect([...cluster.brokers.keys()].sort()).toEqual([1, 2, 3]);
    for (const [id, broker] of cluster.brokers) {
      expect(broker.ready).toBe(true);
      const log = broker.manager.get(topicId, 0)?.log;
      expect(log?.logEndOffset).toBe(baseline.logEndOffset);
      expect(log?.highWatermark).toBe(baseline.logEndOffset);
      const p = (await cluster.metadata(id, [TOPIC])).topics[0]?.partitions[0];
      expect(p).toMatchObject({ leader, leaderEpoch: baseline.leaderEpoch });
      expect(p?.isr.slice().sort()).toEqual([1, 2, 3]);
    }
  });

  describe('routing and methods', () => {
    it.each(routingCases)('$name → $status $code', async (c) => {
      const answer = await send(leaderClient(), c.request);
      const error = expectRefused(answer, c.status, c.code, c.message);
      if (c.status === 405) {
        expect(answer.headers.allow).toBe('POST');
        expect(error.details).toEqual({ allow: ['POST'] });
      }
    });
  });

  describe('JSON bodies', () => {
    it.each(jsonBodyCases)('$name → $status $code', async (c) => {
      expectRefused(await send(leaderClient(), c.request), c.status, c.code, c.message);
    });

    it('field errors name every field at fault in details', async () => {
      const answer = await send(leaderClient(), {
        path: Routes.fetch,
        headers: json,
        body: fetchBody({ fetchOffset: 7, partition: -1 }, { maxBytes: 0 }),
      });
      const error = expectRefused(answer, 400, 'INVALID_REQUEST');
      expect(error.details?.fields).toEqual(
        expect.arrayContaining([
          'body.maxBytes',
          'body.topics[0].partitions[0].partition',
          'body.topics[0].partitions[0].fetchOffset',
        ]),
      );
    });

    it('application/json with a charset parameter is accepted (the control case)', async () => {
      const answer = await send(leaderClient(), {
        path: Routes.metadata,
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ topics: [TOPIC] }),
      });
      expect(answer.status).toBe(200);
    });
  });

  describe('produce frames', () => {
    it.each(frameCases)('$name → $status $code', async (c) => {
      expectRefused(await send(leaderClient(), c.request), c.status, c.code, c.message);
    });

    it('a frame without a content type → 415', async () => {
      const answer = await send(leaderClient(), { path: Routes.produce, body: produceWithHeader(goodHeader) });
      expectRefused(answer, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });
  });

  /** Sends a produce frame for `TOPIC` (or another topic/partition) and returns the one partition's answer. */
  async function produceRaw(
    to: number,
    records: Buffer,
    options: { acks?: 0 | 1 | 'all'; topic?: string; partition?: number; leaderEpoch?: number } = {},
  ) {
    const body = encodeProduceRequest({
      acks: options.acks ?? 'all',
      timeoutMs: 5000,
      topics: [
        {
          topic: options.topic ?? TOPIC,
          partitions: [
            {
              partition: options.partition ?? 0,
              records,
              ...(options.leaderEpoch === undefined ? {} : { leaderEpoch: options.leaderEpoch }),
            },
          ],
        },
      ],
    });
    const answer = await send(cluster.client(to), { path: Routes.produce, headers: frame, body });
    expect(answer.status, answer.body.toString()).toBe(200);
    return ProduceResponseSchema.parse(JSON.parse(answer.body.toString('utf8')));
  }

  async function producePartitionAnswer(...args: Parameters<typeof produceRaw>) {
    const answer = await produceRaw(...args);
    expect(answer.topics).toHaveLength(1);
    const partition = answer.topics[0]?.partitions[0];
    expect(partition?.baseOffset).toBeUndefined();
    expect(partition?.logAppendTimeMs).toBe(-1);
    return partition;
  }

  const currentLeaderShape = () => ({
    leaderId: leader,
    leaderEpoch: 1,
    endpoint: { host: '127.0.0.1', port: cluster.ports[leader - 1] },
  });

  describe('produce: per-partition refusals in a 200 answer, nothing appended', () => {
    const corrupted = () => {
      const batch = batchOf('payload-1', 'payload-2');
      // A byte inside a record's value, which the CRC covers.
      batch.writeUInt8(batch.readUInt8(batch.length - 2) ^ 0xff, batch.length - 2);
      return batch;
    };

    it('a batch whose CRC does not match → CORRUPT_MESSAGE', async () => {
      const p = await producePartitionAnswer(leader, corrupted());
      expect(p?.error).toMatchObject({ code: 'CORRUPT_MESSAGE', retriable: true });
      expect(p?.error?.message).toMatch(/CRC/i);
    });

    it('a corrupt batch with acks=1 → CORRUPT_MESSAGE', async () => {
      const p = await producePartitionAnswer(leader, corrupted(), { acks: 1 });
      expect(p?.error?.code).toBe('CORRUPT_MESSAGE');
    });

    it('a corrupt batch with acks=0 is answered at once and still not appended', async () => {
      const answer = await produceRaw(leader, corrupted(), { acks: 0 });
      expect(answer).toEqual({ topics: [] });
    });

    it('a good batch followed by a corrupt one in the same section: neither is appended', async () => {
      const p = await producePartitionAnswer(leader, Buffer.concat([batchOf('good'), corrupted()]));
      expect(p?.error?.code).toBe('CORRUPT_MESSAGE');
      expect(p?.error?.details).toMatchObject({ batchIndex: 1 });
    });

    it('a truncated batch → CORRUPT_MESSAGE', async () => {
      const batch = batchOf('truncated');
      const p = await producePartitionAnswer(leader, batch.subarray(0, batch.length - 5));
      expect(p?.error?.code).toBe('CORRUPT_MESSAGE');
      expect(p?.error?.message).toMatch(/truncated/);
    });

    it('fewer bytes than a batch header → CORRUPT_MESSAGE', async () => {
      const p = await producePartitionAnswer(leader, Buffer.from('0123456789'));
      expect(p?.error?.code).toBe('CORRUPT_MESSAGE');
    });

    it('a batch whose magic byte is not 2 → CORRUPT_MESSAGE', async () => {
      const batch = batchOf('old-format');
      batch[16] = 1;
      const p = await producePartitionAnswer(leader, batch);
      expect(p?.error?.code).toBe('CORRUPT_MESSAGE');
    });

    it('an empty section → INVALID_RECORD', async () => {
      const p = await producePartitionAnswer(leader, Buffer.alloc(0));
      expect(p?.error?.code).toBe('INVALID_RECORD');
    });

    it('an unknown topic → UNKNOWN_TOPIC_OR_PARTITION', async () => {
      const p = await producePartitionAnswer(leader, batchOf('x'), { topic: 'no-such-topic' });
      expect(p?.error?.code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
      expect(p?.currentLeader).toBeUndefined();
    });

    it('an unknown partition → UNKNOWN_TOPIC_OR_PARTITION', async () => {
      const p = await producePartitionAnswer(leader, batchOf('x'), { partition: 7 });
      expect(p?.error?.code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
      expect(p?.error?.message).toMatch(/1 partitions; 7/);
    });

    it('to a follower → NOT_LEADER_OR_FOLLOWER naming the real leader', async () => {
      const p = await producePartitionAnswer(follower, batchOf('x'));
      expect(p?.error).toMatchObject({ code: 'NOT_LEADER_OR_FOLLOWER', retriable: true });
      expect(p?.currentLeader).toEqual(currentLeaderShape());
    });

    it('a stale leaderEpoch → FENCED_LEADER_EPOCH with the current leader', async () => {
      const p = await producePartitionAnswer(leader, batchOf('x'), { leaderEpoch: 0 });
      expect(p?.error?.code).toBe('FENCED_LEADER_EPOCH');
      expect(p?.currentLeader).toEqual(currentLeaderShape());
    });

    it('a future leaderEpoch → UNKNOWN_LEADER_EPOCH', async () => {
      const p = await producePartitionAnswer(leader, batchOf('x'), { leaderEpoch: 2 });
      expect(p?.error).toMatchObject({ code: 'UNKNOWN_LEADER_EPOCH', retriable: true });
    });

    it('a batch larger than the topic max.message.bytes → MESSAGE_TOO_LARGE', async () => {
      const alter = async (body: object) => {
        const answer = await send(leaderClient(), {
          method: 'PATCH',
          path: `/v1/topics/${TOPIC}/configs`,
          headers: { ...json, authorization: `Bearer ${ADMIN}` },
          body: JSON.stringify(body),
        });
        expect(answer.status, answer.body.toString()).toBe(200);
      };
      const maxMessageBytes = () => cluster.brokers.get(leader)?.manager.image?.topicConfig(TOPIC, 'max.message.bytes');
      await alter({ set: { 'max.message.bytes': 100 } });
      try {
        await waitFor('the leader to see max.message.bytes=100', () => maxMessageBytes() === '100');
        const batch = batchOf('y'.repeat(200));
        const p = await producePartitionAnswer(leader, batch);
        expect(p?.error).toMatchObject({
          code: 'MESSAGE_TOO_LARGE',
          details: { batchIndex: 0, sizeInBytes: batch.length, maxBatchBytes: 100 },
        });
      } finally {
        await alter({ delete: ['max.message.bytes'] });
        await waitFor('max.message.bytes back to its default', () => maxMessageBytes() === '1048588');
      }
    });
  });

  /** Fetches `TOPIC`-0 from broker `from` and returns the partition's entry in the frame answer. */
  async function fetchPartition(from: number, partition: Record<string, unknown>, topic = TOPIC) {
    const answer = await send(cluster.client(from), {
      path: Routes.fetch,
      headers: json,
      body: fetchBody(partition).replace(`"topic":"${TOPIC}"`, `"topic":"${topic}"`),
    });
    expect(answer.status, answer.body.toString()).toBe(200);
    expect(answer.headers['content-type']).toBe(ContentType.frame);
    const entry = decodeFetchResponse(answer.body).topics[0]?.partitions[0];
    expect(entry?.records.length).toBe(0);
    return entry;
  }

  describe('fetch: per-partition refusals in a 200 frame', () => {
    it('an offset beyond the log end → OFFSET_OUT_OF_RANGE with the valid range', async () => {
      const p = await fetchPartition(leader, { fetchOffset: '6' });
      expect(p?.error).toMatchObject({
        code: 'OFFSET_OUT_OF_RANGE',
        details: { offset: '6', logStartOffset: '0', logEndOffset: '5' },
      });
    });

    it('the largest int64 offset → OFFSET_OUT_OF_RANGE', async () => {
      const p = await fetchPartition(leader, { fetchOffset: '9223372036854775807' });
      expect(p?.error?.code).toBe('OFFSET_OUT_OF_RANGE');
    });

    it('from a follower → NOT_LEADER_OR_FOLLOWER naming the real leader', async () => {
      const p = await fetchPartition(follower, {});
      expect(p?.error?.code).toBe('NOT_LEADER_OR_FOLLOWER');
      expect(p?.currentLeader).toEqual(currentLeaderShape());
    });

    it('a stale currentLeaderEpoch → FENCED_LEADER_EPOCH with the current leader', async () => {
      const p = await fetchPartition(leader, { currentLeaderEpoch: 0 });
      expect(p?.error?.code).toBe('FENCED_LEADER_EPOCH');
      expect(p?.currentLeader).toEqual(currentLeaderShape());
    });

    it('a future currentLeaderEpoch → UNKNOWN_LEADER_EPOCH', async () => {
      const p = await fetchPartition(leader, { currentLeaderEpoch: 9 });
      expect(p?.error?.code).toBe('UNKNOWN_LEADER_EPOCH');
    });

    it('an unknown topic and an unknown partition → UNKNOWN_TOPIC_OR_PARTITION', async () => {
      expect((await fetchPartition(leader, {}, 'no-such-topic'))?.error?.code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
      expect((await fetchPartition(leader, { partition: 3 }))?.error?.code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    });
  });

  describe('list offsets: per-partition refusals', () => {
    const listOffsets = async (to: number, partition: Record<string, unknown>) => {
      const answer = await send(cluster.client(to), {
        path: Routes.listOffsets,
        headers: json,
        body: listOffsetsBody(partition),
      });
      expect(answer.status, answer.body.toString()).toBe(200);
      return JSON.parse(answer.body.toString('utf8')).topics[0].partitions[0];
    };

    it('to a follower → NOT_LEADER_OR_FOLLOWER naming the real leader', async () => {
      const p = await listOffsets(follower, {});
      expect(p.error.code).toBe('NOT_LEADER_OR_FOLLOWER');
      expect(p.currentLeader).toEqual(currentLeaderShape());
      expect(p.offset).toBeUndefined();
    });

    it('a stale currentLeaderEpoch → FENCED_LEADER_EPOCH', async () => {
      const p = await listOffsets(leader, { currentLeaderEpoch: 0 });
      expect(p.error.code).toBe('FENCED_LEADER_EPOCH');
      expect(p.currentLeader).toEqual(currentLeaderShape());
    });

    it('an unknown partition → UNKNOWN_TOPIC_OR_PARTITION', async () => {
      expect((await listOffsets(leader, { partition: 4 })).error.code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    });
  });

  describe('replication calls between brokers', () => {
    const brokerEpochOf = (id: number) => cluster.brokers.get(id)?.lifecycle.brokerEpoch as number;
    /** A session of the leader's own id: no real follower's session is disturbed. */
    const replicaFetch = (fields: Record<string, unknown> = {}) =>
      JSON.stringify({
        replicaId: leader,
        brokerEpoch: brokerEpochOf(leader),
        sessionId: 0,
        sessionEpoch: 0,
        maxWaitMs: 0,
        minBytes: 0,
        maxBytes: 65_536,
        partitions: [],
        ...fields,
      });
    const offsetsForLeaderEpoch = (fields: Record<string, unknown> = {}, partition: Record<string, unknown> = {}) =>
      JSON.stringify({
        replicaId: follower,
        partitions: [{ topic: TOPIC, partition: 0, currentLeaderEpoch: 1, leaderEpoch: 0, ...partition }],
        ...fields,
      });
    const post = (path: string, headers: Record<string, string>, body: string) =>
      send(leaderClient(), { path, headers, body });

    it.each([
      ['no cluster secret', json],
      ['an empty cluster secret', { ...json, [Headers.clusterSecret]: '' }],
      ['a wrong cluster secret', { ...json, [Headers.clusterSecret]: `${SECRET}x` }],
      ['the admin token instead', { ...json, authorization: `Bearer ${ADMIN}` }],
    ])('%s → 401 AUTHENTICATION_FAILED on both routes', async (_what, headers) => {
      expectRefused(await post(Routes.replicaFetch, headers, replicaFetch()), 401, 'AUTHENTICATION_FAILED');
      expectRefused(
        await post(Routes.offsetsForLeaderEpoch, headers, offsetsForLeaderEpoch()),
        401,
        'AUTHENTICATION_FAILED',
      );
    });

    it('credentials are checked before the body: a bad body without the secret is still 401', async () => {
      expectRefused(await post(Routes.replicaFetch, json, '{"not json'), 401, 'AUTHENTICATION_FAILED');
    });

    it('bad bodies with the secret → 400 naming the field', async () => {
      expectRefused(
        await post(Routes.replicaFetch, secret, replicaFetch({ sessionId: -1 })),
        400,
        'INVALID_REQUEST',
        /body\.sessionId/,
      );
      expectRefused(
        await post(Routes.replicaFetch, secret, replicaFetch({ maxWaitMs: 60_001 })),
        400,
        'INVALID_REQUEST',
        /body\.maxWaitMs/,
      );
      expectRefused(
        await post(
          Routes.replicaFetch,
          secret,
          replicaFetch({
            partitions: [
              {
                topicId: 'not-a-uuid',
                partition: 0,
                fetchOffset: 5,
                currentLeaderEpoch: 1,
                logStartOffset: '0',
                partitionMaxBytes: 1,
              },
            ],
          }),
        ),
        400,
        'INVALID_REQUEST',
        /topicId.*fetchOffset|fetchOffset.*topicId/,
      );
      expectRefused(await post(Routes.replicaFetch, secret, '{"__proto__":{}}'), 400, 'INVALID_REQUEST', /__proto__/);
      expectRefused(
        await post(Routes.offsetsForLeaderEpoch, secret, offsetsForLeaderEpoch({}, { leaderEpoch: -1 })),
        400,
        'INVALID_REQUEST',
        /leaderEpoch/,
      );
      expectRefused(
        await post(Routes.offsetsForLeaderEpoch, secret, offsetsForLeaderEpoch({ partitions: [] })),
        400,
        'INVALID_REQUEST',
        /body\.partitions/,
      );
    });

    it('an unregistered replicaId → 404 BROKER_ID_NOT_REGISTERED', async () => {
      expectRefused(
        await post(Routes.replicaFetch, secret, replicaFetch({ replicaId: 99 })),
        404,
        'BROKER_ID_NOT_REGISTERED',
        /99/,
      );
      expectRefused(
        await post(Routes.offsetsForLeaderEpoch, secret, offsetsForLeaderEpoch({ replicaId: 99 })),
        404,
        'BROKER_ID_NOT_REGISTERED',
        /99/,
      );
    });

    it('the broker epoch of a previous registration → 409 STALE_BROKER_EPOCH', async () => {
      expect(staleBrokerEpoch).toBeLessThan(brokerEpochOf(restarted));
      const body = replicaFetch({ replicaId: restarted, brokerEpoch: staleBrokerEpoch });
      expectRefused(await post(Routes.replicaFetch, secret, body), 409, 'STALE_BROKER_EPOCH');
    });

    it('an unknown fetch session id → 404 FETCH_SESSION_ID_NOT_FOUND', async () => {
      const body = replicaFetch({ sessionId: 123_456_789, sessionEpoch: 1 });
      const error = expectRefused(await post(Routes.replicaFetch, secret, body), 404, 'FETCH_SESSION_ID_NOT_FOUND');
      expect(error.details).toEqual({ sessionId: 123_456_789 });
    });

    it('a new session that does not start at epoch 0 → 409 INVALID_FETCH_SESSION_EPOCH', async () => {
      const body = replicaFetch({ sessionId: 0, sessionEpoch: 3 });
      expectRefused(await post(Routes.replicaFetch, secret, body), 409, 'INVALID_FETCH_SESSION_EPOCH');
    });

    it('a session epoch out of order → 409 INVALID_FETCH_SESSION_EPOCH, and the session is dropped', async () => {
      const opened = await post(Routes.replicaFetch, secret, replicaFetch());
      expect(opened.status, opened.body.toString()).toBe(200);
      const sessionId = decodeFetchResponse(opened.body).sessionId as number;
      expect(sessionId).toBeGreaterThan(0);
      const skipped = replicaFetch({ sessionId, sessionEpoch: 2 });
      const error = expectRefused(await post(Routes.replicaFetch, secret, skipped), 409, 'INVALID_FETCH_SESSION_EPOCH');
      expect(error.details).toEqual({ sessionId, expectedEpoch: 1 });
      // The follower's idea of the session has gone apart from the leader's: it must open a new one.
      const next = replicaFetch({ sessionId, sessionEpoch: 1 });
      expectRefused(await post(Routes.replicaFetch, secret, next), 404, 'FETCH_SESSION_ID_NOT_FOUND');
    });

    it('another broker cannot use a session it does not own → FETCH_SESSION_ID_NOT_FOUND', async () => {
      const opened = await post(Routes.replicaFetch, secret, replicaFetch());
      const sessionId = decodeFetchResponse(opened.body).sessionId as number;
      const body = replicaFetch({
        replicaId: follower,
        brokerEpoch: brokerEpochOf(follower),
        sessionId,
        sessionEpoch: 1,
      });
      expectRefused(await post(Routes.replicaFetch, secret, body), 404, 'FETCH_SESSION_ID_NOT_FOUND');
    });

    it('offsets for leader epoch: per-partition refusals', async () => {
      const ask = async (to: number, partition: Record<string, unknown>) => {
        const answer = await send(cluster.client(to), {
          path: Routes.offsetsForLeaderEpoch,
          headers: secret,
          body: offsetsForLeaderEpoch({}, partition),
        });
        expect(answer.status, answer.body.toString()).toBe(200);
        const parsed = OffsetsForLeaderEpochResponseSchema.parse(JSON.parse(answer.body.toString('utf8')));
        return parsed.partitions[0];
      };
      // The control case: epoch 0 ends where epoch 1 began.
      expect(await ask(leader, {})).toMatchObject({ leaderEpoch: 0, endOffset: 3n });
      expect((await ask(leader, { currentLeaderEpoch: 0 }))?.error?.code).toBe('FENCED_LEADER_EPOCH');
      expect((await ask(leader, { currentLeaderEpoch: 2 }))?.error?.code).toBe('UNKNOWN_LEADER_EPOCH');
      expect((await ask(follower, {}))?.error?.code).toBe('NOT_LEADER_OR_FOLLOWER');
      expect((await ask(leader, { topic: 'no-such-topic' }))?.error?.code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
      expect((await ask(leader, { partition: 9 }))?.error?.code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    });
  });

  describe('the admin API relayed by a broker', () => {
    const admin = { authorization: `Bearer ${ADMIN}` };
    it.each([
      {
        what: 'no admin token',
        auth: {},
        body: '{"set":{"retention.ms":1}}',
        status: 401,
        code: 'AUTHENTICATION_FAILED',
      },
      { what: 'malformed JSON', auth: admin, body: '{"set":', status: 400, code: 'INVALID_REQUEST' },
      { what: 'a __proto__ key', auth: admin, body: '{"__proto__":{"set":{}}}', status: 400, code: 'INVALID_REQUEST' },
      {
        what: 'an unknown config',
        auth: admin,
        body: '{"set":{"no.such.config":1}}',
        status: 400,
        code: 'INVALID_CONFIG',
      },
    ] as const)('PATCH topic configs with $what → $status $code', async ({ auth, body, status, code }) => {
      const answer = await send(leaderClient(), {
        method: 'PATCH',
        path: `/v1/topics/${TOPIC}/configs`,
        headers: { ...json, ...auth },
        body,
      });
      expectRefused(answer, status, code);
    });
  });
});

describe('a cluster with a client token refuses clients without it', () => {
  const TOKEN = 'bad-requests-client-token-0123';
  let cluster: BrokerCluster;

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 1, clientToken: TOKEN });
    await cluster.ready();
  }, 30_000);

  afterAll(async () => {
    await cluster?.close();
  });

  const calls: [string, string, Record<string, string>, string | Buffer][] = [
    ['metadata', Routes.metadata, json, '{}'],
    ['fetch', Routes.fetch, json, fetchBody()],
    ['list offsets', Routes.listOffsets, json, listOffsetsBody({})],
    ['produce', Routes.produce, frame, produceWithHeader(goodHeader)],
  ];
  const credentials: [string, Record<string, string>][] = [
    ['no authorization header', {}],
    ['a wrong token', { authorization: `Bearer ${TOKEN}x` }],
    ['the token without "Bearer"', { authorization: TOKEN }],
    ['Basic instead of Bearer', { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` }],
    ['the cluster secret instead', { [Headers.clusterSecret]: SECRET }],
  ];

  it.each(
    calls.flatMap(([call, path, type, body]) =>
      credentials.map(([what, auth]) => [call, what, path, type, body, auth] as const),
    ),
  )('%s with %s → 401', async (_call, _what, path, type, body, auth) => {
    const answer = await send(cluster.client(1), { path, headers: { ...type, ...auth }, body });
    expectRefused(answer, 401, 'AUTHENTICATION_FAILED');
    expect(answer.headers['www-authenticate']).toBe('Bearer');
  });

  it('credentials are checked before the body is read: a bad body without a token is 401', async () => {
    const answer = await send(cluster.client(1), { path: Routes.fetch, headers: json, body: '{"broken' });
    expectRefused(answer, 401, 'AUTHENTICATION_FAILED');
  });

  it('the right token is served (the control case)', async () => {
    const answer = await send(cluster.client(1), {
      path: Routes.metadata,
      headers: { ...json, authorization: `Bearer ${TOKEN}` },
      body: '{}',
    });
    expect(answer.status, answer.body.toString()).toBe(200);
    expect(JSON.parse(answer.body.toString('utf8'))).toMatchObject({ brokerId: 1 });
  });
});
