import { randomInt } from 'node:crypto';
import { encodeB64 } from '../protocol/base64.ts';
import { FdfsError } from '../protocol/errno.ts';
import {
  EXT7_LEN, buildLogicName, encodeFileHeader, makeExt7, makeSizeField, randomSubdir, type FileSource,
} from '../protocol/filename.ts';
import type { DistCursor } from './stat-file.ts';

// Generating new file names on this storage (PROTOCOL.md §6.2–§6.5).

export interface NameRequest {
  storePathIndex: number;
  high: number;
  low: number;
  /** Unix seconds encoded in the name (§6.2: the file's mtime at upload end). */
  timestamp: number;
  size: number;
  crc32: number;
  /** Extension the 7-char tail is built from (§6.5; default none). */
  ext?: string;
  /** The 7-char tail to keep instead (§3.13: a regenerated appender keeps its own). */
  ext7?: string;
  kind: 'normal' | 'appender';
}

export interface FileNameGeneratorOptions {
  subdirCount: number;
  /** file_distribute_path_mode: 0 round robin, 1 random (§6.5). */
  mode: 0 | 1;
  /** file_distribute_rotate_count (≥ 1). */
  rotateCount: number;
  /** Restored from storage_stat.dat. */
  cursor?: DistCursor;
  /** Injectable randomness (tests). */
  random?: { rand23(): number; digit(): string };
}

const defaultRandom = {
  rand23: () => randomInt(0, 0x800000),
  digit: () => String(randomInt(0, 10)),
};

/**
 * Owns the round-robin sub-directory cursor (persisted by the server in storage_stat.dat) and the
 * source field (§6.2), which the tracker tells us at start-up: the IPv4 of GET_MY_IP, or the
 * server id when use_storage_id && id_type_in_filename=id.
 */
export class FileNameGenerator {
  source: FileSource | null = null;
  readonly cursor: DistCursor;
  private readonly opts: FileNameGeneratorOptions;
  private readonly random: { rand23(): number; digit(): string };
  /** Set when the cursor moved, so the stat file gets rewritten. */
  cursorDirty = false;

  constructor(opts: FileNameGeneratorOptions) {
    this.opts = opts;
    this.random = opts.random ?? defaultRandom;
    const c = opts.cursor ?? { high: 0, low: 0, count: 0 };
    // A cursor from a run with a larger subdir_count would point at directories that do not exist.
    this.cursor = {
      high: c.high >= 0 && c.high < opts.subdirCount ? c.high : 0,
      low: c.low >= 0 && c.low < opts.subdirCount ? c.low : 0,
      count: c.count >= 0 ? c.count : 0,
    };
  }

  /**
   * The sub-directory a new upload goes to (its temp file already lives there, §6.5). Round robin:
   * the current pair; after rotate_count files low++, wrapping into high++.
   */
  pickSubdir(startTime: number): { high: number; low: number } {
    if (this.opts.mode === 1) {
      // §6.5: PJW hash of a provisional header (random crc, start time); not derivable later.
      const provisional = encodeB64(encodeFileHeader({
        source: this.source ?? { ip: '0.0.0.0' },
        timestamp: startTime >>> 0,
        sizeField: makeSizeField('normal', 0, this.random.rand23()),
        crc32: randomInt(0, 0x7fffffff),
      }));
      return randomSubdir(provisional, this.opts.subdirCount);
    }
    const c = this.cursor;
    const pair = { high: c.high, low: c.low };
    c.count++;
    if (c.count >= Math.max(1, this.opts.rotateCount)) {
      c.count = 0;
      c.low++;
      if (c.low >= this.opts.subdirCount) {
        c.low = 0;
        c.high = (c.high + 1) % this.opts.subdirCount;
      }
    }
    this.cursorDirty = true;
    return pair;
  }

  /** A fresh logic name; call again for a different one after a collision (random R and digits). */
  makeName(r: NameRequest): string {
    if (!this.source) throw new FdfsError('EAGAIN', 'storage not ready: own address not known yet (no tracker answered)');
    if (r.ext7 !== undefined && r.ext7.length !== EXT7_LEN) {
      throw new FdfsError('EINVAL', `extension tail ${JSON.stringify(r.ext7)} is not ${EXT7_LEN} characters`);
    }
    return buildLogicName({
      storePathIndex: r.storePathIndex,
      high: r.high,
      low: r.low,
      header: {
        source: this.source,
        timestamp: r.timestamp,
        sizeField: makeSizeField(r.kind, r.size, this.random.rand23()),
        crc32: r.crc32,
      },
      ext7: r.ext7 ?? makeExt7(r.ext ?? '', this.random.digit),
    });
  }
}
