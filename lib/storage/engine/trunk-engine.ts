import { Buffer } from 'node:buffer';
import { randomInt } from 'node:crypto';
import fsSync from 'node:fs';
import { Crc32, crc32 } from '../../protocol/crc32.ts';
import { ERRNO, FdfsError, errnoOf } from '../../protocol/errno.ts';
import { makeExt7, parseLogicName, type FileSource } from '../../protocol/filename.ts';
import type { Logger } from '../../util/log.ts';
import type { StorePaths } from '../store-paths.ts';
import { SLOT_TYPE_LINK, checkSlotHeader } from '../trunk/slot-header.ts';
import { readFullySync, writeContentStream, writeContentSync, writeHeaderSync, zeroSlot } from '../trunk/slot-io.ts';
import { buildTrunkName, fitsSlot, parseTrunkName, type TrunkFileName } from '../trunk/trunk-name.ts';
import { TrunkSlots } from '../trunk/trunk-slots.ts';
import { TRUNK_HEADER_LEN, type SlotAllocator, type TrunkParameters, type TrunkSlot } from '../trunk/types.ts';
import {
  SMALL_FILE, takeChunk,
  type ClaimedName, type CommittedFile, type ContentReader, type ContentSource, type EngineStat, type FileRef,
  type IncomingFile, type IoListener, type NamedFileTarget, type NewFileNaming, type NewFileTarget, type ReceiveOptions,
  type ReceiveTarget, type RemoveOptions, type StatOptions, type StorageEngine, type SweepOptions, type WriteOptions,
  type WriteResult,
} from './engine.ts';

// The trunk engine (PROTOCOL.md §11): small uploads go into slots of trunk files, everything else
// to the plain engine it wraps. Which is which:
// - a new content (UPLOAD_FILE 11) with `packable` and S + 24 ≤ slot_max_size (§11.2) ⇒ a slot from
//   the group's trunk server (27), written here (content, then header), confirmed (28), named from
//   its location (§11.2 step 5);
// - a 60-character name with the trunk flag (§11.11) ⇒ its slot: read check, download ranges,
//   delete (zero + 29 for a client's delete), replica write (SYNC_CREATE_FILE 16: no check, no 27);
// - anything else (appenders, slaves — of trunk masters too —, `-m` metadata files, large files,
//   all names while trunk mode is off) ⇒ the plain engine, unchanged.
// Trunk mode cannot be turned off once files are stored: their names keep pointing into slots, and
// this engine reads those even while the tracker's parameters say trunk mode is off.

export interface TrunkEngineOptions {
  /** Where every non-trunk name and every unpackable content goes. */
  plain: StorageEngine;
  storePaths: StorePaths;
  /** The trunk parameters of the tracker's 75 reply (§11.1); undefined while trunk mode is off. */
  trunk(): TrunkParameters | undefined;
  /** The group's trunk server (§11.5, §11.6); undefined while none is known (uploads get EAGAIN). */
  allocator(): SlotAllocator | undefined;
  /** The source field of new names (§6.2; FileNameGenerator.source); null until a tracker answered. */
  source(): FileSource | null;
  /** Injectable randomness for names (tests). */
  random?: { rand23(): number; digit(): string };
  onIo?: IoListener;
  log?: Logger;
}

const defaultRandom = {
  rand23: () => randomInt(0, 0x800000),
  digit: () => String(randomInt(0, 10)),
};

/** Bytes gathered from the source before one disk write, and read per chunk of a download stream. */
const CHUNK = 256 * 1024;

/** Status of a 28 for content that never became a file: anything but 0 / EEXIST frees the slot (§11.6). */
const ABANDONED = ERRNO.EIO;

/** The rest of a content source as chunks, each gathering what already arrived (up to CHUNK). */
async function* chunksOf(src: ContentSource, size: number): AsyncIterable<Buffer> {
  let left = size;
  while (left > 0) {
    const parts = [await src.readSome(Math.min(CHUNK, left))];
    let n = parts[0]!.length;
    while (left - n > 0 && n < CHUNK && src.buffered > 0) {
      const more = await src.readSome(Math.min(CHUNK - n, left - n));
      parts.push(more);
      n += more.length;
    }
    left -= n;
    yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }
}

function notInPlace(file: FileRef, what: string): FdfsError {
  return new FdfsError('EINVAL', `${what}: a trunk-stored file cannot be changed in place`, { subject: file.logicName });
}

