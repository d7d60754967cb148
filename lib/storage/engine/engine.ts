import type { Buffer } from 'node:buffer';
import { BufferPool } from '../../util/buffer-pool.ts';
import type { LogicName } from '../../protocol/filename.ts';
import type { NameRequest } from '../file-names.ts';

// The storage engine: every byte a storage command handler puts on or takes off the disk goes
// through this interface (issue 12, STYLE.md rule 5, after tus-node-server's DataStore). Handlers
// decode a request, call the engine, write the binlog and reply; they never touch `node:fs`.
//
// Two implementations are planned: plain files (plain-engine.ts: one file per logic name under
// `<store_path>/data/HH/HH/`, PROTOCOL.md §6.1) and trunk files (PROTOCOL.md §11: small uploads
// packed into slots of big trunk files, the logic NAME derived from the slot). The contract is
// written so both fit:
// - where new content goes and what its name becomes is decided by the engine (receive → commit),
//   never by the handler;
// - every other operation is addressed by logic name (FileRef), and the engine resolves it (plain:
//   a path; trunk: trunk id / offset / slot size decoded from a 60-character name, §11.11);
// - names the trunk engine does not pack (appender, slave, large, metadata) it can hand to a
//   plain engine, so a trunk engine may well be a plain engine plus slots.
// test/helpers/storage-engine-conformance.ts states every contract below as a test; each
// implementation must pass it.
//
// Errors: operations reject with FdfsError carrying the errno name and the logic name as subject
// (ENOENT for a missing file, EEXIST, EINVAL for "not a regular file", EIO/ENOSPC/… as the disk
// says). "Missing" answers that are part of a contract are values (stat ⇒ null, remove ⇒ false).

/**
 * Bodies up to this size are gathered in memory and written (or read, for downloads) with a few
 * synchronous calls: for small files the thread-pool round trips cost more than the page-cache
 * work itself, and the connection's buffer already bounds the memory (as FastDFS's buff_size
 * does). The one definition of the small-file threshold (it used to be written four times).
 */
export const SMALL_FILE = 256 * 1024;

/** Size of the chunks stream() hands out. */
export const READ_CHUNK = 512 * 1024;

/**
 * Where stream() chunks come from: enough free chunks are kept for two per connection of a busy
 * storage (16 MiB at most). A consumer gives a chunk back with releaseChunk() once nothing refers
 * to it any more (a socket write's callback ran); one it keeps or drops is collected as usual.
 */
const chunkPool = new BufferPool(READ_CHUNK, 32);

export function takeChunk(): Buffer {
  return chunkPool.take();
}

/** Give back a chunk from stream() (or a view of one) that nothing refers to any more. */
export function releaseChunk(chunk: Uint8Array): void {
  chunkPool.give(chunk);
}

/**
 * A validated logic name `Mxx/HH/HH/<base>` (handlers/common.ts `locate()` makes these; it refuses
 * names that could reach outside the store paths). `path` is where a plain file of that name
 * lives; for a trunk name it is still the path of the name itself (its `-m` metadata file sits
 * beside it), not the trunk file: engines resolve trunk names from `parsed`/`logicName`.
 */
export interface FileRef {
  readonly logicName: string;
  readonly parsed: LogicName;
  readonly path: string;
}

/**
 * Where content comes from: the rest of a request body (handlers/io.ts `contentOf(req)`), or a
 * buffer in tests. Reading is pull-based: the engine awaits each disk write before it reads on, so
 * a slow disk pauses the sender (the socket reader applies backpressure).
 */
export interface ContentSource {
  /** Bytes still to come. */
  readonly remaining: number;
  /** Bytes that arrived and can be read without waiting (lets a write gather them). */
  readonly buffered: number;
  /** Exactly n bytes (n ≤ remaining); rejects if the peer goes away first. */
  read(n: number): Promise<Buffer>;
  /** Between 1 and max bytes: what already arrived, waiting only when nothing did. */
  readSome(max: number): Promise<Buffer>;
}

/** The file-level I/O the engine did, for the StorageStat counters (lib/storage/io-events.ts). */
export type IoListener = (op: 'open' | 'read' | 'write' | 'link', phase: 'start' | 'ok') => void;

/** What `stat` sees. */
export interface EngineStat {
  /**
   * 'link': a symbolic link (plain: a slave stored as a link, §3.3; trunk: an `L` slot, §11.4)
   * when not followed; 'dir' and 'other' are never stored files (clients get EINVAL / EISDIR).
   */
  type: 'file' | 'link' | 'dir' | 'other';
  /** Content bytes (trunk: the header's file_size, not the slot size). */
  size: number;
  /** Unix seconds (floor of the mtime; trunk: the header's mtime, §11.4). */
  mtime: number;
}

