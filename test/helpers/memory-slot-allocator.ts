import { FdfsError } from '../../lib/protocol/errno.ts';
import type { SlotAllocator, TrunkSlot } from '../../lib/storage/trunk/types.ts';

// A trunk server in miniature for data-path tests (PROTOCOL.md §11.6, §11.8 much simplified): slots
// are cut from the front of trunk files 1, 2, … in directory 01/01 of the asked store path, at least
// slotMinSize; a freed or unconfirmed slot is handed out again (first fit, never split). Records
// every call so tests can check what a trunk server would have been told.

export class MemorySlotAllocator implements SlotAllocator {
  readonly allocs: Array<{ size: number; storePathIndex: number; slot: TrunkSlot }> = [];
  readonly confirms: Array<{ slot: TrunkSlot; status: number }> = [];
  readonly frees: TrunkSlot[] = [];
  /** Make the next confirm calls fail as if the trunk server went away. */
  failConfirm = false;
  /** Hand out this slot next, whatever is asked (an occupied slot, a bad answer). */
  forced: TrunkSlot | null = null;
  private readonly freeList: TrunkSlot[] = [];
  private readonly held = new Set<string>();
  private trunkId = 1;
  private next = 0;

  constructor(private readonly trunkFileSize: number, private readonly slotMinSize = 256) {}

  private static key(s: TrunkSlot): string {
    return `${s.storePathIndex}/${s.trunkId}/${s.offset}/${s.size}`;
  }

  async alloc(size: number, storePathIndex: number): Promise<TrunkSlot> {
    const s = Math.max(size, this.slotMinSize);
    let slot: TrunkSlot | undefined;
    if (this.forced) {
      slot = this.forced;
    } else {
      const i = this.freeList.findIndex((b) => b.storePathIndex === storePathIndex && b.size >= s);
      if (i >= 0) {
        slot = this.freeList.splice(i, 1)[0]!;
      } else {
        if (s > this.trunkFileSize) throw new FdfsError('EINVAL', `slot of ${s} bytes larger than a trunk file`);
        if (this.next + s > this.trunkFileSize) { this.trunkId++; this.next = 0; }
        slot = { storePathIndex, subPathHigh: 1, subPathLow: 1, trunkId: this.trunkId, offset: this.next, size: s };
        this.next += s;
      }
    }
    this.held.add(MemorySlotAllocator.key(slot));
    this.allocs.push({ size, storePathIndex, slot });
    return slot;
  }

  /** §11.6: 0 / EEXIST keep the slot used, anything else frees it; ENOENT for a slot not held. */
  async confirm(slot: TrunkSlot, status: number): Promise<void> {
    this.confirms.push({ slot, status });
    if (this.failConfirm) throw new FdfsError('ECONNREFUSED', 'trunk server went away');
    if (!this.held.delete(MemorySlotAllocator.key(slot))) throw new FdfsError('ENOENT', 'no such held slot');
    if (status !== 0 && status !== 17) this.freeList.push(slot);
  }

  async free(slot: TrunkSlot): Promise<void> {
    this.frees.push(slot);
    this.freeList.push(slot);
  }
}
