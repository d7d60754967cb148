import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import { ConnectionPool } from '../lib/client/pool.ts';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import { decodeGroupStats } from '../lib/protocol/records.ts';
import { RemoteSlots } from '../lib/storage/trunk/remote-slots.ts';
import { decodeTrunkInfo, encodeAllocRequest, encodeSlotRequest } from '../lib/storage/trunk/trunk-info.ts';
import type { TrunkSlot } from '../lib/storage/trunk/types.ts';
import { startDaemon } from '../lib/util/daemon-process.ts';
import { STORAGE_IPS, freePort, startCluster, waitFor, writeConf } from './helpers/cluster.ts';

// The trunk server role on real processes (PROTOCOL.md §11.5–§11.7, §11.10): the tracker picks a
// trunk server, it answers 27/28/29 from a raw connection, its trunk binlog reaches the other
// member through 30, and a restart from the snapshot or from the whole binlog gives one free set.

const TRUNK_TRACKER = {
  use_trunk_file: true, slot_min_size: '256', trunk_file_size: '4MB', slot_max_size: '1MB', check_active_interval: 5,
};

/** One request on a fresh connection; the status as an errno name ('OK' for 0). */
async function call(ip: string, port: number, cmd: number, body: Buffer = Buffer.alloc(0), status = 0): Promise<{ code: string; body: Buffer }> {
  const conn = await ClientConnection.connect(ip, port, { connectTimeout: 5, networkTimeout: 10 });
  try {
    return { code: 'OK', body: await conn.request(cmd, body, { status, maxResponse: 1024 }) };
  } catch (err) {
    if (err instanceof FdfsError && err.remote) return { code: err.code, body: Buffer.alloc(0) };
    throw err;
  } finally {
    conn.close();
  }
}

async function alloc(ip: string, port: number, group: string, size: number): Promise<TrunkSlot> {
  const r = await call(ip, port, CMD.TRUNK_ALLOC_SPACE, encodeAllocRequest(group, size, 0));
  assert.equal(r.code, 'OK');
  assert.equal(r.body.length, 15);
  return decodeTrunkInfo(r.body);
}

/** Free blocks of a snapshot without timestamps and line 1, sorted. */
function snapshotSet(file: string): string[] {
  return fs.readFileSync(file, 'latin1').trim().split('\n').slice(1).map((l) => l.split(' ').slice(2).join(' ')).sort();
}

