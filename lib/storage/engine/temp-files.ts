import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { sweepTempFiles, sweepTempFilesIn } from '../../util/temp-sweep.ts';
import type { StorePaths } from '../store-paths.ts';

// Where content waits until it is committed under its name, and how start-up removes what a
// crash (kill -9) left there. The one place that knows these names: no stored file's name starts
// with a dot (§6.4's alphabet has none) and handlers/common.ts refuses such names, so a temp file
// can never be read, deleted or replicated through the protocol.
//
// Two places, by design:
// - content under a name the engine builds (UPLOAD 11/23, a linked slave's content) waits in its
//   final sub-directory as `.<16 hex>.tmp` (§6.5: the last step is a rename inside one directory);
// - content under a name the request carries (SYNC_CREATE/UPDATE 16/18, a slave 21) waits in
//   `<store path>/data/.cp<seq>.tmp`, as the C storage does for sync (PROTOCOL.md §5.2); the data
//   directory is one readdir, so start-up clears those before it serves.

/** `.<16 hex>.tmp` in a sub-directory. */
export const NEW_FILE_TEMP = /^\.[0-9a-f]{16}\.tmp$/;
/** `.cp<seq>.tmp` in a data directory (PROTOCOL.md §5.2). */
export const INCOMING_TEMP = /^\.cp\d+\.tmp$/;

// A random prefix per process and a counter: unique without a randomBytes() call per upload (the
// file is created with 'wx', so even a clash with a leftover of an earlier process fails safely).
const tempPrefix = randomBytes(4).toString('hex');
let tempSeq = randomBytes(4).readUInt32BE(0);

/** A fresh temp path in `dir` for content under a new name. */
export function newFileTempIn(dir: string): string {
  tempSeq = (tempSeq + 1) >>> 0;
  return path.join(dir, `.${tempPrefix}${tempSeq.toString(16).padStart(8, '0')}.tmp`);
}

/** Names incoming sync content `data/.cp<seq>.tmp`; the sequence starts from the clock, so a restart does not reuse one. */
export class IncomingTempNames {
  private seq = Date.now();

  in(dataDir: string): string {
    return path.join(dataDir, `.cp${++this.seq}.tmp`);
  }
}

function* subdirs(paths: StorePaths): Generator<string> {
  for (let i = 0; i < paths.count; i++) {
    for (let h = 0; h < paths.subdirCount; h++) {
      for (let l = 0; l < paths.subdirCount; l++) yield paths.subdir(i, h, l);
    }
  }
}

/** Incoming sync content left in the data directories (never visible; all of it predates this process's serving). */
export async function sweepIncomingTemps(paths: StorePaths, startedMs: number): Promise<number> {
  let n = 0;
  for (let i = 0; i < paths.count; i++) n += await sweepTempFiles(paths.dataDir(i), { match: INCOMING_TEMP, olderThanMs: startedMs });
  return n;
}

/** New-file content left in the sub-directories: reads every `data/HH/HH`, four at a time. */
export function sweepNewFileTemps(paths: StorePaths, startedMs: number): Promise<number> {
  return sweepTempFilesIn(subdirs(paths), { match: NEW_FILE_TEMP, olderThanMs: startedMs }, 4);
}
