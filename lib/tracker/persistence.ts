import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { STORAGE_STATUS as ST } from '../protocol/codes.ts';
import { FdfsError } from '../protocol/errno.ts';
import { STAT_COUNTERS, type StatCounter } from '../protocol/records.ts';
import { formatAddress } from '../protocol/ip.ts';
import type { Logger } from '../util/log.ts';
import { STATE_TEMP, sweepTempFiles } from '../util/temp-sweep.ts';
import { Cluster, type GroupRecord, type StorageRecord } from './cluster.ts';

/**
 * The tracker's data files in `<base_path>/data` (PROTOCOL.md §8.8), written in the C tracker's
 * exact layout so that a FastDFS tracker can take over a directory we wrote, and the other way round.
 * Files 0–2 are rewritten whole through `<name>.tmp` + fsync + rename; the changelog is append-only.
 */

export const GROUPS_FILE = 'storage_groups_new.dat';
export const SERVERS_FILE = 'storage_servers_new.dat';
export const SYNC_TIMESTAMPS_FILE = 'storage_sync_timestamp.dat';
export const CHANGELOG_FILE = 'storage_changelog.dat';
export const STATUS_FILE = '.tracker_status';

export type DataFile = 'groups' | 'servers' | 'sync';

/** §8.8: the modify/truncate counters and bytes of §1.3 are not persisted. */
export const PERSISTED_COUNTERS: readonly StatCounter[] = STAT_COUNTERS.filter((k) => !/_(modify|truncate)_/.test(k));

function section(prefix: string, n: number): string {
  return `[${prefix}${String(n).padStart(3, '0')}]`;
}

export function formatGroupsFile(cluster: Cluster): string {
  const groups = cluster.sortedGroups();
  let out = `[Global]\n\tgroup_count=${groups.length}\n\n`;
  groups.forEach((g, i) => {
    out += `# group: ${g.name}\n${section('Group', i + 1)}\n`
      + `\tgroup_name=${g.name}\n\tstorage_port=${g.port}\n\tstore_path_count=${g.storePathCount}\n`
      + `\tsubdir_count_per_path=${g.subdirCountPerPath}\n\tcurrent_trunk_file_id=${g.currentTrunkFileId}\n`
      + `\ttrunk_server=${g.trunkServerId}\n\tlast_trunk_server=${g.lastTrunkServerId}\n\n`;
  });
  return out;
}

export function formatServersFile(cluster: Cluster, useStorageId: boolean): string {
  let out = '';
  let n = 0;
  for (const g of cluster.sortedGroups()) {
    for (const s of g.members) {
      if (!s.live) continue;
      n++;
      out += `# storage: ${formatAddress(s.ip, s.port)}\n${section('Storage', n)}\n`;
      if (useStorageId) out += `\tid=${s.id}\n`;
      out += `\tgroup_name=${g.name}\n\tip_addr=${s.ip}\n\tstatus=${s.status}\n\tversion=${s.version}\n`
        + `\tjoin_time=${s.joinTime}\n\tstorage_port=${s.port}\n\tsync_src_server=${s.syncSrcId}\n`
        + `\tsync_until_timestamp=${s.syncUntil}\n\ttotal_mb=${s.totalMb}\n\tfree_mb=${s.freeMb}\n`
        + `\tchangelog_offset=${s.changelogOffset}\n\tstore_path_count=${s.storePathCount}\n`
        + `\tsubdir_count_per_path=${s.subdirCountPerPath}\n\tupload_priority=${s.uploadPriority}\n`;
      for (const k of PERSISTED_COUNTERS) out += `\t${k}=${s.stat.counters[k]}\n`;
      out += `\tlast_source_update=${s.stat.last_source_update}\n\tlast_sync_update=${s.stat.last_sync_update}\n`
        + `\tlast_synced_timestamp=${s.stat.last_synced_timestamp}\n\tlast_heart_beat_time=${s.stat.last_heart_beat_time}\n\n`;
    }
  }
  return `${out}\n[Global]\n\tstorage_count=${n}\n`;
}

export function formatSyncTimestampsFile(cluster: Cluster): string {
  let out = '';
  for (const g of cluster.sortedGroups()) {
    const live = g.members.filter((m) => m.live);
    for (const src of live) {
      const row = g.syncTimestamps.get(src.id);
      out += `${g.name},${src.id}${live.map((dest) => `,${row?.get(dest.id) ?? 0}`).join('')}\n`;
    }
  }
  return out;
}