export class TrunkEngine implements StorageEngine {
  readonly kind = 'trunk';
  readonly slots: TrunkSlots;
  private readonly plain: StorageEngine;
  private readonly random: { rand23(): number; digit(): string };

  constructor(private readonly opts: TrunkEngineOptions) {
    this.plain = opts.plain;
    this.slots = new TrunkSlots(opts.storePaths);
    this.random = opts.random ?? defaultRandom;
  }

  log(level: 'debug' | 'info' | 'warn', msg: string): void {
    this.opts.log?.(level, msg);
  }

  private io(op: 'open' | 'read' | 'write', phase: 'start' | 'ok'): void {
    this.opts.onIo?.(op, phase);
  }

  /** A FileRef for a name of ours (the target of an `L` slot or of a slave's link), null otherwise. */
  private refOf(logicName: string): FileRef | null {
    const parsed = parseLogicName(logicName);
    const sp = this.opts.storePaths;
    if (!parsed || parsed.storePathIndex >= sp.count || parsed.high >= sp.subdirCount || parsed.low >= sp.subdirCount) return null;
    return { logicName, parsed, path: sp.filePath(parsed.storePathIndex, parsed.high, parsed.low, parsed.base) };
  }

  private trunkFileSize(subject: string): number {
    const p = this.opts.trunk();
    if (!p) throw new FdfsError('EAGAIN', 'trunk parameters not known yet (no tracker answered 75 with use_trunk_file)', { subject });
    return p.trunkFileSize;
  }

  // ---- new content and replicas ----------------------------------------------------------------

  /**
   * §11.2: whether an UPLOAD_FILE (11) of `size` content bytes goes into a slot right now. The
   * upload handler skips the free-space/reserve check for those (the tracker's store-path choice
   * already counted trunk free space, §8.1, §8.3).
   */
  packs(size: number): boolean {
    const params = this.opts.trunk();
    return params !== undefined && size + TRUNK_HEADER_LEN <= params.slotMaxSize;
  }

  async receive(src: ContentSource, target: ReceiveTarget, opts: ReceiveOptions): Promise<IncomingFile> {
    if (target.to === 'new') {
      const params = this.opts.trunk();
      // §11.2: only UPLOAD_FILE contents with S + 24 ≤ slot_max_size; S = 0 qualifies.
      if (params && target.packable && this.packs(opts.size)) return this.receiveIntoSlot(src, target, opts, params);
      return this.plain.receive(src, target, opts);
    }
    const name = parseTrunkName(target.file.logicName);
    if (!name) return this.plain.receive(src, target, opts);
    return this.receiveReplica(src, target, name, opts);
  }

  /** §11.2 steps 1–3 (the header waits for commit). */
  private async receiveIntoSlot(src: ContentSource, target: NewFileTarget, opts: ReceiveOptions, params: TrunkParameters): Promise<IncomingFile> {
    const source = this.opts.source();
    if (!source) throw new FdfsError('EAGAIN', 'storage not ready: own address not known yet');
    const allocator = this.opts.allocator();
    if (!allocator) throw new FdfsError('EAGAIN', 'no trunk server known for this group yet');
    const size = opts.size;
    // A small body is taken whole before a slot is asked for: a client that goes away mid-body
    // then costs no 27/28 round trip.
    const content = size <= SMALL_FILE ? (size > 0 ? await src.read(size) : Buffer.alloc(0)) : null;
    const slot = await allocator.alloc(size + TRUNK_HEADER_LEN, target.storePathIndex);
    let crc: number;
    let file: string;
    try {
      if (slot.storePathIndex !== target.storePathIndex || slot.size < size + TRUNK_HEADER_LEN || slot.offset + slot.size > params.trunkFileSize) {
        throw new FdfsError('EIO', `trunk server handed out slot ${JSON.stringify(slot)} for ${size + TRUNK_HEADER_LEN} bytes on store path ${target.storePathIndex}`);
      }
      this.io('write', 'start');
      ({ file, crc } = await this.slots.writeTo(slot, params.trunkFileSize, async (f) => {
        if (!content) return { file: f, crc: await writeContentStream(f, slot, size, chunksOf(src, size), { checkUnused: true, onWritten: opts.onBytes }) };
        writeContentSync(f, slot, content, { checkUnused: true });
        opts.onBytes?.(size);
        return { file: f, crc: crc32(content) };
      }));
      this.io('write', 'ok');
    } catch (err) {
      // §11.2 step 4: 28 carries the failure (EEXIST keeps the occupied slot out of the free list).
      await allocator.confirm(slot, errnoOf(err)).catch((e: unknown) => this.opts.log?.('warn', `trunk confirm of a failed upload: ${(e as Error).message}`));
      throw err;
    }
    return new SlotIncoming(this, allocator, source, file, slot, size, crc, target.startTime);
  }

