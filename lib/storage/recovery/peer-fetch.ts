import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import { ClientConnection } from '../../net/client-connection.ts';
import { CMD, HEADER_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { Crc32 } from '../../protocol/crc32.ts';
import { decodeFileName } from '../../protocol/filename.ts';
import { startDownload } from '../../client/storage-client.ts';
import {
  PATH_BINLOG_TRAILER_LEN, PATH_BINLOG_UNKNOWN_LENGTH, encodePathBinlogRequest,
} from '../../protocol/path-binlog.ts';
import { writeAll } from '../../util/write-all.ts';
import type { PeerAddress } from './source-peer.ts';

// What a recovering storage asks its source peer (PROTOCOL.md §5.11): the binlog of one store
// path (26, §5.8) and each file (14 DOWNLOAD_FILE, offset 0, length 0).

const CHUNK = 512 * 1024;

export interface PeerDial {
  connectTimeout?: number;
  networkTimeout?: number;
  localAddress?: string;
}

export function connectPeer(peer: PeerAddress, dial: PeerDial): Promise<ClientConnection> {
  return ClientConnection.connect(peer.host, peer.port, {
    connectTimeout: dial.connectTimeout, networkTimeout: dial.networkTimeout, localAddress: dial.localAddress,
  });
}

/**
 * 26 into `file`: reads to EOF, then checks that the 8-byte trailer counts the text bytes (§5.8).
 * A stream cut early (no or a wrong trailer) is EIO. C allows at least 600 s of silence here: the
 * source scans its whole binlog before the first byte may come.
 */
export async function fetchPathBinlog(peer: PeerAddress, dial: PeerDial, group: string, storePathIndex: number, file: string): Promise<number> {
  const conn = await connectPeer(peer, { ...dial, networkTimeout: Math.max(600, dial.networkTimeout ?? 0) });
  const subject = `${peer.host}:${peer.port}`;
  const fh = await fs.open(file, 'w', 0o644);
  try {
    await conn.sendHeader(CMD.FETCH_ONE_PATH_BINLOG, 17, [encodePathBinlogRequest(group, storePathIndex)]);
    const header = await conn.reader.readExact(HEADER_LEN);
    const status = header[9]!;
    if (status !== 0) throw new FdfsError(status, 'FETCH_ONE_PATH_BINLOG refused', { subject });
    if (header[8] !== CMD.RESP || header.readBigInt64BE(0) !== PATH_BINLOG_UNKNOWN_LENGTH) {
      throw new FdfsError('EPROTO', `FETCH_ONE_PATH_BINLOG reply header cmd ${header[8]} length ${header.readBigInt64BE(0)}`, { subject });
    }
    // Everything up to EOF; the last 8 bytes are the trailer, so they are held back until more comes.
    let tail = Buffer.alloc(0);
    let written = 0;
    while (await conn.reader.waitForData()) {
      const got = await conn.reader.readSome(CHUNK);
      const all = tail.length ? Buffer.concat([tail, got]) : got;
      const keep = Math.min(PATH_BINLOG_TRAILER_LEN, all.length);
      const out = all.subarray(0, all.length - keep);
      tail = Buffer.from(all.subarray(all.length - keep));
      if (out.length) {
        await writeAll(fh, [out], written);
        written += out.length;
      }
    }
    if (tail.length !== PATH_BINLOG_TRAILER_LEN || tail.readBigInt64BE(0) !== BigInt(written)) {
      throw new FdfsError('EIO', `binlog of store path ${storePathIndex} cut short (${written} bytes, trailer ${tail.length === 8 ? tail.readBigInt64BE(0) : 'missing'})`, { subject });
    }
    await fh.sync();
    return written;
  } finally {
    await fh.close();
    conn.destroy();
  }
}

/**
 * 14 of `logicName` into `tmpFile` on an open connection. The byte count must match the reply
 * header, and for a normal file name (not appender, slave or metadata) size and CRC32 must be the
 * ones the name carries (§6.2) — a corrupt copy on the peer is not spread further.
 * Returns the size, or null when the peer answers ENOENT (the file is gone since).
 */
export async function downloadTo(conn: ClientConnection, group: string, logicName: string, tmpFile: string): Promise<number | null> {
  const subject = `${conn.address} ${logicName}`;
  let length: number;
  try {
    length = await startDownload(conn, group, logicName, 0, 0, subject);
  } catch (err) {
    if (err instanceof FdfsError && err.code === 'ENOENT') return null;
    throw err;
  }
  const crc = new Crc32();
  const fh = await fs.open(tmpFile, 'w', 0o644);
  try {
    let got = 0;
    while (got < length) {
      const chunk = await conn.reader.readSome(Math.min(CHUNK, length - got));
      crc.update(chunk);
      await writeAll(fh, [chunk], got);
      got += chunk.length;
    }
    conn.idle();
    await fh.sync();
  } finally {
    await fh.close();
  }
  const name = decodeFileName(logicName);
  if (name && name.type === 'normal' && !name.isTrunk && (name.nameSize !== length || name.crc32 !== crc.digest())) {
    await fs.rm(tmpFile, { force: true });
    throw new FdfsError('EIO', `copy does not match its name: ${length} bytes CRC32 ${crc.digest().toString(16)}, the name says ${name.nameSize} bytes CRC32 ${name.crc32.toString(16)}`, { subject });
  }
  return length;
}
