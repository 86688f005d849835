import type { z } from 'zod';
import { type ErrorCode, fromZodError, MillraceError } from './errors.js';
import {
  type FetchResponseHeader,
  FetchResponseHeaderSchema,
  type ProduceRequestHeader,
  ProduceRequestHeaderSchema,
} from './schemas/client.js';

/**
 * A frame carries a small JSON header and raw binary sections, so that record data crosses the
 * wire as the bytes that are stored, never as JSON or base64:
 *
 *   magic "MF" (2 bytes) | version u8 = 1 | headerLength u32 | header (UTF-8 JSON)
 *   | sectionCount u32 | sectionCount × sectionLength u32 | the sections, back to back
 *
 * All integers are big-endian. The lengths must account for every byte of the body exactly. The
 * lengths are checked before the header is parsed and before any section is sliced, so a
 * malformed frame costs nothing to refuse. Sections are zero-copy views into the body.
 */
export const FRAME_MAGIC = 0x4d46; // "MF"
export const FRAME_VERSION = 1;
const PREFIX_BYTES = 2 + 1 + 4;

export interface FrameLimits {
  /** Largest JSON header accepted; default 4 MiB. */
  readonly maxHeaderBytes?: number;
  /** Most sections accepted; default 100,000. */
  readonly maxSections?: number;
  /** The code thrown for a malformed frame: INVALID_REQUEST for requests (default), CORRUPT_MESSAGE for responses. */
  readonly errorCode?: ErrorCode;
}

export interface Frame {
  readonly header: unknown;
  readonly sections: Buffer[];
}

export function encodeFrame(header: object, sections: readonly Uint8Array[]): Buffer {
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  let total = PREFIX_BYTES + headerBytes.length + 4 + 4 * sections.length;
  for (const section of sections) total += section.length;
  const out = Buffer.allocUnsafe(total);
  let at = out.writeUInt16BE(FRAME_MAGIC, 0);
  at = out.writeUInt8(FRAME_VERSION, at);
  at = out.writeUInt32BE(headerBytes.length, at);
  at += headerBytes.copy(out, at);
  at = out.writeUInt32BE(sections.length, at);
  for (const section of sections) at = out.writeUInt32BE(section.length, at);
  for (const section of sections) {
    out.set(section, at);
    at += section.length;
  }
  return out;
}

export function decodeFrame(body: Buffer, limits: FrameLimits = {}): Frame {
  const maxHeaderBytes = limits.maxHeaderBytes ?? 4 * 1024 * 1024;
  const maxSections = limits.maxSections ?? 100_000;
  const code = limits.errorCode ?? 'INVALID_REQUEST';
  const fail = (problem: string): never => {
    throw new MillraceError(code, `Malformed frame: ${problem}.`);
  };

  if (body.length < PREFIX_BYTES + 4) fail(`${body.length} bytes is shorter than the smallest frame (11 bytes)`);
  const magic = body.readUInt16BE(0);
  if (magic !== FRAME_MAGIC) fail(`magic 0x${magic.toString(16).padStart(4, '0')} is not 0x4d46 ("MF")`);
  const version = body.readUInt8(2);
  if (version !== FRAME_VERSION) fail(`version ${version} is not supported (only ${FRAME_VERSION})`);
  const headerLength = body.readUInt32BE(3);
  if (headerLength > maxHeaderBytes) fail(`header length ${headerLength} exceeds the limit of ${maxHeaderBytes}`);
  const headerEnd = PREFIX_BYTES + headerLength;
  if (headerEnd + 4 > body.length)
    fail(`header length ${headerLength} runs past the end of the ${body.length}-byte body`);
  const sectionCount = body.readUInt32BE(headerEnd);
  if (sectionCount > maxSections) fail(`section count ${sectionCount} exceeds the limit of ${maxSections}`);
  const lengthsEnd = headerEnd + 4 + 4 * sectionCount;
  if (lengthsEnd > body.length) fail(`${sectionCount} section lengths run past the end of the body`);

  let expected = lengthsEnd;
  for (let i = 0; i < sectionCount; i++) expected += body.readUInt32BE(headerEnd + 4 + 4 * i);
  if (expected !== body.length) {
    fail(`the header and section lengths add up to ${expected} bytes but the body has ${body.length}`);
  }

  let header: unknown;
  try {
    header = JSON.parse(body.toString('utf8', PREFIX_BYTES, headerEnd));
  } catch {
    fail('the header is not valid JSON');
  }
  const sections: Buffer[] = new Array(sectionCount);
  let at = lengthsEnd;
  for (let i = 0; i < sectionCount; i++) {
    const length = body.readUInt32BE(headerEnd + 4 + 4 * i);
    sections[i] = body.subarray(at, at + length);
    at += length;
  }
  return { header, sections };
}

