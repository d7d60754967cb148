import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StorageContext } from '../lib/storage/context.ts';
import { PlainEngine } from '../lib/storage/engine/plain-engine.ts';
import { FileNameGenerator } from '../lib/storage/file-names.ts';
import { locate } from '../lib/storage/handlers/common.ts';
import { StorePaths } from '../lib/storage/store-paths.ts';
import { storageEngineConformance, type EngineFixture } from './helpers/storage-engine-conformance.ts';

// Every storage engine passes the same contract (issue 12, STYLE.md rule 5). A second engine adds
// one storageEngineConformance('<name>', factory) call here.

async function plainFixture(): Promise<EngineFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-engine-'));
  const storePaths = new StorePaths({ paths: [{ path: dir, readonly: false }], subdirCount: 2 });
  await storePaths.init();
  const names = new FileNameGenerator({ subdirCount: 2, mode: 0, rotateCount: 1 });
  names.source = { ip: '127.0.0.9' };
  const engine = new PlainEngine({ storePaths, names });
  const ctx = { storePaths } as StorageContext;
  let n = 0;
  return {
    engine,
    storePathIndex: 0,
    ref: (logicName) => locate(ctx, logicName),
    freshName: () => names.makeName({ storePathIndex: 0, high: 1, low: 0, timestamp: 1_700_000_000 + ++n, size: n, crc32: n, ext: 'dat', kind: 'normal' }),
    close: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

storageEngineConformance('plain files', plainFixture);
