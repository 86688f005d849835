import { corrupt } from './layout.js';

/**
 * Kafka's variable-length integers: zig-zag, then little-endian groups of 7 bits with the high bit
 * set on every byte but the last (protobuf's sint32/sint64). A varint holds an int32 in at most 5
 * bytes, a varlong an int64 in at most 10. Millrace keeps varlongs as JS numbers and refuses
 * values outside Number.MAX_SAFE_INTEGER.
 */
export const VARINT_MAX_BYTES = 5;
export const VARLONG_MAX_BYTES = 10;

const TWO_POW_31 = 0x80000000;

/** Zig-zag of an int32, as an unsigned 32-bit number. */
function zigZag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/** Encoded size of an int32. */
export function sizeOfVarint(value: number): number {
  const u = zigZag32(value);
  if (u < 0x80) return 1;
  if (u < 0x4000) return 2;
  if (u < 0x200000) return 3;
  if (u < 0x10000000) return 4;
  return 5;
}

/** Writes an int32 at `pos`; returns the position after it. The caller has sized `buf`. */
export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  let u = zigZag32(value);
  while (u >= 0x80) {
    buf[pos++] = (u & 0x7f) | 0x80;
    u >>>= 7;
  }
  buf[pos++] = u;
  return pos;
}

/**
 * Encoded size of a safe integer. For int32 values the 64-bit zig-zag equals the 32-bit one. Zig-zag
 * of a non-negative safe integer (2v, even) is exact in a double; so is -2v-1 while |v| < 2^52, and
 * below that BigInt does the work.
 */
export function sizeOfVarlong(value: number): number {
  if (value >= -TWO_POW_31 && value < TWO_POW_31) return sizeOfVarint(value);
  if (value < -0x10000000000000) return sizeOfVarlongBig(BigInt(value));
  let u = value >= 0 ? value * 2 : -value * 2 - 1;
  let size = 1;
  while (u >= 0x80) {
    u = Math.floor(u / 0x80);
    size++;
  }
  return size;
}

/** Writes a safe integer at `pos`; returns the position after it. */
export function writeVarlong(buf: Uint8Array, pos: number, value: number): number {
  if (value >= -TWO_POW_31 && value < TWO_POW_31) return writeVarint(buf, pos, value);
  if (value < -0x10000000000000) return writeVarlongBig(buf, pos, BigInt(value));
  let u = value >= 0 ? value * 2 : -value * 2 - 1;
  while (u >= 0x80) {
    buf[pos++] = (u % 0x80) | 0x80;
    u = Math.floor(u / 0x80);
  }
  buf[pos++] = u;
  return pos;
}

function zigZag64(value: bigint): bigint {
  return BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
}

function sizeOfVarlongBig(value: bigint): number {
  let u = zigZag64(value);
  let size = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    size++;
  }
  return size;
}

