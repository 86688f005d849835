import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC-32C (Castagnoli), the checksum of RecordBatch v2, as an unsigned 32-bit number. Native and SIMD-backed. */
export function crc32c(buf: Uint8Array): number {
  return nativeCrc32c(buf) >>> 0;
}
