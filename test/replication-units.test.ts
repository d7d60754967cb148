import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CMD, STORAGE_STATUS as ST } from '../lib/protocol/codes.ts';
import { encodeHeader } from '../lib/protocol/header.ts';
import { SyncChannel } from '../lib/storage/sync/sync-channel.ts';
import { BinlogReader, type BinlogItem } from '../lib/storage/sync/binlog-reader.ts';
import {
  decodeSyncFileHeader, decodeSyncPair, decodeSyncRangeHeader, encodeReportServerId, encodeSyncDelete, encodeSyncFile,
  encodeSyncPair, encodeSyncRange,
} from '../lib/storage/sync/codec.ts';
import { formatMark, markAsideSuffix, markFileName, parseMark } from '../lib/storage/sync/mark-file.ts';
import { SyncReceiver } from '../lib/storage/sync/receiver.ts';
import { insideSyncWindow } from '../lib/storage/sync/sync-manager.ts';
import { Cluster } from '../lib/tracker/cluster.ts';
import { capturesDir, haveCaptures, loadCapture, packetBody } from './helpers/captures.ts';

// The pieces of replication that need no network: codecs against recorded 6.16.1 bytes, the mark
// file, the binlog reader, the receiver's progress figures and the tracker's use of them.

const noCaptures = haveCaptures() ? false : 'captures not available (../shared/captures)';

describe('sync request codecs (§5.1–§5.6) against 6.16.1 bytes', { skip: noCaptures }, () => {
  const sync = haveCaptures() ? loadCapture('storage-sync.json') : null;
  /** Recorded request bodies of one command without stale bytes in their group field. */
  const bodies = (cmd: number) => sync!.packets.filter((p) => p.dir === 'c2s' && p.cmd === cmd && !p.elided && !/stale/.test(p.notes ?? '')).map(packetBody);

  test('16 SYNC_CREATE_FILE: fixed part and name byte for byte', () => {
    const body = bodies(16)[0]!;
    const h = decodeSyncFileHeader(body);
    const name = body.toString('latin1', 36, 36 + h.nameLength);
    const ours = encodeSyncFile(h.group, name, h.fileSize, h.timestamp);
    assert.deepEqual(ours, body.subarray(0, 36 + h.nameLength));
    assert.equal(body.length, 36 + h.nameLength + h.fileSize);
  });

  test('stale bytes after the group name do not reach the decoded group (captures/README.md #2)', () => {
    const stale = sync!.packets.find((p) => p.dir === 'c2s' && p.cmd === 16 && /stale/.test(p.notes ?? ''))!;
    assert.equal(decodeSyncFileHeader(packetBody(stale)).group, 'group1');
  });

  test('17 SYNC_DELETE_FILE, 25/35/37, 40 SYNC_RENAME_FILE, 9 REPORT_SERVER_ID', () => {
    const del = bodies(17)[0]!;
    const name = del.toString('latin1', 20);
    assert.deepEqual(encodeSyncDelete('group1', name, del.readInt32BE(0)), del);
    for (const cmd of [25, 35, 37]) {
      // Some of these carry stale bytes after the group's NUL: zero them, as a writer should.
      const b = Buffer.from(sync!.packets.filter((p) => p.dir === 'c2s' && p.cmd === cmd).map(packetBody)[0]!);
      b.fill(0, 28 + b.indexOf(0, 28) - 28, 44);
      const h = decodeSyncRangeHeader(b);
      assert.equal(h.group, 'group1');
      const n = b.toString('latin1', 44, 44 + h.nameLength);
      assert.deepEqual(encodeSyncRange('group1', n, h.first, h.second, h.timestamp), b.subarray(0, 44 + h.nameLength));
    }
    const ren = bodies(40)[0]!;
    const r = decodeSyncPair(ren);
    assert.equal(r.first, 'M00/00/00/fwAAA2sGnnGAQRZsAAAAEuY8FBE604.txt');
    assert.equal(r.second, 'M00/00/00/fwAAA2sGnm6ECqYNAAAAAA_-AcM604.txt');
    assert.deepEqual(encodeSyncPair('group1', r.first, r.second, r.timestamp), ren);
    assert.deepEqual(encodeReportServerId('127.0.0.2'), bodies(9).find((b) => b.toString('latin1').startsWith('127.0.0.2'))!);
  });
});