export interface StatOptions {
  /** Follow a link to what it points at (stat, not lstat). Default false. */
  follow?: boolean;
  /**
   * A hint that the caller is on a small-file fast path: the engine may answer with synchronous
   * calls (a page-cached lookup costs less than a thread-pool round trip). Default false.
   */
  quick?: boolean;
}

export interface SweepOptions {
  /** Files modified at or after this time (ms) are kept: requests of this process may own them. */
  startedMs: number;
  /**
   * false: only what is cheap to scan (plain: the `data/` directories themselves, where incoming
   * sync content waits, PROTOCOL.md §5.2), awaited before the storage serves. true: everything
   * (plain: every `data/HH/HH`, 65,536 directories per store path at the default layout), run in
   * the background after start-up.
   */
  deep: boolean;
}

/** Content to be stored under a name the engine chooses (UPLOAD 11/23, the content of a linked slave). */
export interface NewFileTarget {
  to: 'new';
  /** The store path the handler chose (§8.3); the engine keeps to it. */
  storePathIndex: number;
  /** Upload start (unix s): a trunk name carries the start time (§11.2 step 5), a plain one the end. */
  startTime: number;
  /**
   * May this content go into a trunk slot? §11.2: only UPLOAD_FILE (11) of a normal file; never an
   * appender (23), a slave (21) or metadata. The engine decides by size (S + 24 ≤ slot_max_size).
   */
  packable: boolean;
  /** Sub-directory to use; default: the engine picks (plain: §6.5 pickSubdir; trunk: the slot's). */
  subdir?: { high: number; low: number };
}

/** Content to be stored under a name the request carries (SYNC_CREATE/UPDATE 16/18, a slave 21). */
export interface NamedFileTarget {
  to: 'name';
  file: FileRef;
  /** mtime to give the content (sync: the source's timestamp, §5.2); default: when it was written. */
  mtime?: number;
}

export type ReceiveTarget = NewFileTarget | NamedFileTarget;

export interface ReceiveOptions {
  /** Exactly this many content bytes are taken from the source. */
  size: number;
  /** Compute the content's CRC32 while receiving (IncomingFile.crc32). Default true. */
  crc?: boolean;
  /** Called after each disk write with the bytes it wrote (body / sync-in counters). */
  onBytes?: (n: number) => void;
}

/** What a new file's name is built from besides what the engine knows (§6.2–§6.5). */
export interface NewFileNaming {
  kind: 'normal' | 'appender';
  /** Extension the 7-character tail is built from (§6.5). */
  ext?: string;
  /** A 7-character tail to keep instead. */
  ext7?: string;
}

export interface CommittedFile {
  /** The logic name the content is now readable under. */
  name: string;
  file: FileRef;
  /** The timestamp its name carries, which its binlog `C` record carries too (§7.2). */
  timestamp: number;
}

/**
 * Content received but not visible yet (plain: a temp file no request can name; trunk: a slot whose
 * header is not written). Exactly one of commit / commitAs / discard finishes it; discard after a
 * commit is a no-op, so `finally { await incoming.discard() }` is always safe.
 */
export interface IncomingFile {
  /** Bytes received (= ReceiveOptions.size when it resolved). */
  readonly size: number;
  /** CRC32 of the content (0 when ReceiveOptions.crc was false). */
  readonly crc32: number;
  /** Unix seconds: the content's mtime once complete (the target's mtime when one was given). */
  readonly mtime: number;
  /**
   * ('new' targets) Make the content readable under a fresh name the engine builds: one no other
   * file has and none being committed right now has (§6.5: at most 10 tries, else EEXIST).
   */
  commit(naming: NewFileNaming): Promise<CommittedFile>;
  /**
   * ('name' targets, or a 'new' one given a name) Make the content readable under `file` (default:
   * the target's). replace false: EEXIST when that name is taken (a replica that arrived meanwhile
   * wins); replace true: an existing file is replaced in one step, readers see old or new, never a mix.
   */
  commitAs(opts: { replace: boolean; file?: FileRef }): Promise<void>;
  /** Drop the content; nothing stays behind. */
  discard(): Promise<void>;
}

export interface WriteOptions {
  /** Set the file's mtime to this afterwards (sync: the source's timestamp, §5.4). */
  mtime?: number;
  /**
   * When the write fails part-way, cut the file back to this size if it grew beyond it (a cut-off
   * APPEND is taken back, §3.9; a MODIFY that grew the file does not leave it longer).
   */
  restoreSize?: number;
  /** Called after each disk write with the bytes it wrote. */
  onBytes?: (n: number) => void;
}

