import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';

// ACTIVE_TEST (111), PROTOCOL.md §1.4: empty both ways; a body is malformed.

export function activeTest(req: Request): void {
  if (req.length !== 0) throw new FdfsError('EINVAL', `ACTIVE_TEST with a ${req.length}-byte body`);
}
