import { toFdfsError, type FdfsError } from '../protocol/errno.ts';
import type { StoreTarget } from '../protocol/tracker-queries.ts';

// Issue 15 defect 8: a frozen storage (SIGSTOP) kept its TCP port open and took uploads it never
// answered; the upload failed after network_timeout although the group had other members. An
// upload whose storage does not answer (nothing was acknowledged) is sent again to another member
// of the group, or to another group when the caller named none. The unanswered storage may still
// store its copy once it wakes: an orphan file, never a lost one.

/** Errors that mean "this storage did not answer", as opposed to an answer (ENOSPC, EINVAL…). */
const UNANSWERED: ReadonlySet<string> = new Set(['ETIMEDOUT', 'ECONNREFUSED', 'ECONNRESET', 'ENOTCONN', 'EHOSTUNREACH', 'EPIPE']);

/** Storages tried for one upload at most (the first included). */
export const UPLOAD_ATTEMPTS = 3;

function key(t: StoreTarget): string {
  return `${t.ip}:${t.port}`;
}

/**
 * Run `attempt` on `first`; when the storage does not answer, on the first of `others()` not
 * tried yet, up to UPLOAD_ATTEMPTS storages. The last "did not answer" error is thrown when
 * nobody else is left.
 */
export async function uploadWithFailover<T>(first: StoreTarget, attempt: (t: StoreTarget) => Promise<T>,
  others: () => Promise<StoreTarget[]>): Promise<T> {
  const tried = new Set<string>();
  let target = first;
  let last: FdfsError | undefined;
  for (let i = 0; i < UPLOAD_ATTEMPTS; i++) {
    tried.add(key(target));
    try {
      return await attempt(target);
    } catch (err) {
      last = toFdfsError(err);
      if (!UNANSWERED.has(last.code)) throw last;
    }
    const next = (await others().catch(() => [])).find((t) => !tried.has(key(t)));
    if (!next) break;
    target = next;
  }
  throw last!;
}
