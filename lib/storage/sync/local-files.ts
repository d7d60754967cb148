import fs from 'node:fs/promises';
import path from 'node:path';
import { FdfsError } from '../../protocol/errno.ts';
import type { Logger } from '../../util/log.ts';
import type { StorageContext } from '../context.ts';
import { locate, logicNameOfPath } from '../handlers/common.ts';
import { snapshot, type Snapshot } from './content-snapshot.ts';
import type { LocalView } from './sender-plan.ts';

// The sender rules' view of this storage's files (sender-plan.ts LocalView): names to paths, and
// what is there now. Content itself is read by content-snapshot.ts.

function absent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export class LocalFiles implements LocalView {
  constructor(private readonly ctx: StorageContext, private readonly log: Logger) {}

  path(name: string): string | null {
    try {
      return locate(this.ctx, name).path;
    } catch (err) {
      if (err instanceof FdfsError && err.code === 'EINVAL') this.log('warn', `binlog names an invalid file ${JSON.stringify(name)}; not synced`);
      return null;
    }
  }

  snapshot(p: string, offset?: number, length?: number): Snapshot | null {
    return snapshot(p, offset, length);
  }

  async isFile(p: string): Promise<boolean> {
    try {
      return (await fs.stat(p)).isFile();
    } catch (err) {
      if (absent(err)) return false;
      throw err;
    }
  }

  async exists(p: string): Promise<boolean> {
    try {
      await fs.lstat(p);
      return true;
    } catch {
      return false;
    }
  }

  async linkTarget(p: string): Promise<string | null> {
    let raw: string;
    try {
      raw = await fs.readlink(p);
    } catch {
      return null;
    }
    return logicNameOfPath(this.ctx, path.resolve(path.dirname(p), raw)) ?? '';
  }
}
