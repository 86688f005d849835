import type { Entry } from './types.js';

/**
 * Thrown when the core finds itself in a state that the algorithm forbids (a commit index moving
 * backwards, an append that would leave a gap, a committed entry about to be overwritten). It is a
 * bug, never an operating condition: crash loudly rather than carry on with a corrupt log.
 */
export class InvariantViolation extends Error {
  constructor(message: string) {
    super(`raft invariant violated: ${message}`);
    this.name = 'InvariantViolation';
  }
}

export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantViolation(typeof message === 'string' ? message : message());
}

/**
 * The size an entry is charged against byte limits: its payload plus a fixed allowance for the
 * header (term, index, type) so that empty entries still cost something.
 */
export const ENTRY_OVERHEAD_BYTES = 24;

export function entrySizeBytes(entry: Entry): number {
  return entry.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** Payload bytes only: what the uncommitted-bytes limit counts (the leader's empty entry is free). */
export function payloadBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entry.data.byteLength;
  return total;
}

/**
 * Returns the longest prefix of `entries` whose total size is within `maxBytes`, but always at
 * least one entry, so that a single entry larger than the limit still makes progress.
 */
export function limitSize<T extends Entry>(entries: T[], maxBytes: number): T[] {
  if (entries.length === 0) return entries;
  let size = entrySizeBytes(entries[0]!);
  let end = 1;
  for (; end < entries.length; end++) {
    size += entrySizeBytes(entries[end]!);
    if (size > maxBytes) break;
  }
  return end === entries.length ? entries : entries.slice(0, end);
}

/** A stable string key for a byte string (ReadIndex contexts are compared by content). */
export function bytesKey(bytes: Uint8Array): string {
  let key = '';
  for (const byte of bytes) key += byte.toString(16).padStart(2, '0');
  return key;
}

export function concatBytes(chunks: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const out = new Uint8Array(totalBytes);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  assert(offset === totalBytes, `concatenated ${offset} bytes, expected ${totalBytes}`);
  return out;
}
