import { FdfsError } from '../../protocol/errno.ts';
import type { TrunkOp } from './binlog-line.ts';
import { sameSlot } from './binlog-line.ts';
import type { TrunkFileRef } from './trunk-file.ts';
import type { TrunkParameters, TrunkSlot } from './types.ts';

// The trunk server's free-space allocator (PROTOCOL.md §11.8, C trunk_mem.c and
// trunk_free_block_checker.c): per store path an ordered map slot size → blocks (newest first),
// each FREE or HOLD, plus a per-trunk-file index sorted by offset that refuses overlaps (EEXIST).

export interface Block extends TrunkSlot {
  /** Handed out by 27, waiting for its 28 (§11.8 HOLD). */
  hold: boolean;
}

export interface AllocatorOptions {
  params: Pick<TrunkParameters, 'slotMinSize' | 'trunkFileSize' | 'allocAlignmentSize'>;
  storePathCount: number;
  /** A trunk binlog record (§11.7); absent while loading (replayed records are not logged again). */
  record?(op: TrunkOp, slot: TrunkSlot): void;
  /** Create a new trunk file on a store path (§11.3) and say where it is. */
  newTrunkFile?(storePathIndex: number): Promise<TrunkFileRef>;
}

function fileKey(s: TrunkSlot): string {
  return `${s.storePathIndex}:${s.trunkId}`;
}

