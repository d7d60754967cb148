import type { Buffer } from 'node:buffer';
import { FdfsError } from '../../protocol/errno.ts';
import { SYNC_CAPS_PROBE_STATUS, STORAGE_CAPS, encodeSyncCaps } from '../../protocol/capabilities.ts';
import type { Request } from '../../net/packet-server.ts';

// ACTIVE_TEST (111), PROTOCOL.md §1.4: empty both ways; a body is malformed. A client that sets
// the capability probe status (lib/protocol/capabilities.ts) gets our capabilities instead, so it
// sends fdfs extensions (122) only to fdfs storages; a C storage answers the probe empty.

export function activeTest(req: Request): Buffer | void {
  if (req.length !== 0) throw new FdfsError('EINVAL', `ACTIVE_TEST with a ${req.length}-byte body`);
  if (req.header.status === SYNC_CAPS_PROBE_STATUS) return encodeSyncCaps(STORAGE_CAPS);
}
