import { CMD, GROUP_NAME_LEN, MAX_FILENAME_LEN } from '../../protocol/codes.ts';
import { decodeFileName } from '../../protocol/filename.ts';
import { decodeFileRequest, encodeFetchResponse } from '../../protocol/tracker-queries.ts';
import type { Request } from '../../net/packet-server.ts';
import type { GroupRecord, StorageRecord } from '../cluster.ts';
import type { TrackerContext } from '../context.ts';
import { chooseFetchAll, chooseFetchOne, chooseUpdate, type FetchContext } from '../selection.ts';
import { addressFor, bodyInRange, einval, requireGroup, type HandlerEntry } from './common.ts';

/** §2.2: "M00/…" names of 22 ≤ n < 128 bytes. */
const MIN_NAME_LEN = 22;

interface FetchQuery {
  g: GroupRecord;
  fetch: FetchContext<StorageRecord>;
  subject: string;
}

/**
 * Decode a 102/103/105 request and the file name in it (§6.4), and find the source storage: by id
 * when the name holds a server id, else by IP (and the group's port) (§8.4).
 */
async function parseQuery(req: Request, ctx: TrackerContext): Promise<FetchQuery> {
  const body = await bodyInRange(req, GROUP_NAME_LEN + MIN_NAME_LEN, GROUP_NAME_LEN + MAX_FILENAME_LEN, 'query fetch/update');
  const { group, logicName } = decodeFileRequest(body);
  const subject = `${group}/${logicName}`;
  const g = requireGroup(ctx, group);
  const name = decodeFileName(logicName);
  if (!name) throw einval('file name cannot be decoded', subject);
  const source = 'id' in name.source
    ? g.find(String(name.source.id))
    : g.members.find((m) => m.ips.includes((name.source as { ip: string }).ip) && (g.port <= 0 || m.port === g.port));
  const c = ctx.config;
  return {
    g,
    subject,
    fetch: {
      readable: g.readable,
      writable: g.writable,
      source,
      normal: name.type === 'normal',
      fileTimestamp: name.timestamp,
      now: ctx.now(),
      downloadServer: c.download_server,
      storeServer: c.store_server,
      syncFileMaxDelay: c.storage_sync_file_max_delay,
      syncFileMaxTime: c.storage_sync_file_max_time,
      currentReadServer: g.currentReadServer,
      currentWriteServer: g.currentWriteServer,
    },
  };
}

function reply(req: Request, ctx: TrackerContext, g: GroupRecord, servers: StorageRecord[]) {
  return encodeFetchResponse({ group: g.name, servers: servers.map((s) => ({ ip: addressFor(s, req.conn.remoteIp), port: s.port })) }, ctx.ips);
}

/** 102 FETCH_ONE: a storage to download from. */
async function fetchOne(req: Request, ctx: TrackerContext) {
  const q = await parseQuery(req, ctx);
  const { server, nextReadServer } = chooseFetchOne(q.fetch, q.subject);
  q.g.currentReadServer = nextReadServer;
  return reply(req, ctx, q.g, [server]);
}

/** 103 UPDATE: the storage that must take a delete / metadata / append (the source if it can). */
async function update(req: Request, ctx: TrackerContext) {
  const q = await parseQuery(req, ctx);
  const { server, nextWriteServer } = chooseUpdate(q.fetch, q.subject);
  q.g.currentWriteServer = nextWriteServer;
  return reply(req, ctx, q.g, [server]);
}

/** 105 FETCH_ALL: every storage that may hold the file. */
async function fetchAll(req: Request, ctx: TrackerContext) {
  const q = await parseQuery(req, ctx);
  return reply(req, ctx, q.g, chooseFetchAll(q.fetch, q.subject));
}

export const queryFetchHandlers: HandlerEntry[] = [
  [CMD.SERVICE_QUERY_FETCH_ONE, fetchOne],
  [CMD.SERVICE_QUERY_UPDATE, update],
  [CMD.SERVICE_QUERY_FETCH_ALL, fetchAll],
];
