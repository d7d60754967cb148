import { CMD, GROUP_NAME_LEN } from '../../protocol/codes.ts';
import { readFixed } from '../../protocol/fields.ts';
import { encodeStoreAllResponse, encodeStoreOneResponse } from '../../protocol/tracker-queries.ts';
import type { Request } from '../../net/packet-server.ts';
import type { GroupRecord, StorageRecord } from '../cluster.ts';
import type { TrackerContext } from '../context.ts';
import { checkExplicitGroup, chooseStoreGroup, chooseStorePath, chooseStoreServer } from '../selection.ts';
import { addressFor, bodyOfLength, type HandlerEntry } from './common.ts';

/** Group of a store query: named (104/107, exactly 16 bytes) or chosen by store_lookup (101/106). */
async function storeGroup(req: Request, ctx: TrackerContext, withGroup: boolean): Promise<GroupRecord> {
  const { cluster, policy } = ctx;
  if (withGroup) {
    const name = readFixed(await bodyOfLength(req, GROUP_NAME_LEN, 'query store with group'), 0, GROUP_NAME_LEN);
    return checkExplicitGroup(cluster.getGroup(name), name, policy) as GroupRecord;
  }
  await bodyOfLength(req, 0, 'query store');
  const groups = cluster.sortedGroups();
  const { index, nextCurrent } = chooseStoreGroup(groups, cluster.currentWriteGroup, policy);
  cluster.currentWriteGroup = nextCurrent;
  return groups[index]!;
}

/** §8.3 for the chosen storage; advances its write path in round-robin mode. */
function storePath(ctx: TrackerContext, g: GroupRecord, s: StorageRecord): number {
  const { index, nextCurrentWritePath } = chooseStorePath(s, s.storePathCount || g.storePathCount, {
    reserved: ctx.config.reserved_storage_space,
    useTrunk: ctx.config.use_trunk_file,
    storePath: ctx.config.store_path,
    trunkFreeMb: g.trunkFreeMb,
  });
  s.currentWritePath = nextCurrentWritePath;
  return index;
}

/** 101 / 104 (§2.1, §8.1–§8.3): one storage and a store path for an upload. */
function queryStoreOne(withGroup: boolean) {
  return async (req: Request, ctx: TrackerContext) => {
    const g = await storeGroup(req, ctx, withGroup);
    const { server, nextCurrent } = chooseStoreServer(g.writable, ctx.config.store_server, g.currentWriteServer);
    const storePathIndex = storePath(ctx, g, server);
    g.currentWriteServer = nextCurrent;
    return encodeStoreOneResponse({ group: g.name, ip: addressFor(server, req.conn.remoteIp), port: server.port, storePathIndex }, ctx.ips);
  };
}

/** 106 / 107: every writable storage of the group, the store path computed for the first one. */
function queryStoreAll(withGroup: boolean) {
  return async (req: Request, ctx: TrackerContext) => {
    const g = await storeGroup(req, ctx, withGroup);
    const servers = g.writable;
    const storePathIndex = storePath(ctx, g, servers[0]!);
    return encodeStoreAllResponse({
      group: g.name,
      servers: servers.map((s) => ({ ip: addressFor(s, req.conn.remoteIp), port: s.port })),
      storePathIndex,
    }, ctx.ips);
  };
}

export const queryStoreHandlers: HandlerEntry[] = [
  [CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE, queryStoreOne(false)],
  [CMD.SERVICE_QUERY_STORE_WITH_GROUP_ONE, queryStoreOne(true)],
  [CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ALL, queryStoreAll(false)],
  [CMD.SERVICE_QUERY_STORE_WITH_GROUP_ALL, queryStoreAll(true)],
];
