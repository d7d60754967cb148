import type { Buffer } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { FdfsClient } from '../client/client.ts';
import { decodeFileName, splitFileId } from '../protocol/filename.ts';
import { ManifestWriter } from './manifest.ts';
import { BatchStats, type BatchEvent, type BatchSummary } from './progress.ts';
import { transferItems, type GetItem, type TransferOptions } from './get.ts';
import { listGroupFiles } from './list-files.ts';
import { EXPORT_MANIFEST_NAME } from './put.ts';
import { TarWriter } from './tar-output.ts';

// `fdfs export`: the live files of a group (or those changed since a time) as one tar archive.
// Each file is an entry named by its file ID (`group1/M00/00/00/…`), and a last entry
// `fdfs-export.jsonl` is a manifest of them (path = entry name, fileId, size, crc32, mtime), so
// `fdfs put ARCHIVE` loads the group into another cluster and checks every file against it.

export interface ExportOptions extends Omit<TransferOptions, 'client' | 'resume'> {
  client: FdfsClient;
  group: string;
  /** A file name, or a stream (stdout). */
  tar: string | Writable;
  /** Only files changed at or after this Unix time. */
  since?: number;
  /** Ask this storage ("host:port") for the listing instead of one the tracker lists. */
  storage?: string;
}

export async function exportGroup(opts: ExportOptions): Promise<BatchSummary> {
  const stats = opts.stats ?? new BatchStats('export');
  const emit = (e: BatchEvent) => {
    stats.apply(e);
    opts.onEvent?.(e);
  };
  // The manifest goes last (the CRC of appender/slave files is known only once downloaded), so it
  // is collected in a temporary file rather than in memory.
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-export-'));
  const manifestFile = path.join(tmpDir, EXPORT_MANIFEST_NAME);
  const manifest = ManifestWriter.open(manifestFile, { fsyncEvery: Number.MAX_SAFE_INTEGER, fsyncMs: 3600_000 });
  const tar = typeof opts.tar === 'string' ? TarWriter.toFile(opts.tar) : new TarWriter(opts.tar);
  async function* items(): AsyncGenerator<GetItem> {
    for await (const f of listGroupFiles(opts.client, opts.group, {
      since: opts.since, storage: opts.storage, onTotal: (files, bytes) => emit({ type: 'total', files, bytes }),
    })) {
      const parts = splitFileId(f.fileId);
      const d = parts ? decodeFileName(parts.logicName) : null;
      // Normal names carry their CRC-32; others are asked from the storage by the transfer.
      const crc = d && d.type === 'normal' ? d.crc32 : undefined;
      yield { path: f.fileId, fileId: f.fileId, size: f.size, crc32: crc, mtime: f.timestamp };
    }
  }
  try {
    const summary = await transferItems(items(), { tar }, 'export', {
      ...opts, stats, onEvent: opts.onEvent, onStored: (r) => manifest.append(r),
    });
    manifest.close();
    const st = fs.statSync(manifestFile);
    await tar.addStream({ name: EXPORT_MANIFEST_NAME, size: st.size, mtime: Math.floor(Date.now() / 1000) }, async (sink) => {
      for await (const c of fs.createReadStream(manifestFile, { highWaterMark: 256 * 1024 })) await sink.write(c as Buffer);
    });
    await tar.finish();
    return { ...summary, elapsedMs: stats.elapsedMs };
  } catch (err) {
    tar.abort(err as Error);
    throw err;
  } finally {
    manifest.close();
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}
