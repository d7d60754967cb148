import fs from 'node:fs/promises';
import path from 'node:path';
import { FdfsError } from '../../protocol/errno.ts';
import type { Logger } from '../../util/log.ts';
import type { StorageContext } from '../context.ts';
import { locate, logicNameOfPath, type LocatedFile } from '../handlers/common.ts';
import { snapshot, type Snapshot } from './content-snapshot.ts';
import { trunkContentRange } from '../trunk/slot-io.ts';
import { parseTrunkName } from '../trunk/trunk-name.ts';
import type { LocalView } from './sender-plan.ts';

// The sender rules' view of this storage's files (sender-plan.ts LocalView): logic names located,
// and what is there now, through the storage engine (so trunk-stored names are found in their
// slots, PROTOCOL.md §11.11). Content itself is read by content-snapshot.ts: synchronously at
// dispatch, which the engine's async open() cannot do, so a trunk name is turned into its range
// of the trunk file here, after the §11.4 read check.

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

  snapshot(f: LocatedFile, offset = 0, length?: number): Snapshot | null {
    const t = parseTrunkName(f.logicName);
    if (!t) return snapshot(f.path, offset, length);
    // §11.11: the content is file_size bytes at slot offset + 24 of the trunk file.
    const range = trunkContentRange(this.ctx.storePaths, t);
    if (!range) return null;
    const len = length ?? range.size - offset;
    if (offset < 0 || offset + len > range.size) return null;
    return snapshot(range.file, range.offset + offset, len);
  }

  async isFile(f: LocatedFile): Promise<boolean> {
    return (await this.ctx.engine.stat(f, { follow: true }))?.type === 'file';
  }

  async exists(f: LocatedFile): Promise<boolean> {
    return (await this.ctx.engine.stat(f).catch(() => null)) !== null;
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
