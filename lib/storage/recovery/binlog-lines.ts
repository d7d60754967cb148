import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';

// Line-by-line reading of a recovery binlog from a byte offset, with the offset after each line,
// so a mark can say exactly how far a recovery thread got (PROTOCOL.md §5.11).

const CHUNK = 64 * 1024;

export interface OffsetLine {
  line: string;
  /** Byte offset just past this line's '\n'. */
  end: number;
}

/** Complete lines from `start`; a last line without '\n' is not returned (it was cut). */
export async function* readLinesFrom(file: string, start: number): AsyncGenerator<OffsetLine> {
  const fh = await fs.open(file, 'r');
  try {
    let pos = start;
    let carry = Buffer.alloc(0);
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await fh.read(chunk, 0, CHUNK, pos + carry.length);
      if (bytesRead === 0) return;
      let buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        pos += nl + 1;
        yield { line: buf.toString('latin1', 0, nl), end: pos };
        buf = buf.subarray(nl + 1);
      }
      carry = Buffer.from(buf);
    }
  } finally {
    await fh.close();
  }
}
