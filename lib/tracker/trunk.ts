import { CMD, STORAGE_STATUS as ST } from '../protocol/codes.ts';
import { ClientConnection } from '../net/client-connection.ts';
import type { GroupRecord, StorageRecord } from './cluster.ts';
import type { TrackerContext } from './context.ts';
import { designatedStoreServer } from './selection.ts';

/**
 * The trunk server role (PROTOCOL.md §11.5), the leader's job. Simplified choice: the group's
 * store server (first writable member by id, or lowest upload_priority); the binlog-size
 * comparison through 31 is not done, since every member holds the same trunk binlog once synced.
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
    const candidate = designatedStoreServer(g.writable, ctx.config.store_server);
    if (!candidate) {
      if (current) this.clear(ctx, g, `trunk server ${current.id} stopped beating and no writable member can take over`);
      return;
    }
    if (candidate === current) return;
    void this.set(g, candidate);
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

function trunkLogLine(group: string, from: string, to: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  const ts = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return `[${ts}] ${group}  ${from || '-'}  =>  ${to || '-'}\n`;
}