/** One `[Section]` of a libfastcommon INI file, keys in file order. */
export interface IniSection {
  name: string;
  values: Map<string, string>;
}

/** Reads `[Section]` / `key=value` / `# comment` text; keys before any section go to section ''. */
export function parseIni(text: string): IniSection[] {
  const out: IniSection[] = [{ name: '', values: new Map() }];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^\[(.*)\]$/.exec(line);
    if (m) { out.push({ name: m[1]!.trim(), values: new Map() }); continue; }
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out[out.length - 1]!.values.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return out;
}

function int(v: string | undefined): number {
  const n = Number.parseInt(v ?? '', 10);
  return Number.isFinite(n) ? n : 0;
}

function corrupt(file: string, what: string, errno: 'ENOENT' | 'EINVAL' = 'EINVAL'): FdfsError {
  return new FdfsError(errno, what, { subject: file });
}

/**
 * Loads files 0–2 into an empty cluster (§8.8 loading rules). `idOf` turns a loaded IP into the
 * storage id when the servers file has no `id=` (use_storage_id off); `ipsOf` gives all addresses of
 * an id (dual-IP entries of storage_ids.conf).
 */
export function loadDataFiles(cluster: Cluster, texts: { groups?: string; servers?: string; sync?: string }, opts: {
  useStorageId: boolean;
  storeServer: number;
  idOf: (ip: string) => string;
  ipsOf: (id: string, ip: string) => string[];
}): void {
  if (texts.groups !== undefined) {
    const sections = parseIni(texts.groups);
    const global = sections.find((s) => s.name === 'Global');
    if (!global?.values.has('group_count')) throw corrupt(GROUPS_FILE, 'item "group_count" is missing', 'ENOENT');
    for (const s of sections) {
      if (!/^Group\d+$/.test(s.name)) continue;
      const name = s.values.get('group_name');
      if (!name) throw corrupt(GROUPS_FILE, `section [${s.name}] has no group_name`, 'ENOENT');
      const g = cluster.addGroup(name, int(s.values.get('storage_port')), int(s.values.get('store_path_count')), int(s.values.get('subdir_count_per_path')));
      g.currentTrunkFileId = int(s.values.get('current_trunk_file_id'));
      g.trunkServerId = s.values.get('trunk_server') ?? '';
      g.lastTrunkServerId = s.values.get('last_trunk_server') ?? '';
    }
  }
  if (texts.servers !== undefined) {
    const sections = parseIni(texts.servers);
    const global = sections.find((s) => s.name === 'Global');
    if (!global?.values.has('storage_count')) throw corrupt(SERVERS_FILE, 'item "storage_count" is missing', 'ENOENT');
    const pendingSrc: Array<[StorageRecord, string]> = [];
    for (const sec of sections) {
      if (!/^Storage\d+$/.test(sec.name)) continue;
      const v = sec.values;
      const groupName = v.get('group_name');
      if (!groupName) throw corrupt(SERVERS_FILE, `section [${sec.name}] has no group_name`, 'ENOENT');
      const g = cluster.getGroup(groupName);
      if (!g) throw corrupt(SERVERS_FILE, `section [${sec.name}]: group ${groupName} is not in ${GROUPS_FILE}`, 'ENOENT');
      const ip = v.get('ip_addr') ?? '';
      const id = opts.useStorageId && v.get('id') ? v.get('id')! : opts.idOf(ip);
      if (!id || g.find(id)) continue;
      const port = int(v.get('storage_port')) || g.port;
      // §8.8: a restarted tracker has no report connections yet; only the initial-sync states survive.
      const saved = int(v.get('status'));
      const status = saved === ST.INIT || saved === ST.WAIT_SYNC || saved === ST.SYNCING ? saved : ST.OFFLINE;
      const s = cluster.addStorage(g, id, opts.ipsOf(id, ip), port, status);
      s.version = v.get('version') ?? '';
      s.joinTime = int(v.get('join_time'));
      s.syncUntil = int(v.get('sync_until_timestamp'));
      s.totalMb = int(v.get('total_mb'));
      s.freeMb = int(v.get('free_mb'));
      // Totals count for the group figures (91) at once; per-path figures come with the next report.
      s.diskReported = s.totalMb > 0;
      s.changelogOffset = int(v.get('changelog_offset'));
      s.storePathCount = int(v.get('store_path_count'));
      s.subdirCountPerPath = int(v.get('subdir_count_per_path'));
      s.uploadPriority = int(v.get('upload_priority'));
      for (const k of PERSISTED_COUNTERS) s.stat.counters[k] = int(v.get(k));
      s.stat.last_source_update = int(v.get('last_source_update'));
      s.stat.last_sync_update = int(v.get('last_sync_update'));
      s.stat.last_synced_timestamp = int(v.get('last_synced_timestamp'));
      s.stat.last_heart_beat_time = int(v.get('last_heart_beat_time'));
      const src = v.get('sync_src_server') ?? '';
      if (src) pendingSrc.push([s, src]);
    }
    for (const [s, src] of pendingSrc) {
      if (!s.group.find(src)) throw corrupt(SERVERS_FILE, `sync_src_server ${src} of storage ${s.id} is not a member of ${s.group.name}`, 'ENOENT');
      s.syncSrcId = src;
    }
  }
  if (texts.sync !== undefined) {
    const rowIndex = new Map<GroupRecord, number>();
    for (const raw of texts.sync.split('\n')) {
      if (raw.trim() === '') continue;
      const fields = raw.split(',').map((f) => f.trim());
      if (fields.length <= 2) throw corrupt(SYNC_TIMESTAMPS_FILE, `line "${raw}" has too few fields`);
      const g = cluster.getGroup(fields[0]!);
      if (!g) continue;
      const live = g.members.filter((m) => m.live);
      const k = rowIndex.get(g) ?? 0;
      rowIndex.set(g, k + 1);
      if (live[k]?.id !== fields[1]) throw corrupt(SYNC_TIMESTAMPS_FILE, `row ${k + 1} of group ${g.name} names ${fields[1]}, expected ${live[k]?.id ?? 'nothing'}`);
      if (fields.length > live.length + 2) throw corrupt(SYNC_TIMESTAMPS_FILE, `line "${raw}" has more columns than group ${g.name} has members`);
      const row = new Map<string, number>();
      for (let c = 2; c < fields.length; c++) {
        const t = int(fields[c]);
        if (t > 0) row.set(live[c - 2]!.id, t);
      }
      g.syncTimestamps.set(fields[1]!, row);
    }
    cluster.recomputeSyncedTimestamps(opts.storeServer);
  }
}

