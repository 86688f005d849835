import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { rawBatch, varintOracle } from './helpers.js';

/**
 * Batches that are right in every field but where a length or a count is sometimes off by a
 * little: random bytes rarely get past the first length check, these reach every check in the
 * record parser, compressed and not.
 */

/** Mostly 0; sometimes a small error in a length or count. */
const slip = fc.oneof(
  { weight: 8, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
);
const chunk = fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a));
const field = fc.record({ bytes: fc.option(chunk, { nil: null }), slip });
const nearValidRecord = fc.record({
  attributes: fc.integer({ min: 0, max: 255 }),
  timestampDelta: fc.integer({ min: -5, max: 5 }),
  offsetDeltaSlip: slip,
  key: field,
  value: field,
  headers: fc.array(fc.record({ key: chunk, keySlip: slip, value: field }), { maxLength: 3 }),
  headerCountSlip: slip,
  lengthSlip: slip,
});
export const nearValidBatch = fc.record({
  records: fc.array(nearValidRecord, { maxLength: 5 }),
  countSlip: slip,
  lastOffsetDeltaSlip: slip,
  trailing: fc.option(chunk, { nil: null }),
  gzip: fc.boolean(),
});

function nearValidField({ bytes, slip }: { bytes: Buffer | null; slip: number }): Buffer {
  if (bytes === null) return varintOracle(slip === 0 ? -1 : -1 - Math.abs(slip));
  return Buffer.concat([varintOracle(bytes.length + slip), bytes]);
}

/** A batch laid out by hand from the spec, with the small slips the generator chose. */
export type NearValidBatch = typeof nearValidBatch extends fc.Arbitrary<infer T> ? T : never;

export function assembleNearValid(parts: NearValidBatch): Buffer {
  const records = parts.records.map((r, i) => {
    const body = Buffer.concat([
      Buffer.from([r.attributes]),
      varintOracle(r.timestampDelta, 64),
      varintOracle(i + r.offsetDeltaSlip),
      nearValidField(r.key),
      nearValidField(r.value),
      varintOracle(r.headers.length + r.headerCountSlip),
      ...r.headers.flatMap((h) => [varintOracle(h.key.length + h.keySlip), h.key, nearValidField(h.value)]),
    ]);
    return Buffer.concat([varintOracle(body.length + r.lengthSlip), body]);
  });
  const section = Buffer.concat([...records, parts.trailing ?? Buffer.alloc(0)]);
  const n = parts.records.length;
  return rawBatch({
    attributes: parts.gzip ? 1 : 0,
    recordCount: n + parts.countSlip,
    lastOffsetDelta: Math.max(0, n - 1) + parts.lastOffsetDeltaSlip,
    records: parts.gzip ? gzipSync(section) : section,
  });
}