  /** Called by SlotIncoming.commit: the name, the header, 28 (§11.2 steps 3–5). */
  async commitSlot(s: SlotIncoming, naming: NewFileNaming): Promise<CommittedFile> {
    let name: string;
    try {
      if (naming.kind !== 'normal') throw new FdfsError('EINVAL', `a ${naming.kind} file never goes into a trunk slot (§11.2)`);
      // Built before anything is written: a bad extension (EINVAL) must still give the slot back.
      const ext7 = naming.ext7 ?? makeExt7(naming.ext ?? '', this.random.digit);
      name = buildTrunkName({
        source: s.source, slot: s.slot, fileSize: s.size, crc32: s.crc32, timestamp: s.mtime, ext7, rand23: this.random.rand23(),
      });
      this.io('write', 'start');
      writeHeaderSync(s.file, s.slot, s.size, { crc32: s.crc32, mtime: s.mtime, ext7 });
      this.io('write', 'ok');
    } catch (err) {
      await this.abandon(s.allocator, s.file, s.slot, errnoOf(err));
      throw err;
    }
    try {
      await s.allocator.confirm(s.slot, 0);
    } catch (err) {
      // §11.2 step 4: if 28 fails the upload fails; its slot must not keep a readable file.
      await zeroSlot(s.file, s.slot).catch(() => {});
      throw err;
    }
    const sp = this.opts.storePaths;
    const parsed = parseLogicName(name)!;
    return { name, file: { logicName: name, parsed, path: sp.filePath(parsed.storePathIndex, parsed.high, parsed.low, parsed.base) }, timestamp: s.mtime };
  }

  /** Zero what we wrote into a slot that will not hold a file, and free it with 28. */
  async abandon(allocator: SlotAllocator, file: string, slot: TrunkSlot, status: number): Promise<void> {
    await zeroSlot(file, slot).catch((e: unknown) => this.opts.log?.('warn', `cannot zero abandoned trunk slot: ${(e as Error).message}`));
    await allocator.confirm(slot, status).catch((e: unknown) => this.opts.log?.('warn', `trunk confirm of an abandoned slot: ${(e as Error).message}`));
  }

  /**
   * §11.11 SYNC_CREATE_FILE of a trunk name: content and header go where the name says, without the
   * unused check or the trunk server. Small contents wait in memory for commitAs (so an EEXIST
   * answer leaves the slot untouched); large ones are written as they arrive, as C does.
   */
  private async receiveReplica(src: ContentSource, target: NamedFileTarget, name: TrunkFileName, opts: ReceiveOptions): Promise<IncomingFile> {
    if (opts.size !== name.fileSize || !fitsSlot(name)) {
      throw new FdfsError('EINVAL', `${opts.size} content bytes do not match the trunk name (size ${name.fileSize}, slot ${name.slotSize})`, { subject: name.logicName });
    }
    const trunkFileSize = this.trunkFileSize(name.logicName);
    if (opts.size <= SMALL_FILE) {
      const content = opts.size > 0 ? await src.read(opts.size) : Buffer.alloc(0);
      return new ReplicaIncoming(this, target.file, name, trunkFileSize, content, opts.crc === false ? 0 : crc32(content));
    }
    if (this.slots.supersedes(name)) {
      // A stale replica (see TrunkSlots.supersedes): the body is taken and dropped.
      for await (const chunk of chunksOf(src, opts.size)) opts.onBytes?.(chunk.length);
      return new ReplicaIncoming(this, target.file, name, trunkFileSize, null, 0, true);
    }
    this.io('write', 'start');
    const crc = await this.slots.writeTo(name.slot, trunkFileSize,
      (file) => writeContentStream(file, name.slot, opts.size, chunksOf(src, opts.size), { checkUnused: false, onWritten: opts.onBytes }));
    this.io('write', 'ok');
    return new ReplicaIncoming(this, target.file, name, trunkFileSize, null, opts.crc === false ? 0 : crc);
  }

  claimName(r: Parameters<StorageEngine['claimName']>[0]): ClaimedName {
    return this.plain.claimName(r);
  }

  // ---- in-place changes: never for trunk-stored files (they are never appenders) -----------------

