import type { Buffer } from 'node:buffer';
import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import {
  ALLOC_REQUEST_LEN, SLOT_REQUEST_LEN, decodeAllocRequest, decodeSlotRequest, encodeTrunkInfo,
} from '../trunk/trunk-info.ts';
import { keepsSlot } from '../trunk/remote-slots.ts';
import type { TrunkService, TrunkSlot } from '../trunk/types.ts';

// 27 TRUNK_ALLOC_SPACE, 28 TRUNK_ALLOC_CONFIRM, 29 TRUNK_FREE_SPACE on the trunk server
// (PROTOCOL.md §11.6). EINVAL: not the trunk server or allocator not loaded, wrong length, another
// group, size < 0 or > slot_max_size (27), store path index out of range.

function service(ctx: StorageContext): TrunkService {
  if (!ctx.trunk?.params) throw new FdfsError('EINVAL', 'use_trunk_file is off');
  return ctx.trunk;
}

async function fixedBody(req: Request, len: number, what: string): Promise<Buffer> {
  if (req.length !== len) throw new FdfsError('EINVAL', `${what} body of ${req.length} bytes, expected ${len}`);
  return req.body();
}

function checkGroupAndPath(ctx: StorageContext, group: string, storePathIndex: number): void {
  if (group !== ctx.groupName) throw new FdfsError('EINVAL', `group ${group} is not this storage's group ${ctx.groupName}`);
  if (storePathIndex >= ctx.storePaths.count) {
    throw new FdfsError('EINVAL', `store path index ${storePathIndex} out of range 0..${ctx.storePaths.count - 1}`);
  }
}

export async function trunkAllocSpace(req: Request, ctx: StorageContext): Promise<Buffer> {
  const trunk = service(ctx);
  const r = decodeAllocRequest(await fixedBody(req, ALLOC_REQUEST_LEN, 'TRUNK_ALLOC_SPACE'));
  checkGroupAndPath(ctx, r.group, r.storePathIndex);
  if (r.size < 0 || r.size > trunk.params!.slotMaxSize) {
    throw new FdfsError('EINVAL', `trunk space of ${r.size} bytes requested, slot_max_size is ${trunk.params!.slotMaxSize}`);
  }
  const slot = await trunk.requireAllocator().alloc(r.size, r.storePathIndex);
  return encodeTrunkInfo(slot);
}

async function slotRequest(req: Request, ctx: StorageContext, what: string): Promise<{ trunk: TrunkService; slot: TrunkSlot }> {
  const trunk = service(ctx);
  const r = decodeSlotRequest(await fixedBody(req, SLOT_REQUEST_LEN, what));
  checkGroupAndPath(ctx, r.group, r.slot.storePathIndex);
  return { trunk, slot: r.slot };
}

/** header.status carries the upload's result: 0 / EEXIST keep the slot used, others free it. */
export async function trunkAllocConfirm(req: Request, ctx: StorageContext): Promise<void> {
  const { trunk, slot } = await slotRequest(req, ctx, 'TRUNK_ALLOC_CONFIRM');
  trunk.requireAllocator().confirm(slot, req.header.status);
  // The reply acknowledges the upload: its records must outlive this trunk server (§11.5, §11.7).
  if (keepsSlot(req.header.status)) await trunk.replicated();
}

export async function trunkFreeSpace(req: Request, ctx: StorageContext): Promise<void> {
  const { trunk, slot } = await slotRequest(req, ctx, 'TRUNK_FREE_SPACE');
  trunk.requireAllocator().free(slot);
}
