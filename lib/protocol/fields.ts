import { Buffer } from 'node:buffer';

// Fixed-width text fields (PROTOCOL.md §0): left-aligned, NUL-filled, no terminator when full.
// Readers stop at the first NUL: C peers leave stale bytes after it (captures/README.md #2, #3).

export function writeFixed(buf: Buffer, offset: number, text: string, width: number): void {
  buf.fill(0, offset, offset + width);
  buf.write(text, offset, width, 'latin1');
}

export function fixed(text: string, width: number): Buffer {
  const b = Buffer.alloc(width);
  b.write(text, 0, width, 'latin1');
  return b;
}

export function readFixed(buf: Uint8Array, offset: number, width: number): string {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const end = Math.min(offset + width, b.length);
  let z = b.indexOf(0, offset);
  if (z < 0 || z > end) z = end;
  return b.toString('latin1', offset, z);
}

/** i64 big-endian as a JS number (all FastDFS values fit in 2^53). */
export function readI64(buf: Buffer, offset: number): number {
  return Number(buf.readBigInt64BE(offset));
}

export function writeI64(buf: Buffer, offset: number, value: number | bigint): void {
  buf.writeBigInt64BE(typeof value === 'bigint' ? value : BigInt(Math.trunc(value)), offset);
}

export function i64(value: number | bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  writeI64(b, 0, value);
  return b;
}

export function i32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(value | 0, 0);
  return b;
}

/** Sequential writer for fixed layouts; sizes are known up front, so one allocation. */
export class FieldWriter {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }
  u8(v: number): this { this.buf[this.pos++] = v & 0xff; return this; }
  i32(v: number): this { this.buf.writeInt32BE(v | 0, this.pos); this.pos += 4; return this; }
  i64(v: number | bigint): this { writeI64(this.buf, this.pos, v); this.pos += 8; return this; }
  str(text: string, width: number): this { writeFixed(this.buf, this.pos, text, width); this.pos += width; return this; }
  bytes(b: Uint8Array): this { this.buf.set(b, this.pos); this.pos += b.length; return this; }
  text(t: string): this { this.pos += this.buf.write(t, this.pos, 'latin1'); return this; }
}

/** Sequential reader for fixed layouts; throws RangeError past the end (callers map to EINVAL). */
export class FieldReader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get remaining(): number { return this.buf.length - this.pos; }
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError(`field past end: need ${n} at ${this.pos} of ${this.buf.length}`);
  }
  u8(): number { this.need(1); return this.buf[this.pos++]!; }
  i8(): number { this.need(1); return this.buf.readInt8(this.pos++); }
  i32(): number { this.need(4); const v = this.buf.readInt32BE(this.pos); this.pos += 4; return v; }
  i64(): number { this.need(8); const v = readI64(this.buf, this.pos); this.pos += 8; return v; }
  i64big(): bigint { this.need(8); const v = this.buf.readBigInt64BE(this.pos); this.pos += 8; return v; }
  str(width: number): string { this.need(width); const s = readFixed(this.buf, this.pos, width); this.pos += width; return s; }
  bytes(n: number): Buffer { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
  rest(): Buffer { const b = this.buf.subarray(this.pos); this.pos = this.buf.length; return b; }
  text(n = this.remaining): string { return this.bytes(n).toString('latin1'); }
}