  writeAt(file: FileRef, src: ContentSource, position: number, length: number, opts?: WriteOptions): Promise<WriteResult> {
    if (parseTrunkName(file.logicName)) return Promise.reject(notInPlace(file, 'write'));
    return this.plain.writeAt(file, src, position, length, opts);
  }

  truncate(file: FileRef, size: number, opts?: { mtime?: number }): Promise<number> {
    if (parseTrunkName(file.logicName)) return Promise.reject(notInPlace(file, 'truncate'));
    return this.plain.truncate(file, size, opts);
  }

  rename(from: FileRef, to: FileRef): Promise<void> {
    if (parseTrunkName(from.logicName) || parseTrunkName(to.logicName)) return Promise.reject(notInPlace(from, 'rename'));
    return this.plain.rename(from, to);
  }

  /**
   * A link is always a plain symbolic link (a slave of a trunk master with store_slave_file_use_link,
   * §3.3), pointing at the master's name path; stat/open resolve such a link into the slot.
   */
  link(link: FileRef, target: FileRef): Promise<void> {
    if (parseTrunkName(link.logicName)) return Promise.reject(notInPlace(link, 'link'));
    return this.plain.link(link, target);
  }

  async readLink(file: FileRef): Promise<FileRef | null> {
    const name = parseTrunkName(file.logicName);
    if (!name) return this.plain.readLink(file);
    const st = this.slots.stat(name);
    return st?.type === SLOT_TYPE_LINK ? this.refOf(this.slots.linkTarget(name)) : null;
  }

  // ---- reading -----------------------------------------------------------------------------------

  async stat(file: FileRef, opts: StatOptions = {}): Promise<EngineStat | null> {
    const name = parseTrunkName(file.logicName);
    if (!name) {
      const st = await this.plain.stat(file, opts);
      if (st || !opts.follow) return st;
      const target = await this.trunkLinkTarget(file);
      return target ? this.stat(target, { follow: false }) : null;
    }
    const st = this.slots.stat(name);
    if (!st) return null;
    if (st.type === SLOT_TYPE_LINK) {
      if (!opts.follow) return { type: 'link', size: st.size, mtime: st.mtime };
      // §11.4: an `L` slot read with "follow links" is resolved once more.
      const target = this.refOf(this.slots.linkTarget(name));
      return target ? this.stat(target, { follow: false }) : null;
    }
    return { type: 'file', size: st.size, mtime: st.mtime };
  }

  /** A plain name that is a symbolic link to a trunk name's path (a slave of a trunk master). */
  private async trunkLinkTarget(file: FileRef): Promise<FileRef | null> {
    let target: FileRef | null;
    try {
      target = await this.plain.readLink(file);
    } catch {
      return null;
    }
    return target && parseTrunkName(target.logicName) ? target : null;
  }

  /** A plain-engine call; on ENOENT a link to a trunk name is followed into its slot (a slave of a trunk master). */
  private async plainOrLinked<T>(file: FileRef, plainCall: () => Promise<T>, linkedCall: (target: FileRef) => Promise<T>): Promise<T> {
    try {
      return await plainCall();
    } catch (err) {
      if (errnoOf(err) !== ERRNO.ENOENT) throw err;
      const target = await this.trunkLinkTarget(file);
      if (!target) throw err;
      return linkedCall(target);
    }
  }

  async open(file: FileRef): Promise<ContentReader> {
    const name = parseTrunkName(file.logicName);
    if (!name) return this.plainOrLinked(file, () => this.plain.open(file), (target) => this.open(target));
    return this.openSlot(name, true);
  }

