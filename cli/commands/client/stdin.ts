import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { pipeline } from 'node:stream/promises';
import { FdfsError } from '../../../lib/protocol/errno.ts';

// FastDFS announces a content's size before the content (PROTOCOL.md §3.1, §3.9), which stdin
// cannot tell: `-` is spooled to a temporary file first, streamed, never held in memory.

interface Spooled {
  file: string;
  cleanup(): void;
}

async function spoolStdin(prefix = 'fdfs-stdin-'): Promise<Spooled> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(dir, 'stdin');
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    await pipeline(process.stdin, fs.createWriteStream(file));
  } catch (err) {
    cleanup();
    throw err;
  }
  return { file, cleanup };
}

/** Run fn with a local path for `source`: the file itself, or stdin spooled when it is `-`. */
export async function withSource<T>(source: string, fn: (file: string, fromStdin: boolean) => Promise<T>): Promise<T> {
  if (source !== '-') return fn(source, false);
  const spooled = await spoolStdin();
  try {
    return await fn(spooled.file, true);
  } catch (err) {
    // The spool file is ours: a message names what the user gave, stdin.
    if (err instanceof FdfsError && (err.subject === spooled.file || err.message.includes(spooled.file))) {
      const detail = err.message.slice(err.code.length + 2).split(` (${spooled.file})`).join('').split(spooled.file).join('stdin');
      throw new FdfsError(err.errno, detail, { subject: 'stdin', cause: err, server: err.server, command: err.command });
    }
    throw err;
  } finally {
    spooled.cleanup();
  }
}
