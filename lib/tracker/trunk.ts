import { CMD, STORAGE_STATUS as ST } from '../protocol/codes.ts';
import { ClientConnection } from '../net/client-connection.ts';
import type { GroupRecord, StorageRecord } from './cluster.ts';
import type { TrackerContext } from './context.ts';
import { designatedStoreServer } from './selection.ts';

/**
 * The trunk server role (PROTOCOL.md §11.5), the leader's job. Choice: the group's store server
 * (first writable member by id, or lowest upload_priority) unless another writable member holds a
 * longer trunk binlog (31): the member with the most of the log rebuilds the most exact free-space
 * view. 6.16 compares each member with the store server's size only, so the last member larger than
 * it wins; we take the largest, as the design intends (§13 lists the defect).
 */
export class TrunkCoordinator {
  private readonly busy = new Set<string>();

  constructor(private readonly ctx: () => TrackerContext) {}

  /** Give `group` a trunk server if it has none or its current one stopped beating (§11.5). */
  check(groupName: string): void {
    const ctx = this.ctx();
    // §8.6: choosing the trunk server is a leader-only duty; followers learn it from 65 replies.
    if (!ctx.config.use_trunk_file || !ctx.election.isLeader || this.busy.has(groupName)) return;
    const g = ctx.cluster.getGroup(groupName);
    if (!g) return;
    const current = g.trunkServerId ? g.find(g.trunkServerId) : undefined;
    if (current && !this.stale(ctx, current)) return;
    const storeServer = designatedStoreServer(g.writable, ctx.config.store_server);
    if (!storeServer) {
      if (current) this.clear(ctx, g, `trunk server ${current.id} stopped beating and no writable member can take over`);
      return;
    }
    void this.choose(g, storeServer, current);
  }

  /** §11.5 steps 1–3: 31 to the store server (failure: nothing changes), then to the others. */
  private async choose(g: GroupRecord, storeServer: StorageRecord, current: StorageRecord | undefined): Promise<void> {
    const ctx = this.ctx();
    this.busy.add(g.name);
    let candidate: StorageRecord;
    try {
      let best = await this.binlogSize(ctx, storeServer);
      if (best === null) return;
      candidate = storeServer;
      for (const s of g.writable) {
        if (s === storeServer) continue;
        const size = await this.binlogSize(ctx, s);
        if (size !== null && size > best) {
          best = size;
          candidate = s;
        }
      }
    } finally {
      this.busy.delete(g.name);
    }
    if (candidate === current) return;
    await this.set(g, candidate);
  }

  /** 31 TRUNK_GET_BINLOG_SIZE on a new connection; null when it fails. */
  private async binlogSize(ctx: TrackerContext, s: StorageRecord): Promise<number | null> {
    let conn: ClientConnection | undefined;
    try {
      conn = await ClientConnection.connect(s.ip, s.port, { connectTimeout: ctx.config.connect_timeout, networkTimeout: ctx.config.network_timeout });
      const body = await conn.request(CMD.TRUNK_GET_BINLOG_SIZE, [], { maxResponse: 8 });
      return body.length === 8 ? Number(body.readBigInt64BE(0)) : null;
    } catch (err) {
      ctx.log('debug', `group ${g(s)}: TRUNK_GET_BINLOG_SIZE to ${s.id}: ${(err as Error).message}`);
      return null;
    } finally {
      conn?.close();
    }
  }

  /** §11.5: k × check_active_interval without heartbeat (k = 2; 3 while it started recently). */
  private stale(ctx: TrackerContext, s: StorageRecord): boolean {
    const interval = ctx.config.check_active_interval;
    const now = ctx.now();
    let k = now - s.upTime < 10 * interval ? (ctx.config.trunk_init_check_occupying ? 5 : 3) : 2;
    if (ctx.config.trunk_init_reload_from_binlog) k *= 2;
    return s.status !== ST.ACTIVE || now - s.lastHeartBeatTime > k * interval;
  }

  private clear(ctx: TrackerContext, g: GroupRecord, why: string): void {
    ctx.log('warn', `group ${g.name}: ${why}`);
    const old = g.trunkServerId;
    g.trunkServerId = '';
    g.trunkChangeCount++;
    void ctx.store.logTrunkChange(trunkLogLine(g.name, old, ''));
    void ctx.store.save('groups');
  }

  /**
   * Make `s` the trunk server. A new server different from the last one first gets 32 so that
   * it rebuilds its allocator from its own binlog; if that fails nothing changes this round.
   */
  async set(g: GroupRecord, s: StorageRecord): Promise<boolean> {
    const ctx = this.ctx();
    if (this.busy.has(g.name)) return false;
    this.busy.add(g.name);
    try {
      if (g.lastTrunkServerId && g.lastTrunkServerId !== s.id) {
        let conn: ClientConnection | undefined;
        try {
          conn = await ClientConnection.connect(s.ip, s.port, { connectTimeout: ctx.config.connect_timeout, networkTimeout: ctx.config.network_timeout });
          await conn.request(CMD.TRUNK_DELETE_BINLOG_MARKS);
        } catch (err) {
          ctx.log('warn', `group ${g.name}: cannot make ${s.id} trunk server: ${(err as Error).message}`);
          return false;
        } finally {
          conn?.close();
        }
      }
      const old = g.trunkServerId;
      g.trunkServerId = s.id;
      g.lastTrunkServerId = s.id;
      g.trunkChangeCount++;
      ctx.log('info', `group ${g.name}: trunk server ${old || '-'} => ${s.id}`);
      await ctx.store.logTrunkChange(trunkLogLine(g.name, old, s.id));
      await ctx.store.save('groups');
      return true;
    } finally {
      this.busy.delete(g.name);
    }
  }
}

function g(s: StorageRecord): string {
  return s.group.name;
}

function trunkLogLine(group: string, from: string, to: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  const ts = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return `[${ts}] ${group}  ${from || '-'}  =>  ${to || '-'}\n`;
}