  private openSlot(name: TrunkFileName, follow: boolean): ContentReader {
    const noSuchFile = (): FdfsError => new FdfsError('ENOENT', 'no such file', { subject: name.logicName });
    const file = this.slots.fileOf(name.slot);
    let fd: number;
    this.io('open', 'start');
    try {
      fd = fsSync.openSync(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw noSuchFile();
      throw new FdfsError(errnoOf(err), `cannot open trunk file ${file}: ${(err as Error).message}`, { subject: name.logicName, cause: err });
    }
    this.io('open', 'ok');
    let linkTarget: TrunkFileName | null;
    try {
      // The read check on the descriptor we then read from: a delete after it cannot make us
      // check one slot and read another.
      const header = Buffer.alloc(TRUNK_HEADER_LEN);
      const type = checkSlotHeader(header.subarray(0, readFullySync(fd, header, name.slot.offset)), name);
      if (type === null) throw noSuchFile();
      if (type !== SLOT_TYPE_LINK) return new SlotReader(fd, file, name, this.opts.onIo);
      // An `L` slot pointing at a plain file would need the plain engine here; no FastDFS writes
      // those for uploads, so only trunk targets are followed (PROTOCOL.md §13: CREATE_LINK not covered).
      linkTarget = follow ? parseTrunkName(this.readLinkContent(fd, name)) : null;
      if (!linkTarget) throw new FdfsError('EINVAL', 'not a regular file', { subject: name.logicName });
    } catch (err) {
      fsSync.closeSync(fd);
      throw err;
    }
    fsSync.closeSync(fd);
    return this.openSlot(linkTarget, false);
  }

  private readLinkContent(fd: number, name: TrunkFileName): string {
    const buf = Buffer.alloc(name.fileSize);
    readFullySync(fd, buf, name.slot.offset + TRUNK_HEADER_LEN);
    return buf.toString('latin1');
  }

  async crc32(file: FileRef): Promise<number> {
    const name = parseTrunkName(file.logicName);
    if (!name) return this.plainOrLinked(file, () => this.plain.crc32(file), (target) => this.crc32(target));
    const reader = this.openSlot(name, true);
    const crc = new Crc32();
    for await (const chunk of reader.stream(0, reader.size)) crc.update(chunk);
    return crc.digest();
  }

  // ---- removing ----------------------------------------------------------------------------------

  /**
   * §11.11: read check, zero the whole slot; a client's delete then gives the slot back (29, its
   * failure ignored: the trunk server rebuilds its free list from its binlog anyway).
   */
  async remove(file: FileRef, opts: RemoveOptions): Promise<boolean> {
    const name = parseTrunkName(file.logicName);
    if (!name) return this.plain.remove(file, opts);
    this.io('write', 'start');
    const removed = await this.slots.remove(name);
    this.io('write', 'ok');
    if (removed && opts.origin === 'client') {
      const allocator = this.opts.allocator();
      if (!allocator) {
        this.opts.log?.('warn', `deleted ${name.logicName} while no trunk server is known: its slot is not freed until the trunk server rebuilds`);
      } else {
        await allocator.free(name.slot).catch((e: unknown) => this.opts.log?.('warn', `trunk free of ${name.logicName}: ${(e as Error).message}`));
      }
    }
    return removed;
  }

  /**
   * Nothing to sweep in trunk files: a slot whose upload died before its header was written is
   * unused by the §11.4 test, and the trunk server counts it free (allocated, never confirmed, §11.7).
   */
  sweep(opts: SweepOptions): Promise<number> {
    return this.plain.sweep(opts);
  }
}

/** A new upload's content in its slot, header not written yet (§11.2 step 3). */
class SlotIncoming implements IncomingFile {
  private state: 'received' | 'committed' | 'discarded' = 'received';

  constructor(
    private readonly engine: TrunkEngine,
    readonly allocator: SlotAllocator,
    readonly source: FileSource,
    readonly file: string,
    readonly slot: TrunkSlot,
    readonly size: number,
    readonly crc32: number,
    /** §11.2 step 5: the upload's start time is the name's timestamp and the header's mtime. */
    readonly mtime: number,
  ) {}

  async commit(naming: NewFileNaming): Promise<CommittedFile> {
    if (this.state !== 'received') throw new FdfsError('EINVAL', `content already ${this.state}`);
    this.state = 'committed';
    try {
      return await this.engine.commitSlot(this, naming);
    } catch (err) {
      this.state = 'discarded';
      throw err;
    }
  }

  commitAs(): Promise<void> {
    return Promise.reject(new FdfsError('EINVAL', 'a trunk slot takes the name its location gives (§11.2 step 5): use commit'));
  }

  async discard(): Promise<void> {
    if (this.state !== 'received') return;
    this.state = 'discarded';
    await this.engine.abandon(this.allocator, this.file, this.slot, ABANDONED);
  }
}

/** A replica of a trunk-stored file (§11.11), written under the name it came with. */
class ReplicaIncoming implements IncomingFile {
  private state: 'received' | 'committed' | 'discarded' = 'received';
  readonly size: number;
  readonly mtime: number;

  constructor(
    private readonly engine: TrunkEngine,
    private readonly target: FileRef,
    private readonly name: TrunkFileName,
    private readonly trunkFileSize: number,
    /** Small contents wait here; null when already in the slot. */
    private readonly content: Buffer | null,
    readonly crc32: number,
    /** The slot holds a newer file: commitAs writes nothing. */
    private stale = false,
  ) {
    this.size = name.fileSize;
    this.mtime = name.timestamp;
  }