/** `"%d %s %s %d %s\n"`: an empty extra leaves a space before the newline (§8.8). */
export function formatChangelogLine(ts: number, group: string, storageId: string, status: number, extra = ''): string {
  return `${ts} ${group} ${storageId} ${status} ${extra}\n`;
}

/** Bytes 77 sends from `remaining` unread bytes: 8182 when more than 8202 remain, else all (§4.15). */
export function changelogChunkSize(remaining: number): number {
  return remaining > 8202 ? 8182 : Math.max(0, remaining);
}

export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(text, 'latin1');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    // A half-written temp file on a full disk only takes space the next attempt needs.
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Owns `<base_path>/data`: coalesces save requests (a burst of status changes is one write per
 * file) and serialises changelog appends and reads so a 77 never reads a half-written line.
 */
export class TrackerStore {
  readonly dataDir: string;
  readonly logsDir: string;
  /** Current size of storage_changelog.dat. */
  changelogSize = 0;
  private readonly pending = new Set<DataFile>();
  private running: Promise<void> | null = null;
  private changelogChain: Promise<void> = Promise.resolve();
  /** While a peer copies the files (61 … 62, §8.7), writes wait here. */
  private held: Promise<void> | null = null;

  constructor(basePath: string, private readonly cluster: Cluster, private readonly useStorageId: boolean, private readonly log: Logger) {
    this.dataDir = join(basePath, 'data');
    this.logsDir = join(basePath, 'logs');
  }

