import type { Buffer } from 'node:buffer';
import { ERRNO, FdfsError, errnoOf } from '../../protocol/errno.ts';
import type { StorePaths } from '../store-paths.ts';
import { ensureTrunkFile, trunkFilePath } from './trunk-file.ts';
import { SLOT_TYPE_FILE, SLOT_TYPE_LINK, checkSlotHeader, decodeSlotHeader, type SlotType } from './slot-header.ts';
import { checkSlotSync, readSlotContentSync, readSlotHeaderSync, writeSlotSync, zeroSlot } from './slot-io.ts';
import { fitsSlot, type TrunkFileName } from './trunk-name.ts';
import { TRUNK_HEADER_LEN, type TrunkSlot } from './types.ts';

// The trunk-stored files of this member, addressed by their names (PROTOCOL.md §11.11): the read
// check, the replica write of SYNC_CREATE_FILE (16) and the zeroing of a delete. No allocator here:
// the trunk engine adds 27/28/29 around these for the files its own clients upload and delete.

export interface TrunkStat {
  type: SlotType;
  /** Content bytes (the header's file_size). */
  size: number;
  /** The header's mtime (= the name's timestamp). */
  mtime: number;
  crc32: number;
}

export class TrunkSlots {
  /** Trunk files known to exist at full size: checked once per process, not once per write. */
  private readonly ready = new Set<string>();

  constructor(private readonly storePaths: StorePaths) {}

  fileOf(slot: TrunkSlot): string {
    if (slot.storePathIndex >= this.storePaths.count) {
      throw new FdfsError('EINVAL', `store path index ${slot.storePathIndex} out of range 0..${this.storePaths.count - 1}`);
    }
    return trunkFilePath(this.storePaths, slot);
  }

  /** §11.3: the slot's trunk file exists at full size (created or extended here otherwise). */
  async prepare(slot: TrunkSlot, trunkFileSize: number): Promise<string> {
    const file = this.fileOf(slot);
    if (!this.ready.has(file)) {
      await ensureTrunkFile(file, trunkFileSize);
      this.ready.add(file);
    }
    return file;
  }

  /**
   * Runs a write into the slot's trunk file, made ready first. A trunk file removed behind our back
   * (by hand, or a trunk server's delete_unused_trunk_files) is created again once, not reported
   * missing for the rest of the process's life.
   */
  async writeTo<T>(slot: TrunkSlot, trunkFileSize: number, write: (file: string) => T | Promise<T>): Promise<T> {
    const file = await this.prepare(slot, trunkFileSize);
    try {
      return await write(file);
    } catch (err) {
      if (errnoOf(err) !== ERRNO.ENOENT) throw err;
      this.ready.delete(file);
      return write(await this.prepare(slot, trunkFileSize));
    }
  }

  /** §11.4 read check: what the slot holds under this name, or null (no such file). */
  stat(name: TrunkFileName): TrunkStat | null {
    const type = checkSlotSync(this.fileOf(name.slot), name.slot, name);
    return type === null ? null : { type, size: name.fileSize, mtime: name.timestamp, crc32: name.crc32 };
  }

  /** An `L` slot's content: the logic name it links to (§11.4). */
  linkTarget(name: TrunkFileName): string {
    return readSlotContentSync(this.fileOf(name.slot), name.slot, name.fileSize).toString('latin1');
  }

  /**
   * Whether the slot already holds another file uploaded after this one: then this replica is
   * stale. Replicas from different members are not ordered: a member can receive file Y, written
   * into a slot freed by deleting X, before the old `C X` record of a lagging peer (whose `D X` then
   * zeroes the slot). C overwrites unconditionally and loses Y on that member; we keep the newer
   * file (the slot was handed out again only after X was deleted, so the later upload start wins).
   */
  supersedes(name: TrunkFileName): boolean {
    let header: Buffer;
    try {
      header = readSlotHeaderSync(this.fileOf(name.slot), name.slot);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    if (header.length < TRUNK_HEADER_LEN || checkSlotHeader(header, name) !== null) return false;
    const h = decodeSlotHeader(header);
    return (h.type === SLOT_TYPE_FILE || h.type === SLOT_TYPE_LINK) && h.mtime > name.timestamp;
  }

  /**
   * §11.11 SYNC_CREATE_FILE: the content at offset + 24 and the header the name implies (type `F`),
   * creating the trunk file if missing; the slot is not checked and the trunk server not asked.
   * EINVAL when the content is not the size the name declares (its read check could never pass).
   */
  async writeReplica(name: TrunkFileName, content: Buffer, trunkFileSize: number): Promise<void> {
    if (content.length !== name.fileSize || !fitsSlot(name)) {
      throw new FdfsError('EINVAL', `replica of ${content.length} bytes does not match its trunk name (size ${name.fileSize}, slot ${name.slotSize})`, { subject: name.logicName });
    }
    await this.writeTo(name.slot, trunkFileSize, (file) => writeSlotSync(file, name.slot, content,
      { type: SLOT_TYPE_FILE, crc32: name.crc32, mtime: name.timestamp, ext7: name.ext7 }, { checkUnused: false }));
  }

  /**
   * §11.11 delete on any member, and SYNC_DELETE_FILE (17): after the read check the whole slot is
   * zeroed. false when the slot holds no file of that name. Giving the slot back (29) is the
   * caller's business: only a client's delete does it.
   */
  async remove(name: TrunkFileName): Promise<boolean> {
    if (!this.stat(name)) return false;
    await zeroSlot(this.fileOf(name.slot), name.slot);
    return true;
  }
}