/** The shape shared by produce requests and fetch responses: topics, each with partitions, one section each. */
interface TopicsOf<P> {
  readonly topics: readonly { readonly topic: string; readonly partitions: readonly P[] }[];
}
type WithRecords<T> = T & { readonly records: Buffer };
type TopicsWithRecords<H extends TopicsOf<object>> = Omit<H, 'topics'> & {
  topics: { topic: string; partitions: WithRecords<H['topics'][number]['partitions'][number]>[] }[];
};

/** Pulls each partition's `records` out into the frame's sections, in header order. */
function encodeTopicsFrame<P extends object>(message: TopicsOf<P & { readonly records: Uint8Array }>): Buffer {
  const sections: Uint8Array[] = [];
  const topics = message.topics.map(({ topic, partitions }) => ({
    topic,
    partitions: partitions.map(({ records, ...partition }) => {
      sections.push(records);
      return partition;
    }),
  }));
  return encodeFrame({ ...message, topics }, sections);
}

/** Validates the header with `schema` and gives each partition, in order, its section as `records`. */
function decodeTopicsFrame<S extends z.ZodType<TopicsOf<object>>>(
  schema: S,
  body: Buffer,
  limits: FrameLimits,
): TopicsWithRecords<z.output<S>> {
  const { header, sections } = decodeFrame(body, limits);
  const parsed = schema.safeParse(header);
  if (!parsed.success) {
    const error = fromZodError(parsed.error, 'frame header');
    throw limits.errorCode === undefined ? error : new MillraceError(limits.errorCode, error.message);
  }
  const message = parsed.data as z.output<S>;
  let next = 0;
  const partitionCount = message.topics.reduce((sum, topic) => sum + topic.partitions.length, 0);
  if (partitionCount !== sections.length) {
    throw new MillraceError(
      limits.errorCode ?? 'INVALID_REQUEST',
      `Malformed frame: the header lists ${partitionCount} partitions but the frame has ${sections.length} sections.`,
    );
  }
  const topics = message.topics.map(({ topic, partitions }) => ({
    topic,
    partitions: partitions.map((partition) => ({ ...partition, records: sections[next++] as Buffer })),
  }));
  return { ...message, topics } as TopicsWithRecords<z.output<S>>;
}

type ProducePartitionHeader = ProduceRequestHeader['topics'][number]['partitions'][number];
export type ProduceRequest = Omit<ProduceRequestHeader, 'topics'> & {
  topics: { topic: string; partitions: WithRecords<ProducePartitionHeader>[] }[];
};

/** A produce request as a frame: section i is the record batches of the i-th partition. */
export function encodeProduceRequest(request: ProduceRequest): Buffer {
  return encodeTopicsFrame(request);
}

export function decodeProduceRequest(body: Buffer, limits: FrameLimits = {}): ProduceRequest {
  return decodeTopicsFrame(ProduceRequestHeaderSchema, body, limits) as ProduceRequest;
}

type FetchPartitionHeader = FetchResponseHeader['topics'][number]['partitions'][number];
export type FetchResponse = Omit<FetchResponseHeader, 'topics'> & {
  topics: { topic: string; partitions: WithRecords<FetchPartitionHeader>[] }[];
};
export type DecodedFetchResponse = TopicsWithRecords<z.output<typeof FetchResponseHeaderSchema>>;

/** A fetch (or replica fetch) response as a frame: section i is the record batches of the i-th partition. */
export function encodeFetchResponse(response: FetchResponse): Buffer {
  return encodeTopicsFrame(response);
}

/** Decodes a fetch response a client received; a malformed one is CORRUPT_MESSAGE. Offsets come out as bigint. */
export function decodeFetchResponse(body: Buffer, limits: FrameLimits = {}): DecodedFetchResponse {
  return decodeTopicsFrame(FetchResponseHeaderSchema, body, { errorCode: 'CORRUPT_MESSAGE', ...limits });
}
