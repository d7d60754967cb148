import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadStorageConfig } from '../lib/config/storage-config.ts';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { encodeHeader } from '../lib/protocol/header.ts';
import { decodeFileIdResponse, encodeDownloadRequest, encodeUploadRequest } from '../lib/protocol/storage-requests.ts';
import { StorageServer } from '../lib/storage/storage-server.ts';

// Issue 15 defect 6, PROTOCOL.md §1.4: "timer fires while a response / download is being sent and
// the peer does not read ⇒ closed" — after network_timeout, not twice that.

test('a download whose client stops reading is cut after network_timeout', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-dl-timeout-'));
  const config = loadStorageConfig({
    overrides: { group_name: 'group1', base_path: dir, bind_addr: '127.0.0.1', tracker_server: ['127.0.0.1:1'], subdir_count_per_path: 1, network_timeout: 2 },
  }).config;
  const server = new StorageServer(config, undefined, { reporter: false, listenPort: 0, myIp: ['127.0.0.9'], parameters: { reserved_storage_space: '0MB' } });
  const addr = await server.start();
  let sock: net.Socket | undefined;
  try {
    // Far more than the loopback socket buffers hold, so the server's writes stall.
    const size = 48 * 1024 * 1024;
    const up = await ClientConnection.connect(addr.host, addr.port, { networkTimeout: 30 });
    let name: string;
    try {
      const content = randomBytes(size);
      name = decodeFileIdResponse(await up.request(CMD.UPLOAD_FILE, [encodeUploadRequest({ storePathIndex: 0, fileSize: size, ext: 'bin' }), content])).logicName;
    } finally {
      up.close();
    }
    const s = net.connect(addr.port, addr.host);
    sock = s;
    await new Promise<void>((r) => s.once('connect', () => r()));
    let received = 0;
    // Done when the server closes the connection, or when the whole response arrived (the server
    // kept the connection: the defect). Bounded either way.
    let whole!: () => void;
    const ended = new Promise<void>((r) => { whole = r; s.once('close', () => r()); });
    const bound = setTimeout(whole, 30000);
    s.on('data', (c: Buffer) => { received += c.length; if (received >= 10 + size) whole(); });
    s.on('error', () => {});
    const req = encodeDownloadRequest(0, 0, 'group1', name);
    s.write(Buffer.concat([encodeHeader(req.length, CMD.DOWNLOAD_FILE, 0), req]));
    s.pause();
    // The client stops reading for 3.5 s: past network_timeout (2 s) but short of twice it.
    const stalledAt = Date.now();
    await new Promise((r) => setTimeout(r, 3500));
    s.resume();
    await ended;
    clearTimeout(bound);
    assert.ok(received < 10 + size, `the server cut the download (got ${received} of ${10 + size} bytes after a ${Date.now() - stalledAt} ms stall)`);
  } finally {
    sock?.destroy();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
