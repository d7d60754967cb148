import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseTrunkName } from '../lib/storage/trunk/trunk-name.ts';
import { FdfsClient } from '../lib/client/client.ts';
import { STORAGE_IPS, startCluster, tempDir, waitFor } from './helpers/cluster.ts';
import { addrOf, readFrom, split, waitActive } from './helpers/replication.ts';

// Disk recovery of a store path holding trunk files (PROTOCOL.md §5.11 step 5 / restore step 3,
// §11.11): the recovering member fetches each trunk file whole, once, instead of one plain file
// per trunk-stored name; afterwards every file reads back from its slot.

const TRUNK_TRACKER = { use_trunk_file: true, slot_min_size: 256, slot_max_size: '64K', trunk_file_size: '4M' };

/** `HH/HH/<name>` of every regular file under a store path's data folder, but work/temp files. */
function dataFiles(store: string): string[] {
  const data = path.join(store, 'data');
  return (fs.readdirSync(data, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile()).map((d) => path.relative(data, path.join(d.parentPath, d.name)))
    .filter((f) => /^[0-9A-F]{2}\/[0-9A-F]{2}\/[^.]/.test(f)).sort();
}

test('a wiped store path with trunk files is rebuilt: whole trunk files, no per-name plain files, every file readable', { timeout: 180_000 }, async () => {
  const stores = tempDir('fdfs-trunk-stores-');
  const store = (i: number) => path.join(stores, `store${i + 1}`);
  const c = await startCluster({
    storages: 2, tracker: TRUNK_TRACKER,
    storageEach: (i) => { fs.mkdirSync(store(i), { recursive: true }); return { store_path0: store(i) }; },
  });
  const client = new FdfsClient({ trackers: [c.trackerAddr] });
  try {
    await waitActive(c, 2, 30000);
    const files = new Map<string, Buffer>();
    const first = crypto.randomBytes(3000);
    files.set((await waitFor('a trunk server', () => client.upload(first).catch(() => null), 30000, 200))!, first);
    for (let i = 0; i < 600; i++) {
      const data = crypto.randomBytes(1024 + crypto.randomInt(15 * 1024));
      files.set(await client.upload(data, { ext: 'bin' }), data);
    }
    for (const id of files.keys()) assert.ok(parseTrunkName(split(id).name), `${id} is trunk-stored`);
    const ts = (await client.listStorages(c.group)).find((s) => s.if_trunk_server)!.ip_addr;
    const victim = STORAGE_IPS[0] === ts ? 1 : 0; // wipe the member that is not trunk server
    const source = addrOf(c.storages[1 - victim]!);
    await waitFor('every file on both members', async () => {
      for (const [id, data] of files) {
        for (const a of c.storages.map(addrOf)) if (!(await readFrom(a, id))?.equals(data)) return false;
      }
      return true;
    }, 60000, 500);
    const before = dataFiles(store(1 - victim));
    assert.ok(before.filter((f) => /\/\d{6}$/.test(f)).length >= 2, `several trunk files: ${before.join(' ')}`);

    await c.storages[victim]!.stop();
    for (const e of fs.readdirSync(store(victim))) fs.rmSync(path.join(store(victim), e), { recursive: true, force: true });
    await c.startStorage(victim);
    await waitActive(c, 2, 60000);

    // The same files as the source: the trunk files (and no 60-character plain files).
    assert.deepEqual(dataFiles(store(victim)), before);
    const me = addrOf(c.storages[victim]!);
    for (const [id, data] of files) assert.deepEqual(await readFrom(me, id), data, id);
    assert.ok(await readFrom(source, [...files.keys()][0]!));
  } finally {
    await client.close();
    await c.stop();
    fs.rmSync(stores, { recursive: true, force: true });
  }
});
