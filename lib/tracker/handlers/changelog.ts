import { CMD, GROUP_NAME_LEN, STORAGE_ID_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { readFixed } from '../../protocol/fields.ts';
import type { Request } from '../../net/packet-server.ts';
import { connData, type TrackerContext } from '../context.ts';
import { changelogChunkSize } from '../persistence.ts';
import { einval, groupField, requireGroup, type HandlerEntry } from './common.ts';

/**
 * 77 CHANGELOG_REQ (PROTOCOL.md §4.15): the next unread bytes of storage_changelog.dat for a
 * storage — the joined one (empty body) or GROUP + ID on a short connection. The read offset
 * advances and is persisted with the servers file.
 */
async function changelogReq(req: Request, ctx: TrackerContext) {
  let s = connData(req.conn).storage;
  if (s) {
    if (req.length !== 0) throw einval(`CHANGELOG_REQ on a joined connection must be empty, got ${req.length} bytes`);
  } else {
    if (req.length !== GROUP_NAME_LEN + STORAGE_ID_LEN) throw einval(`CHANGELOG_REQ body of ${req.length} bytes, expected ${GROUP_NAME_LEN + STORAGE_ID_LEN}`);
    const body = await req.body();
    const g = requireGroup(ctx, groupField(body));
    const id = readFixed(body, GROUP_NAME_LEN, STORAGE_ID_LEN);
    s = g.find(id);
    if (!s) throw new FdfsError('ENOENT', `no storage ${id} in group ${g.name}`);
  }
  const size = ctx.store.changelogSize;
  if (s.changelogOffset > size) s.changelogOffset = size;
  const n = changelogChunkSize(size - s.changelogOffset);
  if (n === 0) return undefined;
  const chunk = await ctx.store.readChangelog(s.changelogOffset, n);
  s.changelogOffset += chunk.length;
  void ctx.store.save('servers');
  return chunk;
}

export const changelogHandlers: HandlerEntry[] = [
  [CMD.STORAGE_CHANGELOG_REQ, changelogReq],
];