  commit(): Promise<CommittedFile> {
    return Promise.reject(new FdfsError('EINVAL', 'a replica keeps the name it came with: use commitAs', { subject: this.name.logicName }));
  }

  async commitAs(opts: { replace: boolean; file?: FileRef }): Promise<void> {
    if (this.state !== 'received') throw new FdfsError('EINVAL', `content already ${this.state}`, { subject: this.name.logicName });
    if (opts.file && opts.file.logicName !== this.target.logicName) {
      throw new FdfsError('EINVAL', `a trunk replica cannot be renamed to ${opts.file.logicName}`, { subject: this.name.logicName });
    }
    const slots = this.engine.slots;
    if (!opts.replace && slots.stat(this.name)) throw new FdfsError('EEXIST', 'file already exists', { subject: this.name.logicName });
    this.state = 'committed';
    if (this.content && slots.supersedes(this.name)) this.stale = true;
    if (this.stale) {
      this.engine.log('info', `stale replica ${this.name.logicName} not written: its slot holds a newer file`);
      return;
    }
    const header = { crc32: this.name.crc32, mtime: this.name.timestamp, ext7: this.name.ext7 };
    if (this.content) {
      await slots.writeReplica(this.name, this.content, this.trunkFileSize);
    } else {
      writeHeaderSync(slots.fileOf(this.name.slot), this.name.slot, this.name.fileSize, header);
    }
  }

  async discard(): Promise<void> {
    // Content without a header is an unused slot (§11.4): nothing to take back.
    if (this.state === 'received') this.state = 'discarded';
  }
}

/** An open trunk-stored file: reads are relative to the content at slot offset + 24. */
class SlotReader implements ContentReader {
  readonly size: number;
  readonly mtime: number;
  private closed = false;

  constructor(private readonly fd: number, private readonly file: string, private readonly name: TrunkFileName, private readonly onIo?: IoListener) {
    this.size = name.fileSize;
    this.mtime = name.timestamp;
  }

  private check(position: number, length: number): void {
    if (position < 0 || length < 0 || position + length > this.size) {
      throw new FdfsError('EIO', `range ${position}+${length} beyond the ${this.size} content bytes`, { subject: this.name.logicName });
    }
  }

  readSync(into: Buffer, at: number, position: number, length: number): void {
    this.check(position, length);
    this.onIo?.('read', 'start');
    const n = readFullySync(this.fd, into.subarray(at, at + length), this.name.slot.offset + TRUNK_HEADER_LEN + position);
    if (n !== length) throw new FdfsError('EIO', `trunk file ${this.file} ends inside the slot`, { subject: this.name.logicName });
    this.onIo?.('read', 'ok');
  }

  private readChunk(position: number, length: number): Promise<Buffer> {
    const buf = takeChunk().subarray(0, length);
    const base = this.name.slot.offset + TRUNK_HEADER_LEN + position;
    return new Promise((resolve, reject) => {
      const step = (got: number): void => {
        fsSync.read(this.fd, buf, got, length - got, base + got, (err, n) => {
          if (err) return reject(new FdfsError(errnoOf(err), `cannot read ${this.file}: ${err.message}`, { subject: this.name.logicName, cause: err }));
          if (n === 0) return reject(new FdfsError('EIO', `trunk file ${this.file} ends inside the slot`, { subject: this.name.logicName }));
          if (got + n < length) return step(got + n);
          resolve(buf);
        });
      };
      step(0);
    });
  }

  async *stream(position: number, length: number): AsyncIterable<Buffer> {
    let next: Promise<Buffer> | null = null;
    try {
      this.check(position, length);
      let asked = 0;
      const ask = (): Promise<Buffer> | null => {
        if (asked >= length) return null;
        const n = Math.min(CHUNK, length - asked);
        const p = this.readChunk(position + asked, n);
        asked += n;
        return p;
      };
      next = ask();
      while (next) {
        this.onIo?.('read', 'start');
        const buf = await next;
        this.onIo?.('read', 'ok');
        // Read ahead while the consumer sends this chunk.
        next = ask();
        yield buf;
      }
    } finally {
      // A consumer that stops early leaves a read in flight: let it land before the fd closes.
      if (next) await next.catch(() => {});
      this.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fsSync.closeSync(this.fd);
  }
}
