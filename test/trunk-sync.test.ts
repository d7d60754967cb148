import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CMD, HEADER_LEN, STORAGE_STATUS as ST } from '../lib/protocol/codes.ts';
import { decodeHeader, encodeHeader } from '../lib/protocol/header.ts';
import { FileNameGenerator } from '../lib/storage/file-names.ts';
import { StorePaths } from '../lib/storage/store-paths.ts';
import { TrunkAllocator } from '../lib/storage/trunk/allocator.ts';
import { memoryFlagStore } from '../lib/storage/trunk/flag-store.ts';
import { parseTrunkParameters } from '../lib/storage/trunk/parameters.ts';
import { precreateTrunkFiles } from '../lib/storage/trunk/precreate.ts';
import { TrunkRole } from '../lib/storage/trunk/role.ts';
import { silentLogger } from '../lib/util/log.ts';
import { loadStorageConfig } from '../lib/config/storage-config.ts';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { StorageServer } from '../lib/storage/storage-server.ts';
import { decodeTrunkInfo, encodeAllocRequest, encodeSlotRequest } from '../lib/storage/trunk/trunk-info.ts';
import { waitFor } from './helpers/cluster.ts';

// The trunk server's sync senders (PROTOCOL.md §11.7) and pre-creation (§11.9).

const MB = 1024 * 1024;