function writeVarlongBig(buf: Uint8Array, pos: number, value: bigint): number {
  let u = zigZag64(value);
  while (u >= 0x80n) {
    buf[pos++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  buf[pos++] = Number(u);
  return pos;
}

/**
 * A bounds-checked cursor over `buf[pos, end)`. Every read checks against `end`, which the record
 * decoder narrows to the current record, so a bad length can never make it read past a record, let
 * alone past the buffer. Failures are CORRUPT_MESSAGE naming the record, the field and the byte.
 *
 * `varint` and `varlong` take the common one- and two-byte cases inline and leave the rest to slow
 * paths, which keeps the methods small enough for V8 to inline into the record loop.
 */
export class ByteReader {
  buf: Buffer;
  pos: number;
  end: number;
  /** Index of the record being read, for error messages; -1 while reading outside a record. */
  record = -1;
  /** Appended to byte positions in messages, e.g. " of the inflated records". */
  private readonly where: string;

  constructor(buf: Buffer, pos: number, end: number, where = '') {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.where = where;
  }

  /** A zig-zag varint (int32); `field` names it in the error if it is malformed. */
  varint(field: string): number {
    const pos = this.pos;
    const buf = this.buf;
    if (pos < this.end) {
      const b0 = buf[pos]!;
      if (b0 < 0x80) {
        this.pos = pos + 1;
        return (b0 >>> 1) ^ -(b0 & 1);
      }
      if (pos + 1 < this.end) {
        const b1 = buf[pos + 1]!;
        if (b1 < 0x80) {
          const u = (b0 & 0x7f) | (b1 << 7);
          this.pos = pos + 2;
          return (u >>> 1) ^ -(u & 1);
        }
      }
    }
    return this.varintSlow(field);
  }

  /** A zig-zag varlong that must decode to a safe integer. Up to two bytes it is the same code as `varint`. */
  varlong(field: string): number {
    const pos = this.pos;
    const buf = this.buf;
    if (pos < this.end) {
      const b0 = buf[pos]!;
      if (b0 < 0x80) {
        this.pos = pos + 1;
        return (b0 >>> 1) ^ -(b0 & 1);
      }
      if (pos + 1 < this.end) {
        const b1 = buf[pos + 1]!;
        if (b1 < 0x80) {
          const u = (b0 & 0x7f) | (b1 << 7);
          this.pos = pos + 2;
          return (u >>> 1) ^ -(u & 1);
        }
      }
    }
    return this.varlongSlow(field);
  }

  fail(message: string): never {
    throw corrupt(this.record >= 0 ? `record ${this.record}: ${message}` : message);
  }

  /** A position as messages print it. */
  at(pos: number): string {
    return `byte ${pos}${this.where}`;
  }

  scope(): string {
    return this.record >= 0 ? 'record' : 'batch';
  }

  private varintSlow(field: string): number {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    let u = 0;
    for (let i = 0; i < VARINT_MAX_BYTES; i++) {
      if (pos >= this.end) {
        this.fail(`${field} varint at ${this.at(start)} is cut off by the end of the ${this.scope()}`);
      }
      const b = buf[pos++]!;
      if (i === VARINT_MAX_BYTES - 1 && b > 0x0f) {
        this.fail(
          b >= 0x80
            ? `${field} varint at ${this.at(start)} does not end within ${VARINT_MAX_BYTES} bytes`
            : `${field} varint at ${this.at(start)} overflows 32 bits`,
        );
      }
      u |= (b & 0x7f) << (7 * i);
      if (b < 0x80) {
        this.pos = pos;
        return (u >>> 1) ^ -(u & 1);
      }
    }
    throw new Error('unreachable: the fifth varint byte either ends the varint or fails');
  }

  /**
   * Up to 7 bytes (49 bits) accumulate exactly in a double; longer varlongs, rare in practice,
   * switch to BigInt and must still decode to a safe integer.
   */
  private varlongSlow(field: string): number {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    let u = 0;
    let scale = 1;
    for (let i = 0; i < VARLONG_MAX_BYTES; i++) {
      if (pos >= this.end) {
        this.fail(`${field} varlong at ${this.at(start)} is cut off by the end of the ${this.scope()}`);
      }
      const b = buf[pos++]!;
      if (i === 7) return this.varlongBig(field, start);
      u += (b & 0x7f) * scale;
      scale *= 0x80;
      if (b < 0x80) {
        this.pos = pos;
        return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
      }
    }
    throw new Error('unreachable: varlongSlow hands bytes 8 to 10 to varlongBig');
  }

  private varlongBig(field: string, start: number): number {
    const buf = this.buf;
    let pos = start;
    let u = 0n;
    for (let i = 0; i < VARLONG_MAX_BYTES; i++) {
      if (pos >= this.end) {
        this.fail(`${field} varlong at ${this.at(start)} is cut off by the end of the ${this.scope()}`);
      }
      const b = buf[pos++]!;
      if (i === VARLONG_MAX_BYTES - 1 && b > 0x01) {
        this.fail(
          b >= 0x80
            ? `${field} varlong at ${this.at(start)} does not end within ${VARLONG_MAX_BYTES} bytes`
            : `${field} varlong at ${this.at(start)} overflows 64 bits`,
        );
      }
      u |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) {
        const value = (u >> 1n) ^ -(u & 1n);
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
          this.fail(`${field} ${value} at ${this.at(start)} is outside the safe integer range`);
        }
        this.pos = pos;
        return Number(value);
      }
    }
    throw new Error('unreachable: the tenth varlong byte either ends the varlong or fails');
  }
}