export interface WriteResult {
  /** Bytes written (= length when it resolved). */
  written: number;
  /** Unix seconds: the file's mtime afterwards (WriteOptions.mtime when given). */
  mtime: number;
}

export interface RemoveOptions {
  /**
   * 'client' (DELETE 12, undoing an unlogged create): a trunk slot is zeroed and given back to the
   * trunk server (29). 'sync' (SYNC_DELETE 17): zeroed only; the allocator learns it from 30 (§11.11).
   */
  origin: 'client' | 'sync';
}

/**
 * An open stored file to read from (DOWNLOAD 14, sync senders, HTTP). Closing is the caller's job
 * unless a stream() ran to its end or failed (it closes the reader then).
 */
export interface ContentReader {
  /** Content bytes. */
  readonly size: number;
  /** Unix seconds. */
  readonly mtime: number;
  /**
   * Read `length` bytes of content at `position` into `into` at `at`, synchronously (meant for
   * ranges ≤ SMALL_FILE of page-cached files). EIO when the file is shorter than that.
   */
  readSync(into: Buffer, at: number, position: number, length: number): void;
  /**
   * `length` bytes of content from `position` as a stream of chunks (up to READ_CHUNK each, views
   * of pooled buffers: see releaseChunk). The next chunk is read while the consumer handles this
   * one, so disk and socket overlap; a consumer that awaits its socket write before asking for
   * more keeps at most two chunks in memory. EIO when the file shrinks meanwhile.
   */
  stream(position: number, length: number): AsyncIterable<Buffer>;
  close(): void;
}

/** A name reserved until released (REGENERATE 38: a rename to a fresh name). */
export interface ClaimedName {
  name: string;
  file: FileRef;
  release(): void;
}

export interface StorageEngine {
  /** 'plain' or 'trunk', for logs. */
  readonly kind: string;

  /**
   * Take `opts.size` content bytes from `src` into a place no reader can see yet. A cut-off body
   * or a failed write leaves nothing behind and rejects. Small contents (≤ SMALL_FILE) are read
   * whole before the disk is touched and written in one go.
   */
  receive(src: ContentSource, target: ReceiveTarget, opts: ReceiveOptions): Promise<IncomingFile>;

  /**
   * A fresh name in `Mxx/HH/HH/` of `r` that no file has and no other claim holds (§6.5), reserved
   * until release(). Plain names only (the name of a rename target, REGENERATE 38).
   */
  claimName(r: NameRequest): ClaimedName;

  /**
   * Write `length` bytes from `src` into existing file `file` at content offset `position` (APPEND,
   * MODIFY, their sync forms). ENOENT when the file is missing.
   */
  writeAt(file: FileRef, src: ContentSource, position: number, length: number, opts?: WriteOptions): Promise<WriteResult>;

  /** Set the content size (a larger size grows it with zeros, §3.11). Returns the new mtime (unix s). */
  truncate(file: FileRef, size: number, opts?: { mtime?: number }): Promise<number>;

  /** Make `link` a symbolic link to `target` (§3.3 slaves as links, §5.5). EEXIST when `link` exists. */
  link(link: FileRef, target: FileRef): Promise<void>;

  /** Where link `file` points, when that is a stored file of ours; null for no link or one pointing elsewhere. */
  readLink(file: FileRef): Promise<FileRef | null>;

  /** Give `from`'s content the name `to` (REGENERATE 38, SYNC_RENAME 40); `to` is replaced if it exists. */
  rename(from: FileRef, to: FileRef): Promise<void>;

  /** Remove a file or link (not what a link points at). false when there was nothing to remove. */
  remove(file: FileRef, opts: RemoveOptions): Promise<boolean>;

  /** What is stored under the name; null when nothing is (trunk: also when the slot header does not match the name, §11.4). */
  stat(file: FileRef, opts?: StatOptions): Promise<EngineStat | null>;

  /** Open for reading, following links. ENOENT when missing, EINVAL when not a regular file. */
  open(file: FileRef): Promise<ContentReader>;

  /** CRC32 of the whole content (§3.8, §3.13). */
  crc32(file: FileRef): Promise<number>;

  /**
   * Start-up: remove what a crash (kill -9) left of content that was never committed (the storage
   * calls it twice: deep false before serving, deep true in the background). Returns how many went.
   */
  sweep(opts: SweepOptions): Promise<number>;

  /**
   * Whether an upload of `size` content bytes would go into a trunk slot (PROTOCOL.md §11.2): such
   * an upload skips the storage's free-space check, the trunk file's space being counted already.
   * Absent (plain files): never.
   */
  packs?(size: number): boolean;
}