describe('trunk server role', () => {
  test('the tracker picks a trunk server; 27/28/29 answers; the trunk binlog reaches the other member', async () => {
    const c = await startCluster({ storages: 2, tracker: TRUNK_TRACKER });
    try {
      const [ip1, ip2] = [STORAGE_IPS[0]!, STORAGE_IPS[1]!];
      const port = c.storagePort;
      // Whoever answers 27 is the trunk server; the other one refuses with EINVAL (§11.6).
      const first = (await waitFor('a trunk server', async () => {
        for (const ip of [ip1, ip2]) {
          const r = await call(ip, port, CMD.TRUNK_ALLOC_SPACE, encodeAllocRequest(c.group, 1000, 0));
          if (r.code === 'OK') return { ip, slot: decodeTrunkInfo(r.body) };
        }
        return null;
      }, 30000, 300))!;
      const ts = first.ip;
      const member = ts === ip1 ? ip2 : ip1;
      assert.equal((await call(member, port, CMD.TRUNK_ALLOC_SPACE, encodeAllocRequest(c.group, 1000, 0))).code, 'EINVAL');

      const s1 = first.slot;
      assert.equal(s1.size, 1000);
      assert.equal(s1.storePathIndex, 0);
      // A trunk file of trunk_file_size exists at <store_path0>/data/HH/HH/<id> (§11.3).
      const tsBase = path.join(c.dir, ts === ip1 ? 'storage1' : 'storage2');
      const hh = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
      const trunkFile = path.join(tsBase, 'data', hh(s1.subPathHigh), hh(s1.subPathLow), String(s1.trunkId).padStart(6, '0'));
      assert.equal(fs.statSync(trunkFile).size, 4 * 1024 * 1024);

      // 28: confirm once; a second confirm finds no held block.
      assert.equal((await call(ts, port, CMD.TRUNK_ALLOC_CONFIRM, encodeSlotRequest(c.group, s1), 0)).code, 'OK');
      assert.equal((await call(ts, port, CMD.TRUNK_ALLOC_CONFIRM, encodeSlotRequest(c.group, s1), 0)).code, 'ENOENT');
      // 29: free it; freeing it again overlaps a known block.
      assert.equal((await call(ts, port, CMD.TRUNK_FREE_SPACE, encodeSlotRequest(c.group, s1))).code, 'OK');
      assert.equal((await call(ts, port, CMD.TRUNK_FREE_SPACE, encodeSlotRequest(c.group, s1))).code, 'EEXIST');
      // Reuse: the same size gets the freed slot back.
      const s2 = await alloc(ts, port, c.group, 1000);
      assert.deepEqual(s2, s1);
      assert.equal((await call(ts, port, CMD.TRUNK_ALLOC_CONFIRM, encodeSlotRequest(c.group, s2), 17)).code, 'OK', 'EEXIST status keeps it used');
      // A failed upload (status EIO) frees the held slot again.
      const s3 = await alloc(ts, port, c.group, 5000);
      assert.equal((await call(ts, port, CMD.TRUNK_ALLOC_CONFIRM, encodeSlotRequest(c.group, s3), 5)).code, 'OK');
      assert.deepEqual(await alloc(ts, port, c.group, 5000), s3);
      // EINVAL rules of §11.6.
      assert.equal((await call(ts, port, CMD.TRUNK_ALLOC_SPACE, encodeAllocRequest(c.group, 2 * 1024 * 1024, 0))).code, 'EINVAL', 'size > slot_max_size');
      assert.equal((await call(ts, port, CMD.TRUNK_ALLOC_SPACE, encodeAllocRequest('other', 100, 0))).code, 'EINVAL', 'another group');
      assert.equal((await call(ts, port, CMD.TRUNK_ALLOC_SPACE, encodeAllocRequest(c.group, 100, 3))).code, 'EINVAL', 'store path out of range');
      assert.equal((await call(ts, port, CMD.TRUNK_ALLOC_SPACE, Buffer.alloc(20))).code, 'EINVAL', 'length ≠ 21');
      assert.equal((await call(ts, port, CMD.TRUNK_SYNC_BINLOG, Buffer.from('1 A 0 0 0 1 0 100\n'))).code, 'EINVAL', '30 to the trunk server');
      assert.equal((await call(ts, port, CMD.TRUNK_TRUNCATE_BINLOG_FILE)).code, 'EINVAL', '33 to the trunk server');
      assert.equal((await call(ts, port, CMD.TRUNK_GET_BINLOG_SIZE, Buffer.alloc(1))).code, 'EINVAL', '31 with a body');

      // 73/74 while trunk server (§11.5): the tracker learns the trunk file id and the free trunk MB.
      await waitFor('73 and 74 at the tracker', async () => {
        const r = await call('127.0.0.1', c.tracker.port, CMD.SERVER_LIST_ALL_GROUPS);
        const g = decodeGroupStats(r.body)[0]!;
        return g.current_trunk_file_id === 1 && g.trunk_free_mb === 3;
      }, 15000, 200);

      // 30: the member's copy becomes a byte copy of the trunk server's binlog; 31 agrees.
      const tsBinlog = path.join(tsBase, 'data', 'trunk', 'binlog');
      const memberBinlog = path.join(c.dir, member === ip1 ? 'storage1' : 'storage2', 'data', 'trunk', 'binlog');
      const text = (await waitFor('the trunk binlog on the trunk server', () => {
        const t = fs.readFileSync(tsBinlog, 'latin1');
        return t.split('\n').length >= 12 ? t : null;
      }, 10000, 100))!;
      assert.match(text, /^\d+ A 0 \d+ \d+ 1 0 4194304\n\d+ D 0 \d+ \d+ 1 0 4194304\n/);
      await waitFor('the trunk binlog on the member', () => fs.existsSync(memberBinlog) && fs.readFileSync(memberBinlog, 'latin1') === fs.readFileSync(tsBinlog, 'latin1'), 20000, 100);
      const size = await call(member, port, CMD.TRUNK_GET_BINLOG_SIZE);
      assert.equal(size.code, 'OK');
      assert.equal(Number(size.body.readBigInt64BE(0)), fs.statSync(tsBinlog).size);
      // The trunk server keeps its offset in a mark file per member.
      const marks = fs.readdirSync(path.join(tsBase, 'data', 'trunk')).filter((n) => n.endsWith('.mark'));
      assert.equal(marks.length, 1);

      // A member's SlotAllocator: 27/28/29 to the trunk server over pooled connections; EAGAIN
      // while no trunk server is known.
      const pool = new ConnectionPool();
      try {
        const route = { isTrunkServer: false, trunkServer: null as { ip: string; port: number } | null, requireAllocator: () => { throw new Error('not here'); }, o: { self: () => ({ group: c.group }) } };
        const slots = new RemoteSlots(route, pool);
        await assert.rejects(slots.alloc(100, 0), { code: 'EAGAIN' });
        route.trunkServer = { ip: ts, port };
        const r = await slots.alloc(700, 0);
        assert.equal(r.size, 700);
        await slots.confirm(r, 0);
        await slots.free(r);
        await assert.rejects(slots.free(r), { code: 'EEXIST' });
        await assert.rejects(slots.confirm(r, 0), { code: 'ENOENT' });
      } finally {
        pool.close();
      }

      // Failover: the trunk server dies; the tracker moves the role to the member (after 32), which
      // rebuilds the free space from its copy of the binlog and never hands out a used slot.
      await (ts === ip1 ? c.storages[0]! : c.storages[1]!).kill9();
      const next = (await waitFor('the member to become trunk server', async () => {
        const r = await call(member, port, CMD.TRUNK_ALLOC_SPACE, encodeAllocRequest(c.group, 1000, 0));
        return r.code === 'OK' ? decodeTrunkInfo(r.body) : null;
      }, 60000, 500))!;
      const overlaps = (a: TrunkSlot, b: TrunkSlot) => a.trunkId === b.trunkId && a.storePathIndex === b.storePathIndex
        && a.offset < b.offset + b.size && b.offset < a.offset + a.size;
      assert.equal(overlaps(next, s2), false, `new trunk server handed out ${JSON.stringify(next)}, which overlaps the used ${JSON.stringify(s2)}`);
      assert.equal((await call(member, port, CMD.TRUNK_ALLOC_CONFIRM, encodeSlotRequest(c.group, next), 0)).code, 'OK');
    } finally {
      await c.stop();
    }
  });

  test('restart from the snapshot and with trunk_init_reload_from_binlog gives the same free set', async () => {
    const trackerPort = await freePort(['127.0.0.1']);
    const c = await startCluster({ storages: 1, tracker: { ...TRUNK_TRACKER, port: trackerPort } });
    let tracker = c.tracker;
    try {
      const ip = STORAGE_IPS[0]!;
      const port = c.storagePort;
      const base = path.join(c.dir, 'storage1');
      const snapshot = path.join(base, 'data', 'storage_trunk.dat');
      const ready = () => waitFor('the trunk server', async () => {
        const r = await call(ip, port, CMD.TRUNK_ALLOC_SPACE, encodeAllocRequest(c.group, 300, 0));
        if (r.code !== 'OK') return null;
        const s = decodeTrunkInfo(r.body);
        assert.equal((await call(ip, port, CMD.TRUNK_ALLOC_CONFIRM, encodeSlotRequest(c.group, s), 0)).code, 'OK');
        return s;
      }, 30000, 300);
      const activity = async () => {
        const slots: TrunkSlot[] = [];
        for (let i = 0; i < 12; i++) slots.push(await alloc(ip, port, c.group, 500 + 100 * i));
        for (const s of slots.slice(0, 9)) assert.equal((await call(ip, port, CMD.TRUNK_ALLOC_CONFIRM, encodeSlotRequest(c.group, s), 0)).code, 'OK');
        for (const s of slots.slice(0, 4)) assert.equal((await call(ip, port, CMD.TRUNK_FREE_SPACE, encodeSlotRequest(c.group, s))).code, 'OK');
        // slots 9–11 stay held: after a reload they count as free (§11.7).
      };
      await ready();
      await activity();
      // Stopped before 3600 s of run time: no snapshot on the way out (§11.10).
      await c.storages[0]!.stop();
      assert.equal(fs.existsSync(snapshot), false);

      // Restart 1: no snapshot ⇒ full replay, then a snapshot is saved (records were replayed).
      await c.startStorage(0);
      await ready();
      await waitFor('the snapshot after a full replay', () => fs.existsSync(snapshot), 10000, 100);
      await activity();
      await c.storages[0]!.stop();

      // Restart 2: the snapshot plus the binlog after its offset; saved again.
      const before = fs.statSync(snapshot).mtimeMs;
      await c.startStorage(0);
      await waitFor('the snapshot after loading', () => fs.statSync(snapshot).mtimeMs !== before, 30000, 100);
      const fromSnapshot = snapshotSet(snapshot);
      await c.storages[0]!.stop();

      // Restart 3: the tracker now says trunk_init_reload_from_binlog: the snapshot is ignored.
      await tracker.stop();
      const conf = writeConf(path.join(c.dir, 'tracker.conf'), {
        bind_addr: '127.0.0.1', port: trackerPort, base_path: path.join(c.dir, 'tracker'), reserved_storage_space: '1%',
        ...TRUNK_TRACKER, trunk_init_reload_from_binlog: true,
      });
      tracker = await startDaemon({ label: 'tracker', args: ['tracker', 'start', '-c', conf] });
      fs.rmSync(snapshot);
      fs.writeFileSync(snapshot, '0\n'); // a stale snapshot that must be ignored
      const stale = fs.statSync(snapshot).mtimeMs;
      await c.startStorage(0);
      await waitFor('the snapshot after the full replay', () => fs.existsSync(snapshot) && fs.statSync(snapshot).mtimeMs !== stale && fs.statSync(snapshot).size > 2, 30000, 100);
      assert.deepEqual(snapshotSet(snapshot), fromSnapshot);
      assert.ok(fromSnapshot.length >= 5);
    } finally {
      if (tracker !== c.tracker) await tracker.stop();
      await c.stop();
    }
  });
});
