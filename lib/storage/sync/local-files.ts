import fs from 'node:fs/promises';
import path from 'node:path';
import { FdfsError } from '../../protocol/errno.ts';
import type { Logger } from '../../util/log.ts';
import type { StorageContext } from '../context.ts';
import { locate, logicNameOfPath, type LocatedFile } from '../handlers/common.ts';
import { snapshot, type Snapshot } from './content-snapshot.ts';
import type { LocalView } from './sender-plan.ts';

// The sender rules' view of this storage's files (sender-plan.ts LocalView): logic names located,
// and what is there now. Content itself is read by content-snapshot.ts. With content-snapshot.ts,
// the only place the sync sender touches the store paths: what switches to the storage engine.

function absent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export class LocalFiles implements LocalView {
  constructor(private readonly ctx: StorageContext, private readonly log: Logger) {}

  file(name: string): LocatedFile | null {
    try {
      return locate(this.ctx, name);
    } catch (err) {
      if (err instanceof FdfsError && err.code === 'EINVAL') this.log('warn', `binlog names an invalid file ${JSON.stringify(name)}; not synced`);
      return null;
    }
  }

  snapshot(f: LocatedFile, offset?: number, length?: number): Snapshot | null {
    return snapshot(f.path, offset, length);
  }

  async isFile(f: LocatedFile): Promise<boolean> {
    try {
      return (await fs.stat(f.path)).isFile();
    } catch (err) {
      if (absent(err)) return false;
      throw err;
    }
  }

  async exists(f: LocatedFile): Promise<boolean> {
    try {
      await fs.lstat(f.path);
      return true;
    } catch {
      return false;
    }
  }

  async linkTarget(f: LocatedFile): Promise<string | null> {
    let raw: string;
    try {
      raw = await fs.readlink(f.path);
    } catch {
      return null;
    }
    return logicNameOfPath(this.ctx, path.resolve(path.dirname(f.path), raw)) ?? '';
  }
}