/** A member that records every command it receives and answers status 0, empty. */
async function fakeMember(): Promise<{ port: number; got: Array<{ cmd: number; body: Buffer }>; close(): Promise<void> }> {
  const got: Array<{ cmd: number; body: Buffer }> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (buf.length < HEADER_LEN) return;
        const h = decodeHeader(buf);
        if (buf.length < HEADER_LEN + h.length) return;
        got.push({ cmd: h.cmd, body: buf.subarray(HEADER_LEN, HEADER_LEN + h.length) });
        buf = buf.subarray(HEADER_LEN + h.length);
        sock.write(encodeHeader(0, CMD.RESP, 0));
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    got,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

async function role(dir: string, self: { ip: string; port: number }, upTime = Math.floor(Date.now() / 1000)) {
  const store = path.join(dir, 'store0');
  fs.mkdirSync(store, { recursive: true });
  const storePaths = new StorePaths({ paths: [{ path: store, readonly: false }], subdirCount: 2 });
  await storePaths.init();
  const r = new TrunkRole({
    dataDir: path.join(dir, 'data'), storePaths, names: new FileNameGenerator({ subdirCount: 2, mode: 0, rotateCount: 1 }), pathMode: 0,
    flags: memoryFlagStore(), log: silentLogger, upTime,
    self: () => ({ id: self.ip, ips: [self.ip], port: self.port, useStorageId: false, group: 'group1' }),
    reserve: () => ({ kind: 'mb', mb: 0, text: '0MB' }),
    dial: { connectTimeout: 2, networkTimeout: 5 }, heartBeatMs: 30_000, syncWaitMs: 20, syncIntervalMs: 0,
  });
  await r.configure(parseTrunkParameters(new Map([['use_trunk_file', '1'], ['trunk_file_size', '4MB']]))!);
  return { r, storePaths };
}

describe('trunk sync senders', () => {
  test('a member on our own IP with another port gets a sender, on its own port: 33 first, then 30 with whole lines', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-trunk-sync-'));
    const member = await fakeMember();
    const { r } = await role(dir, { ip: '127.0.0.1', port: 1 });
    try {
      // Become trunk server without trackers: load the (empty) allocator directly.
      r.isTrunkServer = true;
      await r.loadAllocator();
      assert.ok(r.allocator);
      r.onMembers([
        { status: ST.ACTIVE, id: '127.0.0.1', ip: '127.0.0.1', port: 1 }, // ourselves
        { status: ST.ACTIVE, id: '200', ip: '127.0.0.1', port: member.port }, // same IP, other port (6.16 skips it)
        { status: ST.DELETED, id: '127.0.0.9', ip: '127.0.0.9', port: member.port },
      ]);
      assert.equal(r.syncSenders.length, 1);
      assert.equal(r.syncSenders[0]!.peer.port, member.port);
      const slot = await r.slots.alloc(1000, 0);
      await r.slots.confirm(slot, 0);
      await r.binlog!.flush();
      const size = r.binlog!.flushedSize;
      await waitFor('the binlog at the member', () => member.got.filter((g) => g.cmd === CMD.TRUNK_SYNC_BINLOG).reduce((n, g) => n + g.body.length, 0) === size, 10000, 20);
      assert.equal(member.got[0]!.cmd, CMD.TRUNK_TRUNCATE_BINLOG_FILE, 'offset 0 ⇒ 33 first');
      const sent = Buffer.concat(member.got.filter((g) => g.cmd === CMD.TRUNK_SYNC_BINLOG).map((g) => g.body));
      assert.deepEqual(sent, fs.readFileSync(r.binlog!.file));
      for (const g of member.got.filter((x) => x.cmd === CMD.TRUNK_SYNC_BINLOG)) assert.equal(g.body.at(-1), 0x0a, 'whole lines');
      const mark = path.join(dir, 'data', 'trunk', `127.0.0.1_${member.port}.mark`);
      await waitFor('the mark file', () => fs.existsSync(mark) && fs.readFileSync(mark, 'latin1') === `binlog_offset=${size}\n`, 5000, 20);
      // 74's value: free + held bytes in MB.
      assert.deepEqual(r.trunkReport(), { fileId: 1, freeMb: 3 });

      // A compression (§11.10): the member gets 33 again and then the whole compressed binlog.
      await r.compress();
      const compressed = fs.readFileSync(r.binlog!.file);
      assert.equal(compressed.toString('latin1').trim().split('\n').length, 1, 'one A line per free block');
      await waitFor('33 and the compressed binlog at the member', () => {
        const last33 = member.got.map((g) => g.cmd).lastIndexOf(CMD.TRUNK_TRUNCATE_BINLOG_FILE);
        if (last33 <= 0) return false;
        const after = Buffer.concat(member.got.slice(last33).filter((g) => g.cmd === CMD.TRUNK_SYNC_BINLOG).map((g) => g.body));
        return after.equals(compressed);
      }, 10000, 20);
    } finally {
      await r.stop();
      await member.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('stopping after an hour of run time saves the snapshot (§11.10); before that it does not', async () => {
    for (const [age, saved] of [[4000, true], [10, false]] as const) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-trunk-stop-'));
      const { r } = await role(dir, { ip: '127.0.0.1', port: 1 }, Math.floor(Date.now() / 1000) - age);
      await r.becomeStandalone();
      const s = await r.slots.alloc(1000, 0);
      await r.slots.confirm(s, 0);
      await r.stop();
      const snap = path.join(dir, 'data', 'storage_trunk.dat');
      assert.equal(fs.existsSync(snap), saved, `run time ${age} s`);
      if (saved) assert.match(fs.readFileSync(snap, 'latin1'), /^\d+\n\d+ A 0 \d+ \d+ 1 1000 4193304\n$/);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('pre-creation tops the free trunk space up to the threshold', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-trunk-pre-'));
    const { storePaths } = await role(dir, { ip: '127.0.0.1', port: 1 });
    let id = 0;
    const a = new TrunkAllocator({
      params: { slotMinSize: 256, trunkFileSize: 4 * MB, allocAlignmentSize: 0 }, storePathCount: 1,
      newTrunkFile: async (p) => ({ storePathIndex: p, subPathHigh: 0, subPathLow: 0, trunkId: ++id }),
    });
    const o = { allocator: a, params: { createFileSpaceThreshold: 10 * MB, trunkFileSize: 4 * MB }, storePaths, reserve: { kind: 'mb' as const, mb: 0, text: '0MB' }, log: silentLogger };
    assert.equal(await precreateTrunkFiles(o), 2);
    assert.equal(a.totalFreeBytes, 8 * MB);
    assert.equal(await precreateTrunkFiles(o), 0, '2 MB short is less than one trunk file');
    await assert.rejects(precreateTrunkFiles({ ...o, params: { ...o.params, createFileSpaceThreshold: 100 * MB }, reserve: { kind: 'ratio', ratio: 0.9999, text: '99.99%' } }), { code: 'ENOSPC' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('a storage without trackers', () => {
  test('is its own trunk server: ctx.trunkAllocator and 27 work, 31 reports the binlog size', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-trunk-alone-'));
    const sc = loadStorageConfig({ overrides: { group_name: 'group1', base_path: dir, bind_addr: '127.0.0.1',
      tracker_server: ['127.0.0.1:1'], subdir_count_per_path: 2 } }).config;
    const storage = new StorageServer(sc, undefined, { reporter: false, listenPort: 0, myIp: ['127.0.0.1'],
      parameters: { reserved_storage_space: '0MB', use_trunk_file: '1', trunk_file_size: '4MB', slot_max_size: '1MB' } });
    const addr = await storage.start();
    try {
      assert.equal(fs.existsSync(path.join(dir, 'data', 'trunk', 'binlog')), true, 'data/trunk/binlog exists once 75 says use_trunk_file');
      const slots = storage.trunkRole!.slots;
      const s = await slots.alloc(2000, 0);
      assert.equal(s.size, 2000);
      await slots.confirm(s, 0);
      const conn = await ClientConnection.connect('127.0.0.1', addr.port);
      try {
        const info = decodeTrunkInfo(await conn.request(CMD.TRUNK_ALLOC_SPACE, encodeAllocRequest('group1', 100, 0), { maxResponse: 15 }));
        assert.equal(info.offset, 2000);
        await conn.request(CMD.TRUNK_ALLOC_CONFIRM, encodeSlotRequest('group1', info), { status: 0 });
        await slots.free(s);
        await storage.trunkRole!.binlog!.flush();
        const size = await conn.request(CMD.TRUNK_GET_BINLOG_SIZE, [], { maxResponse: 8 });
        assert.equal(Number(size.readBigInt64BE(0)), fs.statSync(path.join(dir, 'data', 'trunk', 'binlog')).size);
      } finally {
        conn.close();
      }
    } finally {
      await storage.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
