import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CMD } from '../lib/protocol/codes.ts';
import { encodeHeader } from '../lib/protocol/header.ts';
import { UPLOAD_FIXED_LEN, encodeUploadRequest } from '../lib/protocol/storage-requests.ts';
import { startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import { addrOf, readFrom, storageBase, uploadTo, waitActive } from './helpers/replication.ts';

// Issue 12: an upload cut by a kill -9 of the storage leaves its temp file (`.<hex>.tmp` in the
// file's sub-directory, never visible); the next start removes it (the engine's sweep), and the
// storage serves as before.

let cluster: Cluster;

before(async () => {
  cluster = await startCluster({ storages: 1 });
  await waitActive(cluster, 1);
});

after(async () => {
  await cluster?.stop();
});

/** Upload temp files under one storage's data directory. */
function uploadTemps(base: string): string[] {
  const out: string[] = [];
  const data = path.join(base, 'data');
  for (const h of fs.readdirSync(data).filter((n) => /^[0-9A-F]{2}$/.test(n))) {
    for (const l of fs.readdirSync(path.join(data, h))) {
      for (const f of fs.readdirSync(path.join(data, h, l))) if (f.endsWith('.tmp')) out.push(path.join(h, l, f));
    }
  }
  return out;
}

test('kill -9 in the middle of an upload: the temp file is gone after the next start, uploads work', async () => {
  const base = storageBase(cluster, 0);
  const s = addrOf(cluster.storages[0]!);
  const declared = 64 * 1024 * 1024;
  const sent = randomBytes(2 * 1024 * 1024);
  const sock = net.connect(s.port, s.host);
  sock.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    sock.write(Buffer.concat([
      encodeHeader(UPLOAD_FIXED_LEN + declared, CMD.UPLOAD_FILE, 0),
      encodeUploadRequest({ storePathIndex: 0, fileSize: declared, ext: 'bin' }),
      sent,
    ]));
    // The storage is now streaming the body into a temp file and waits for the rest.
    const temps: string[] = await waitFor('the upload temp file', () => {
      const t = uploadTemps(base);
      return t.length > 0 && fs.statSync(path.join(base, 'data', t[0]!)).size > 0 ? t : null;
    }, 15000) ?? [];
    assert.ok(temps.length > 0);
    await cluster.storages[0]!.kill9();
    assert.ok(temps.every((t) => fs.existsSync(path.join(base, 'data', t))), 'the kill -9 left the temp file');
  } finally {
    sock.destroy();
  }

  await cluster.startStorage(0);
  await waitFor('the start-up sweep to remove the temp file', () => uploadTemps(base).length === 0, 15000);
  assert.deepEqual(uploadTemps(base), []);
  const data = randomBytes(300_000);
  const id = await uploadTo(addrOf(cluster.storages[0]!), data);
  assert.deepEqual(await readFrom(addrOf(cluster.storages[0]!), id), data);
});