  async init(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
    await mkdir(this.logsDir, { recursive: true });
    const swept = await sweepTempFiles(this.dataDir, { match: STATE_TEMP });
    if (swept > 0) this.log('info', `removed ${swept} temp file(s) a failed write left in ${this.dataDir}`);
    try {
      this.changelogSize = (await stat(join(this.dataDir, CHANGELOG_FILE))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.changelogSize = 0;
    }
  }

  async load(opts: Omit<Parameters<typeof loadDataFiles>[2], 'useStorageId'>): Promise<void> {
    const groups = await readIfExists(join(this.dataDir, GROUPS_FILE));
    // Without the groups file the others cannot be placed; FastDFS starts empty in that case too.
    if (groups === undefined) return;
    const servers = await readIfExists(join(this.dataDir, SERVERS_FILE));
    const sync = servers === undefined ? undefined : await readIfExists(join(this.dataDir, SYNC_TIMESTAMPS_FILE));
    loadDataFiles(this.cluster, { groups, servers, sync }, { ...opts, useStorageId: this.useStorageId });
  }

  hasDataFiles(): boolean {
    return existsSync(join(this.dataDir, GROUPS_FILE));
  }

  /** Rewrite the given files (soon, coalesced). The promise settles once they are on disk. */
  save(...files: DataFile[]): Promise<void> {
    for (const f of files) this.pending.add(f);
    this.running ??= this.flush();
    return this.running;
  }

  saveAll(): Promise<void> {
    return this.save('groups', 'servers', 'sync');
  }

  private async flush(): Promise<void> {
    try {
      // Yield once so that the status changes of the current request are all in the snapshot.
      await Promise.resolve();
      while (this.held) await this.held;
      await this.writePending();
    } finally {
      // Synchronously after the last pending check: a save() from now on starts a new flush.
      this.running = null;
    }
  }

  private async writePending(): Promise<void> {
    while (this.pending.size > 0) {
      const files = [...this.pending];
      this.pending.clear();
      for (const f of files) {
        const [name, text] = f === 'groups' ? [GROUPS_FILE, formatGroupsFile(this.cluster)]
          : f === 'servers' ? [SERVERS_FILE, formatServersFile(this.cluster, this.useStorageId)]
            : [SYNC_TIMESTAMPS_FILE, formatSyncTimestampsFile(this.cluster)];
        try {
          await writeAtomic(join(this.dataDir, name), text);
        } catch (err) {
          this.log('error', `cannot write ${name}: ${(err as Error).message}`);
        }
      }
    }
  }

  /** Append one line to the changelog and fsync it; resolves once durable. */
  appendChangelog(line: string): Promise<void> {
    const run = async () => {
      while (this.held) await this.held;
      const fh = await open(join(this.dataDir, CHANGELOG_FILE), 'a', 0o644);
      try {
        await fh.writeFile(line, 'latin1');
        await fh.sync();
      } finally {
        await fh.close();
      }
      this.changelogSize += Buffer.byteLength(line, 'latin1');
    };
    const p = this.changelogChain.then(run);
    this.changelogChain = p.catch((err) => this.log('error', `cannot append to ${CHANGELOG_FILE}: ${(err as Error).message}`));
    return p;
  }

  /** Up to `max` changelog bytes from `offset` (after pending appends). */
  async readChangelog(offset: number, max: number): Promise<Buffer> {
    await this.changelogChain;
    const len = Math.min(max, this.changelogSize - offset);
    if (len <= 0) return Buffer.alloc(0);
    const fh = await open(join(this.dataDir, CHANGELOG_FILE), 'r');
    try {
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, offset);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  /** `.tracker_status` (§8.8): last_check_time of the previous run, 0 when there is none. */
  async readStatusFile(): Promise<number> {
    const text = await readIfExists(join(this.dataDir, STATUS_FILE));
    if (text === undefined) return 0;
    return int(parseIni(text)[0]!.values.get('last_check_time'));
  }

  async writeStatusFile(upTime: number, now: number): Promise<void> {
    try {
      await writeAtomic(join(this.dataDir, STATUS_FILE), `up_time=${upTime}\nlast_check_time=${now}\n`);
    } catch (err) {
      this.log('warn', `cannot write ${STATUS_FILE}: ${(err as Error).message}`);
    }
  }

  /** `logs/trunk_server_change.log` (§8.8), informational only. */
  async logTrunkChange(line: string): Promise<void> {
    try {
      await appendFile(join(this.logsDir, 'trunk_server_change.log'), line);
    } catch (err) {
      this.log('warn', `cannot write trunk_server_change.log: ${(err as Error).message}`);
    }
  }

  /**
   * Hold every file write until the returned release is called (§8.7: 61 takes a lock that also
   * blocks the tracker's own writes, so a peer copies one consistent set). Call after drain().
   */
  hold(): () => void {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    this.held = gate;
    return () => {
      if (this.held === gate) this.held = null;
      release();
    };
  }

  /** Wait for every save and append requested so far. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
    await this.changelogChain;
  }
}