/** First index in `a` (ascending) whose value is ≥ v. */
function lowerBound(a: readonly number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function offsetBound(a: readonly Block[], offset: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]!.offset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class TrunkAllocator {
  private readonly opts: AllocatorOptions;
  private readonly bySize: Array<Map<number, Block[]>>;
  private readonly sizes: number[][];
  private readonly byFile = new Map<string, Block[]>();
  private creating: Promise<void> = Promise.resolve();
  private total = 0;
  private count = 0;

  constructor(opts: AllocatorOptions) {
    this.opts = opts;
    this.bySize = Array.from({ length: opts.storePathCount }, () => new Map());
    this.sizes = Array.from({ length: opts.storePathCount }, () => []);
  }

  get params(): AllocatorOptions['params'] { return this.opts.params; }

  /** §11.5: free + held bytes (what 74 reports). */
  get totalFreeBytes(): number { return this.total; }

  get blockCount(): number { return this.count; }

  /** Every block, by store path, then size, oldest first. */
  blocks(): Block[] {
    const out: Block[] = [];
    for (let p = 0; p < this.bySize.length; p++) {
      for (const size of this.sizes[p]!) out.push(...this.bySize[p]!.get(size)!);
    }
    return out;
  }

  /** §11.8 step 1: the slot size handed out for a request of `r` bytes (content + 24). */
  slotSizeFor(r: number): number {
    const { slotMinSize, allocAlignmentSize } = this.opts.params;
    if (r <= slotMinSize) return slotMinSize;
    if (allocAlignmentSize > 0) return Math.ceil(r / allocAlignmentSize) * allocAlignmentSize;
    return r;
  }

  /**
   * Add a block; EEXIST when it overlaps a known block, free or held (trunk_free_block_checker.c).
   * A store path index out of range is EINVAL.
   */
  add(slot: TrunkSlot, hold = false): Block {
    const p = slot.storePathIndex;
    if (!Number.isInteger(p) || p < 0 || p >= this.bySize.length) {
      throw new FdfsError('EINVAL', `trunk block on store path ${p}, which does not exist`);
    }
    if (!(slot.size > 0) || slot.offset < 0) throw new FdfsError('EINVAL', `trunk block of size ${slot.size} at ${slot.offset}`);
    const key = fileKey(slot);
    let list = this.byFile.get(key);
    if (!list) { list = []; this.byFile.set(key, list); }
    const i = offsetBound(list, slot.offset);
    const prev = list[i - 1];
    const next = list[i];
    if ((prev && prev.offset + prev.size > slot.offset) || (next && slot.offset + slot.size > next.offset)) {
      throw new FdfsError('EEXIST', `trunk block ${describe(slot)} overlaps a known block`);
    }
    const block: Block = { ...pick(slot), hold };
    list.splice(i, 0, block);
    const map = this.bySize[p]!;
    let chain = map.get(slot.size);
    if (!chain) {
      chain = [];
      map.set(slot.size, chain);
      const sizes = this.sizes[p]!;
      sizes.splice(lowerBound(sizes, slot.size), 0, slot.size);
    }
    chain.push(block);
    this.total += slot.size;
    this.count++;
    return block;
  }

  /** The known block equal to `slot` in all six fields, or undefined. */
  find(slot: TrunkSlot): Block | undefined {
    const list = this.byFile.get(fileKey(slot));
    if (!list) return undefined;
    const b = list[offsetBound(list, slot.offset)];
    return b && sameSlot(b, slot) ? b : undefined;
  }

  /** Remove the block equal to `slot`; false when there is none. */
  remove(slot: TrunkSlot): boolean {
    const b = this.find(slot);
    if (!b) return false;
    this.drop(b);
    return true;
  }

  private drop(b: Block): void {
    const key = fileKey(b);
    const list = this.byFile.get(key)!;
    list.splice(list.indexOf(b), 1);
    if (list.length === 0) this.byFile.delete(key);
    const map = this.bySize[b.storePathIndex]!;
    const chain = map.get(b.size)!;
    chain.splice(chain.indexOf(b), 1);
    if (chain.length === 0) {
      map.delete(b.size);
      const sizes = this.sizes[b.storePathIndex]!;
      sizes.splice(lowerBound(sizes, b.size), 1);
    }
    this.total -= b.size;
    this.count--;
  }

  /** §11.8 step 2: smallest size ≥ s with a FREE block; in its chain the newest FREE block. */
  private pickFree(p: number, s: number): Block | undefined {
    const sizes = this.sizes[p]!;
    for (let i = lowerBound(sizes, s); i < sizes.length; i++) {
      const chain = this.bySize[p]!.get(sizes[i]!)!;
      for (let j = chain.length - 1; j >= 0; j--) if (!chain[j]!.hold) return chain[j];
    }
    return undefined;
  }

  /**
   * 27 ALLOC_SPACE (§11.8): a HOLD slot of at least `r` bytes on store path `p`, split from the
   * smallest fitting FREE block, or from a new trunk file when there is none.
   */
  async alloc(r: number, p: number): Promise<TrunkSlot> {
    if (!Number.isInteger(p) || p < 0 || p >= this.bySize.length) {
      throw new FdfsError('EINVAL', `store path index ${p} out of range 0..${this.bySize.length - 1}`);
    }
    const s = this.slotSizeFor(r);
    if (s > this.opts.params.trunkFileSize) throw new FdfsError('EINVAL', `slot of ${s} bytes is larger than a trunk file`);
    let b = this.pickFree(p, s);
    if (!b) {
      // One creation at a time: concurrent requests wait and then share the new file.
      const previous = this.creating;
      let done!: () => void;
      this.creating = new Promise<void>((resolve) => { done = resolve; });
      try {
        await previous;
        b = this.pickFree(p, s);
        if (!b) {
          await this.createFile(p);
          b = this.pickFree(p, s)!;
        }
      } finally {
        done();
      }
    }
    return this.splitAndHold(b, s);
  }

  /** A new trunk file on store path `p` (§11.3), its whole space one FREE block (`A`, §11.7). */
  async createFile(p: number): Promise<TrunkSlot> {
    if (!this.opts.newTrunkFile) throw new FdfsError('ENOSPC', `no free trunk space on store path ${p}`);
    const ref = await this.opts.newTrunkFile(p);
    const whole = { ...ref, offset: 0, size: this.opts.params.trunkFileSize };
    this.add(whole);
    this.opts.record?.('A', whole);
    return whole;
  }

  private splitAndHold(b: Block, s: number): TrunkSlot {
    const { slotMinSize } = this.opts.params;
    const whole = pick(b);
    this.drop(b);
    this.opts.record?.('D', whole);
    let handed: TrunkSlot = whole;
    if (whole.size - s >= slotMinSize) {
      const tail = { ...whole, offset: whole.offset + s, size: whole.size - s };
      this.add(tail);
      this.opts.record?.('A', tail);
      handed = { ...whole, size: s };
    }
    this.add(handed, true);
    this.opts.record?.('A', handed);
    return handed;
  }

  /**
   * 28 ALLOC_CONFIRM (§11.6): status 0 or EEXIST (17) takes the held block out of the free space
   * (`D`), any other status makes it free again (no record). ENOENT: no held block with these values.
   */
  confirm(slot: TrunkSlot, status: number): void {
    const b = this.find(slot);
    if (!b || !b.hold) throw new FdfsError('ENOENT', `no held trunk block ${describe(slot)}`);
    if (status === 0 || status === 17) {
      this.drop(b);
      this.opts.record?.('D', pick(b));
    } else {
      b.hold = false;
    }
  }

  /**
   * 29 FREE_SPACE / a local delete (§11.8): a block below slot_min_size is forgotten; otherwise it
   * becomes FREE (`A`), EEXIST when it overlaps a known block. No merging here.
   */
  free(slot: TrunkSlot): void {
    if (slot.size < this.opts.params.slotMinSize) return;
    this.add(slot);
    this.opts.record?.('A', pick(slot));
  }

  /**
   * §11.8 merging (snapshot time): every block, FREE and HOLD, sorted by (path, high, low, id,
   * offset); touching runs of one trunk file become one FREE block. Replaces the state; returns
   * the new blocks.
   */
  merge(): TrunkSlot[] {
    const all = this.blocks().map(pick);
    all.sort((a, b) => a.storePathIndex - b.storePathIndex || a.subPathHigh - b.subPathHigh
      || a.subPathLow - b.subPathLow || a.trunkId - b.trunkId || a.offset - b.offset);
    const merged: TrunkSlot[] = [];
    for (const s of all) {
      const last = merged[merged.length - 1];
      if (last && last.storePathIndex === s.storePathIndex && last.subPathHigh === s.subPathHigh
        && last.subPathLow === s.subPathLow && last.trunkId === s.trunkId && last.offset + last.size === s.offset) {
        last.size += s.size;
      } else {
        merged.push({ ...s });
      }
    }
    this.reset(merged);
    return merged;
  }

  /** Replace every block by `slots`, all FREE (a merge, a rollback). */
  reset(slots: readonly TrunkSlot[]): void {
    for (const m of this.bySize) m.clear();
    for (const s of this.sizes) s.length = 0;
    this.byFile.clear();
    this.total = 0;
    this.count = 0;
    for (const s of slots) this.add(s);
  }
}

function pick(s: TrunkSlot): TrunkSlot {
  return {
    storePathIndex: s.storePathIndex, subPathHigh: s.subPathHigh, subPathLow: s.subPathLow,
    trunkId: s.trunkId, offset: s.offset, size: s.size,
  };
}

export function describe(s: TrunkSlot): string {
  return `path ${s.storePathIndex} ${s.subPathHigh}/${s.subPathLow} trunk ${s.trunkId} offset ${s.offset} size ${s.size}`;
}
