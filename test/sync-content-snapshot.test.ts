import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FdfsError } from '../lib/protocol/errno.ts';
import { READ_CHUNK, SNAPSHOT_MAX, sendFileRange, snapshot } from '../lib/storage/sync/content-snapshot.ts';

// What a sync request carries (content-snapshot.ts): a small file is read once, into a buffer of
// its own, when its record is dispatched; a large one is not read until it is sent, then in
// chunks through reused buffers that must never be overwritten while the socket still holds them.

let dir: string;
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-snapshot-')); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, data: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

describe('snapshot', () => {
  test('a small file: its bytes in hand, read at once (later changes do not alter what is sent)', () => {
    const data = crypto.randomBytes(SNAPSHOT_MAX);
    const p = file('small', data);
    const s = snapshot(p)!;
    assert.equal(s.size, data.length);
    assert.ok('data' in s.content);
    assert.deepEqual(s.content.data, data);
    fs.appendFileSync(p, 'more');
    assert.equal(s.content.length, data.length);
    assert.deepEqual(s.content.data, data);
  });

  test('an empty file: zero bytes in hand', () => {
    assert.deepEqual(snapshot(file('empty', Buffer.alloc(0))), { size: 0, content: { data: Buffer.alloc(0), length: 0 } });
  });

  test('a large file: a range to read when sent, sized now', () => {
    const p = file('large', crypto.randomBytes(SNAPSHOT_MAX + 1));
    assert.deepEqual(snapshot(p), { size: SNAPSHOT_MAX + 1, content: { path: p, offset: 0, length: SNAPSHOT_MAX + 1 } });
  });

  test('ranges: small ones in hand, large ones by reference, past the end none', () => {
    const data = crypto.randomBytes(SNAPSHOT_MAX * 2);
    const p = file('ranged', data);
    assert.deepEqual(snapshot(p, 10, 20), { size: 20, content: { data: data.subarray(10, 30), length: 20 } });
    assert.deepEqual(snapshot(p, 5, SNAPSHOT_MAX + 5), { size: SNAPSHOT_MAX + 5, content: { path: p, offset: 5, length: SNAPSHOT_MAX + 5 } });
    assert.equal(snapshot(p, data.length - 10, 11), null);
    assert.equal(snapshot(p, 1, data.length), null);
  });

  test('missing, under a file, or a directory: null', () => {
    assert.equal(snapshot(path.join(dir, 'nope')), null);
    assert.equal(snapshot(path.join(dir, 'small', 'x')), null);
    fs.mkdirSync(path.join(dir, 'adir'));
    assert.equal(snapshot(path.join(dir, 'adir')), null);
    assert.equal(snapshot(path.join(dir, 'adir'), 0, 10), null);
  });
});

/** A receiver of `n` connections that starts late and reads slowly, so the sender's socket buffers fill. */
async function slowReceiver(n: number): Promise<{ port: number; received: Promise<Buffer[]>; close(): Promise<void> }> {
  const got: Buffer[] = [];
  let done!: (b: Buffer[]) => void;
  let failed!: (e: Error) => void;
  const received = new Promise<Buffer[]>((resolve, reject) => { done = resolve; failed = reject; });
  received.catch(() => {});
  const server = net.createServer({ highWaterMark: 16 * 1024 } as net.ServerOpts, (sock) => {
    const parts: Buffer[] = [];
    // Nothing read at first: the kernel buffers fill and the sender's writes queue by reference.
    sock.pause();
    setTimeout(() => sock.resume(), 200);
    sock.on('data', (d: Buffer) => {
      parts.push(d);
      sock.pause();
      setTimeout(() => sock.resume(), 1);
    });
    sock.on('end', () => {
      got.push(Buffer.concat(parts));
      if (got.length === n) done(got);
    });
    sock.on('error', failed);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, highWaterMark: 64 * 1024 } as net.NetConnectOpts, () => resolve(s));
    s.once('error', reject);
  });
}

describe('sendFileRange', () => {
  test('two large files sent at once over two slow sockets arrive byte for byte (reused buffers never overwrite queued bytes)', async () => {
    const a = crypto.randomBytes(READ_CHUNK * 24 + 123);
    const b = crypto.randomBytes(READ_CHUNK * 12 + 7);
    const pa = file('a.bin', a);
    const pb = file('b.bin', b);
    const rx = await slowReceiver(2);
    try {
      const [sa, sb] = await Promise.all([connect(rx.port), connect(rx.port)]);
      await Promise.all([
        sendFileRange(sa, { path: pa, offset: 0, length: a.length }).then(() => sendFileRange(sa, { path: pb, offset: 100, length: b.length - 100 })),
        sendFileRange(sb, { path: pb, offset: 0, length: b.length }),
      ]);
      sa.end();
      sb.end();
      const got = await rx.received;
      const sorted = got.sort((x, y) => y.length - x.length);
      // equals(), not deepEqual: a diff of megabytes would swamp the report.
      assert.ok(sorted[0]!.equals(Buffer.concat([a, b.subarray(100)])), 'first socket: a, then b from byte 100');
      assert.ok(sorted[1]!.equals(b), 'second socket: b');
    } finally {
      await rx.close();
    }
  });

  test('a file shorter than the range announced: EIO (the request cannot be completed)', async () => {
    const p = file('short.bin', crypto.randomBytes(1000));
    const rx = await slowReceiver(1);
    try {
      const s = await connect(rx.port);
      await assert.rejects(sendFileRange(s, { path: p, offset: 0, length: READ_CHUNK + 1000 }), (err: unknown) => {
        assert.ok(err instanceof FdfsError);
        assert.equal(err.code, 'EIO');
        return true;
      });
      s.destroy();
    } finally {
      await rx.close();
    }
  });

  test('a socket closed while sending: the send rejects, nothing hangs', async () => {
    const p = file('big.bin', crypto.randomBytes(READ_CHUNK * 16));
    const server = net.createServer((sock) => sock.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const s = await connect((server.address() as net.AddressInfo).port);
      s.on('error', () => {});
      await assert.rejects(sendFileRange(s, { path: p, offset: 0, length: READ_CHUNK * 16 }));
      s.destroy();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
