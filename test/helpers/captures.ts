import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Buffer } from 'node:buffer';

// The recorded FastDFS 6.16.1 traffic in ../shared/captures (beside the repository, as on the
// developers' machines and in CI). FDFS_SHARED overrides the location.

export interface CapturePacket {
  conn: number;
  t: number;
  dir: 'c2s' | 's2c';
  cmd: number;
  cmd_name: string;
  status: number;
  body_len: number;
  hex: string;
  in_reply_to?: string;
  notes?: string;
  action?: string;
  elided?: boolean;
  content_offset?: number;
  content_len?: number;
}

export interface CaptureConnection {
  id: number;
  initiator: string;
  server: string;
  server_role: string;
  initiator_role: string;
  action?: string;
  close?: string;
}

export interface CaptureFile {
  name: string;
  description: string;
  connections: CaptureConnection[];
  packets: CapturePacket[];
}

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('repository root not found');
}

export function sharedDir(): string {
  return process.env.FDFS_SHARED ?? path.resolve(repoRoot(), '..', 'shared');
}

export function capturesDir(): string {
  return path.join(sharedDir(), 'captures');
}

export function haveCaptures(): boolean {
  return fs.existsSync(path.join(capturesDir(), 'README.md'));
}

export function loadCapture(file: string): CaptureFile {
  const raw = JSON.parse(fs.readFileSync(path.join(capturesDir(), file), 'utf8'));
  return { name: file, ...raw };
}

export function allCaptures(): CaptureFile[] {
  return fs.readdirSync(capturesDir()).filter((f) => f.endsWith('.json')).sort().map(loadCapture);
}

export function packetBytes(p: CapturePacket): Buffer {
  return Buffer.from(p.hex, 'hex');
}

/** Body bytes as recorded (for elided packets: the fixed part + the first content bytes). */
export function packetBody(p: CapturePacket): Buffer {
  return packetBytes(p).subarray(10);
}

export function serverRole(f: CaptureFile, p: CapturePacket): string {
  return f.connections.find((c) => c.id === p.conn)?.server_role ?? '';
}

/** Pairs of (request, response) in wire order per connection. */
export function exchanges(f: CaptureFile): Array<{ req: CapturePacket; res?: CapturePacket; conn: CaptureConnection }> {
  const out: Array<{ req: CapturePacket; res?: CapturePacket; conn: CaptureConnection }> = [];
  const open = new Map<number, Array<{ req: CapturePacket; res?: CapturePacket; conn: CaptureConnection }>>();
  for (const p of f.packets) {
    const conn = f.connections.find((c) => c.id === p.conn)!;
    if (p.dir === 'c2s') {
      const ex = { req: p, conn };
      out.push(ex);
      if (p.cmd !== 82) {
        const q = open.get(p.conn) ?? [];
        q.push(ex);
        open.set(p.conn, q);
      }
    } else {
      const q = open.get(p.conn);
      const ex = q?.shift();
      if (ex) ex.res = p;
    }
  }
  return out;
}
