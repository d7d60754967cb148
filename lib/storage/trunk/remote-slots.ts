import type { Buffer } from 'node:buffer';
import type { ConnectionPool } from '../../client/pool.ts';
import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { TrunkAllocator } from './allocator.ts';
import { decodeTrunkInfo, encodeAllocRequest, encodeSlotRequest, TRUNK_INFO_LEN } from './trunk-info.ts';
import type { SlotAllocator, TrunkSlot } from './types.ts';

// The SlotAllocator the data path uses (PROTOCOL.md §11.2, §11.6, §11.11): direct calls when this
// storage is the trunk server, else 27 / 28 / 29 to the trunk server on pooled connections.

export interface SlotRoute {
  readonly isTrunkServer: boolean;
  readonly trunkServer: { ip: string; port: number } | null;
  requireAllocator(): TrunkAllocator;
  /** The trunk server's records up to here reached the members (TrunkRole.replicated). */
  replicated?(): Promise<void>;
  readonly o: { self(): { group: string } };
}

/** §11.6: 28 with status 0 or EEXIST keeps the slot used (a `D` record); others free it. */
export function keepsSlot(status: number): boolean {
  return status === 0 || status === 17;
}

export class RemoteSlots implements SlotAllocator {
  constructor(private readonly route: SlotRoute, private readonly pool: ConnectionPool) {}

  private target(): { ip: string; port: number } {
    const t = this.route.trunkServer;
    if (!t || !t.ip) throw new FdfsError('EAGAIN', 'no trunk server known for this group yet');
    return t;
  }

  private call(cmd: number, body: Buffer, status = 0, maxResponse = 0): Promise<Buffer> {
    const t = this.target();
    return this.pool.run(t.ip, t.port, (conn) => conn.request(cmd, body, { status, maxResponse }), { role: 'trunk server' });
  }

  async alloc(size: number, storePathIndex: number): Promise<TrunkSlot> {
    if (this.route.isTrunkServer) return this.route.requireAllocator().alloc(size, storePathIndex);
    const reply = await this.call(CMD.TRUNK_ALLOC_SPACE, encodeAllocRequest(this.route.o.self().group, size, storePathIndex), 0, TRUNK_INFO_LEN);
    if (reply.length !== TRUNK_INFO_LEN) throw new FdfsError('EPROTO', `TRUNK_ALLOC_SPACE reply of ${reply.length} bytes, expected ${TRUNK_INFO_LEN}`);
    return decodeTrunkInfo(reply);
  }

  async confirm(slot: TrunkSlot, status: number): Promise<void> {
    if (this.route.isTrunkServer) {
      this.route.requireAllocator().confirm(slot, status);
      if (keepsSlot(status)) await this.route.replicated?.();
      return;
    }
    await this.call(CMD.TRUNK_ALLOC_CONFIRM, encodeSlotRequest(this.route.o.self().group, slot), status);
  }

  async free(slot: TrunkSlot): Promise<void> {
    if (this.route.isTrunkServer) { this.route.requireAllocator().free(slot); return; }
    await this.call(CMD.TRUNK_FREE_SPACE, encodeSlotRequest(this.route.o.self().group, slot));
  }
}