describe('mark files (§5.9)', () => {
  test('the 6.16.1 mark file reads and writes back byte for byte', { skip: noCaptures }, () => {
    const text = fs.readFileSync(path.join(capturesDir(), 'disk/main/s1/127.0.0.3_23060.mark'), 'latin1');
    const m = parseMark(text);
    assert.deepEqual(m, { binlogIndex: 0, binlogOffset: 2284, needSyncOld: true, syncOldDone: true, untilTimestamp: 1795595849, scanRowCount: 37, syncRowCount: 22 });
    assert.equal(formatMark(m), text);
  });

  test('names: by id with storage ids, else peer ip and own port; renamed-aside suffix', () => {
    assert.equal(markFileName({ id: '100002', ip: '127.0.0.3' }, true, 23060), '100002.mark');
    assert.equal(markFileName({ id: '127.0.0.3', ip: '127.0.0.3' }, false, 23060), '127.0.0.3_23060.mark');
    assert.equal(markAsideSuffix(new Date(2026, 10, 25, 8, 38, 57)), '20261125083857');
  });
});

describe('binlog reader (§7.1, §7.2, §5.10)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-binlog-reader-'));
  const name = (n: number) => `M00/00/00/fwAAAmsGnkGATEe2AAAAKt11vBM${String(n).padStart(3, '0')}.txt`;
  let writeIndex = 1;
  const reader = () => new BinlogReader({ dir, currentIndex: () => writeIndex, start: { index: 0, offset: 0 } });
  async function all(r: BinlogReader): Promise<BinlogItem[]> {
    const out: BinlogItem[] = [];
    for (;;) {
      const it = await r.next();
      if (it.kind === 'eof') return out;
      out.push(it);
    }
  }

  test('records across a rotation; broken 6.16.1 link lines are skippable, other bad lines are not', async () => {
    fs.writeFileSync(path.join(dir, 'binlog.000'), [
      `1795595841 C ${name(1)}\n`,
      `1795595842 L  ${name(1)}\n`, // 6.16.1: the link name lost (§3.3)
      `1795595843 l \n`, // 6.16.1 replica link record (§5.5)
      `1795595844 L ${name(2)} ${name(1)}\n`,
      `1795595845 L ${name(3)}\n`, // target read from the local link (§5.5)
      `garbage\n`,
      `1795595846 A ${name(1)} 6 6\n`,
    ].join(''));
    fs.writeFileSync(path.join(dir, 'binlog.001'), `1795595847 D ${name(1)}\n${'1795595848 C M00/00/00/' + 'x'.repeat(250)}\n1795595849 R ${name(4)} ${name(1)}\n`);
    const r = reader();
    const items = await all(r);
    const brief = items.map((i) => (i.kind === 'record' ? `${i.record.op}:${i.record.extra ?? ''}` : i.kind === 'invalid' ? `invalid:${i.skippable}` : 'eof'));
    assert.deepEqual(brief, ['C:', 'invalid:true', 'invalid:true', `L:${name(1)}`, 'L:', 'invalid:false', 'A:6 6', 'D:', 'invalid:false', `R:${name(1)}`]);
    assert.deepEqual(r.position, { index: 1, offset: fs.statSync(path.join(dir, 'binlog.001')).size });
    await r.close();
  });

  test('an unterminated last line waits for its end; new lines are picked up where it stopped', async () => {
    const r = reader();
    await all(r);
    const file = path.join(dir, 'binlog.001');
    fs.appendFileSync(file, `1795595850 U ${name(4)}`);
    assert.equal((await r.next()).kind, 'eof');
    fs.appendFileSync(file, '-m\n');
    const it = await r.next();
    assert.equal(it.kind, 'record');
    assert.equal(it.kind === 'record' && it.record.name, `${name(4)}-m`);
    writeIndex = 2;
    fs.writeFileSync(path.join(dir, 'binlog.002'), `1795595851 C ${name(5)}\n`);
    const next = await r.next();
    assert.ok(next.kind === 'record' && next.start.index === 2 && next.start.offset === 0);
    await r.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

test('sync window (§5.10): whole day, daytime, across midnight', () => {
  const at = (h: number, m: number) => new Date(2026, 0, 1, h, m);
  const t = (hour: number, minute: number) => ({ hour, minute });
  assert.equal(insideSyncWindow(at(3, 0), t(0, 0), t(23, 59)), true);
  assert.equal(insideSyncWindow(at(3, 0), t(8, 0), t(18, 0)), false);
  assert.equal(insideSyncWindow(at(12, 0), t(8, 0), t(18, 0)), true);
  assert.equal(insideSyncWindow(at(23, 30), t(22, 0), t(6, 0)), true);
  assert.equal(insideSyncWindow(at(3, 0), t(22, 0), t(6, 0)), true);
  assert.equal(insideSyncWindow(at(12, 0), t(22, 0), t(6, 0)), false);
});

test('receiver progress: a record of second T proves files before T − 1; a watermark sender counts by its watermarks', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-receiver-'));
  try {
    const r = new SyncReceiver(dir);
    assert.equal(r.reported('A'), 0);
    r.applied(undefined, 100); // a connection that never sent REPORT_SERVER_ID: not attributed (§4.7)
    assert.equal(r.timestamps().size, 0);
    r.applied('A', 100);
    assert.equal(r.reported('A'), 99);
    r.watermark('A', 105);
    assert.equal(r.reported('A'), 105);
    // Records of a watermark sender may arrive out of order (several connections): only its
    // watermarks count from then on.
    r.applied('A', 300);
    assert.equal(r.reported('A'), 105);
    const seen = new Promise((resolve) => r.once('change', resolve));
    r.applied('B', 200);
    assert.deepEqual([...(await seen as Map<string, number>)], [['A', 105], ['B', 199]]);
    await r.close();
    const again = new SyncReceiver(dir);
    await again.load();
    assert.deepEqual([...again.timestamps()], [['A', 105], ['B', 199]], 'kept across a restart');
    again.forget('B');
    assert.deepEqual([...again.timestamps()], [['A', 105]]);
    await again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('tracker: a replica counts as synced only up to its slowest ACTIVE source, silent ones included (§7.3, §8.4)', () => {
  const c = new Cluster();
  const g = c.addGroup('group1', 23000, 1, 256);
  const a = c.addStorage(g, 'A', ['10.0.0.1'], 23000, ST.ACTIVE);
  const b = c.addStorage(g, 'B', ['10.0.0.2'], 23000, ST.ACTIVE);
  const d = c.addStorage(g, 'D', ['10.0.0.3'], 23000, ST.OFFLINE);
  c.recordSyncReport(b, [{ peerId: 'A', timestamp: 1000 }, { peerId: 'B', timestamp: 0 }, { peerId: 'D', timestamp: 0 }], 0);
  assert.equal(b.lastSyncedTimestamp, 1000, 'D is not ACTIVE: it does not count');
  // D becomes ACTIVE and has not been heard of by B: B may lack D's new files.
  c.setStatus(d, ST.ACTIVE, 'test');
  assert.equal(b.lastSyncedTimestamp, 0);
  c.recordSyncReport(b, [{ peerId: 'A', timestamp: 1010 }, { peerId: 'D', timestamp: 990 }], 0);
  assert.equal(b.lastSyncedTimestamp, 990);
  c.setStatus(d, ST.OFFLINE, 'test');
  assert.equal(b.lastSyncedTimestamp, 1010);
  assert.equal(a.lastSyncedTimestamp, 0, 'A never reported');
});


test('sender: a status-0 answer with a body (6.16.1 echoes SYNC_RENAME_FILE, captures/README.md #1) keeps the pipeline framed', async () => {
  // A stand-in receiver that answers like 6.16.1: the rename's request body comes back.
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 10) {
        const len = Number(buf.readBigInt64BE(0));
        if (buf.length < 10 + len) break;
        const cmd = buf[8]!;
        const body = buf.subarray(10, 10 + len);
        buf = buf.subarray(10 + len);
        const echo = cmd === CMD.SYNC_RENAME_FILE ? body : Buffer.alloc(0);
        sock.write(Buffer.concat([encodeHeader(echo.length, CMD.RESP, 0), echo]));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const ch = await SyncChannel.open('127.0.0.1', port, { connectTimeout: 5, networkTimeout: 5, window: 8 });
  try {
    // Pipelined: all three written before the first answer is read.
    const a = ch.request(CMD.REPORT_SERVER_ID, encodeReportServerId('127.0.0.2')).reply;
    const b = ch.request(CMD.SYNC_RENAME_FILE, encodeSyncPair('group1', 'M00/00/00/new.txt', 'M00/00/00/old.txt', 1)).reply;
    const c = ch.request(CMD.ACTIVE_TEST, Buffer.alloc(0)).reply;
    assert.equal((await a).status, 0);
    const rb = await b;
    assert.equal(rb.status, 0);
    assert.ok(rb.body.length > 0, 'the echo was read (and would be ignored by the sender)');
    assert.deepEqual(await c, { status: 0, body: Buffer.alloc(0) });
  } finally {
    ch.close();
    await new Promise((r) => server.close(r));
  }
});
