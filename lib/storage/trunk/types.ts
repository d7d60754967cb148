// The contract between the trunk server role (allocator, trunk binlog, 27–33: lib/storage/trunk/*)
// and the trunk data path (slots inside trunk files, the trunk storage engine). PROTOCOL.md §11.
import type { TimeOfDay } from '../../config/values.ts';

/** Every slot starts with this header (§11.4); a slot holds header + content + unused bytes. */
export const TRUNK_HEADER_LEN = 24;

/**
 * One block of one trunk file: the 15-byte "trunk info" of 27–29 (§11.6) and one line of the trunk
 * binlog (§11.7). As a slot it is `[offset, offset + size)` of `<store_pathN>/data/HH/HH/<id>`.
 */
export interface TrunkSlot {
  storePathIndex: number;
  subPathHigh: number;
  subPathLow: number;
  trunkId: number;
  offset: number;
  size: number;
}

/** The trunk settings a storage takes from the tracker's 75 reply (§11.1), never from its own conf. */
export interface TrunkParameters {
  slotMinSize: number;
  slotMaxSize: number;
  trunkFileSize: number;
  allocAlignmentSize: number;
  freeSpaceMerge: boolean;
  deleteUnusedTrunkFiles: boolean;
  createFileAdvance: boolean;
  createFileTimeBase: TimeOfDay;
  createFileInterval: number;
  createFileSpaceThreshold: number;
  initCheckOccupying: boolean;
  initReloadFromBinlog: boolean;
  compressBinlogMinInterval: number;
  compressBinlogInterval: number;
  compressBinlogTimeBase: TimeOfDay;
  binlogMaxBackups: number;
}

/**
 * What the data path asks of the group's trunk server: 27 / 28 / 29 over the network, or direct
 * calls when this storage is the trunk server itself (§11.2, §11.6, §11.11).
 */
export interface SlotAllocator {
  /** 27: a slot for `size` bytes (content + 24) on store path `storePathIndex`. EAGAIN when no trunk server is known. */
  alloc(size: number, storePathIndex: number): Promise<TrunkSlot>;
  /** 28 with header.status = `status` (0, EEXIST or the write's errno): 0/EEXIST keep the slot used, others free it. */
  confirm(slot: TrunkSlot, status: number): Promise<void>;
  /** 29 after a delete; the caller ignores its failure (§11.11). */
  free(slot: TrunkSlot): Promise<void>;
}

/**
 * What the 27–33 handlers (lib/storage/handlers/trunk-*.ts) ask of the storage's trunk role
 * (lib/storage/trunk/role.ts). Every method throws FdfsError EINVAL when use_trunk_file is off or
 * the request does not fit the role (§11.6).
 */
export interface TrunkService {
  /** The tracker's trunk parameters; null until 75 said use_trunk_file. */
  readonly params: TrunkParameters | null;
  /** The loaded allocator of the trunk server; EINVAL when this storage is not (or not yet) it. */
  requireAllocator(): {
    alloc(size: number, storePathIndex: number): Promise<TrunkSlot>;
    confirm(slot: TrunkSlot, status: number): void;
    free(slot: TrunkSlot): void;
  };
  /** After 28 kept a slot used: wait until the members with a live trunk-sync session have the record. */
  replicated(): Promise<void>;
  /** 30: append synced trunk binlog bytes. */
  appendSynced(body: Uint8Array): void;
  /** 31: size of `data/trunk/binlog`. */
  binlogSize(): number;
  /** 32: delete storage_trunk.dat and every trunk mark. */
  deleteBinlogMarks(): Promise<void>;
  /** 33: empty the local trunk binlog. */
  truncateBinlog(): Promise<void>;
}
