import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import {
  META_FIELD_SEPARATOR, META_RECORD_SEPARATOR, decodeMetadata, mergeMetadata, sortMetadata, type MetadataEntry,
} from '../protocol/metadata.ts';
import { writeFileAtomic } from './binlog.ts';
import { FileLocks } from './file-locks.ts';

// `<data file>-m` metadata files (PROTOCOL.md §3.6, §3.7). Blobs are handled as latin1 so every
// byte round-trips unchanged and sorting is plain byte order, as the C server's strcmp.

/** Suffix of the metadata file next to a data file. */
export const META_SUFFIX = '-m';

/**
 * Pack sorted records. Not encodeMetadata(): a value may legitimately contain 0x02 (the C parser
 * splits a record at its first 0x02 only), and what a client stored must come back byte for byte.
 */
export function packMetadata(entries: readonly MetadataEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of entries) {
    if (parts.length > 0) parts.push(Buffer.of(META_RECORD_SEPARATOR));
    parts.push(Buffer.from(name, 'latin1'), Buffer.of(META_FIELD_SEPARATOR), Buffer.from(value, 'latin1'));
  }
  return Buffer.concat(parts);
}

/** The binlog operation a metadata change produced (§3.6), or null when nothing changed. */
export type MetaChange = 'C' | 'U' | 'D' | null;

export class MetadataStore {
  /** Serialises read-modify-write cycles on one metadata file within this process (keyed by its path). */
  private readonly locks = new FileLocks();

  /** Raw bytes of `<dataPath>-m`, or null when there is none. */
  async read(dataPath: string): Promise<Buffer | null> {
    try {
      return await fs.readFile(dataPath + META_SUFFIX);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /**
   * SET_METADATA semantics (§3.6). 'O': empty blob deletes, else sorted records replace.
   * 'M': empty blob is a no-op, else union with the existing records, new values winning.
   * We write only the sorted records (not the C quirk's stale tail after a NUL).
   */
  set(dataPath: string, flag: 'O' | 'M', blob: Buffer): Promise<MetaChange> {
    const metaPath = dataPath + META_SUFFIX;
    return this.locks.run(metaPath, async () => {
      const incoming = decodeMetadata(blob, 'latin1');
      const existing = await this.read(dataPath);
      if (flag === 'O') {
        if (blob.length === 0) {
          if (existing === null) return null;
          await fs.rm(metaPath, { force: true });
          return 'D';
        }
        await writeFileAtomic(metaPath, packMetadata(sortMetadata(incoming, 'latin1')), false);
        return existing === null ? 'C' : 'U';
      }
      if (blob.length === 0) return null;
      const merged = existing === null
        ? sortMetadata(incoming, 'latin1')
        : mergeMetadata(decodeMetadata(existing, 'latin1'), incoming, 'latin1');
      await writeFileAtomic(metaPath, packMetadata(merged), false);
      return existing === null ? 'C' : 'U';
    });
  }

  /** Remove `<dataPath>-m`; true when one existed. */
  async remove(dataPath: string): Promise<boolean> {
    const metaPath = dataPath + META_SUFFIX;
    return this.locks.run(metaPath, async () => {
      try {
        await fs.unlink(metaPath);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
    });
  }
}
