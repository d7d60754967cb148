import { STORAGE_STATUS } from '../lib/protocol/codes.ts';
import type { StorageStatRecord } from '../lib/protocol/records.ts';
import { storageKey, type GroupSnap, type Snapshot } from './snapshot.ts';
import { snapshotSeconds, whyNotActive } from './derive.ts';

// Screen layout as data: which lines the main view shows, which columns fit the width, which
// window of lines fits the height. Pure, so the narrow-terminal rules are tested without Ink.

const S = STORAGE_STATUS;

/** Ink colour of a status: ACTIVE green, WAIT_SYNC/SYNCING yellow, OFFLINE red (issue 6). */
export function statusColor(status: number): string {
  switch (status) {
    case S.ACTIVE: return 'green';
    case S.WAIT_SYNC: case S.SYNCING: return 'yellow';
    case S.OFFLINE: return 'red';
    case S.ONLINE: case S.INIT: return 'cyan';
    case S.RECOVERY: return 'magenta';
    default: return 'gray';
  }
}

export type ColumnKey = 'id' | 'address' | 'status' | 'beat' | 'free' | 'write' | 'read' | 'lag';

export interface Column {
  key: ColumnKey;
  title: string;
  width: number;
  align: 'left' | 'right';
}

// In display order. `drop` gives the order columns leave a narrowing terminal (first = first to go).
const ALL_COLUMNS: Column[] = [
  { key: 'id', title: 'ID', width: 16, align: 'left' },
  { key: 'address', title: 'ADDRESS', width: 22, align: 'left' },
  { key: 'status', title: 'STATUS', width: 10, align: 'left' },
  { key: 'beat', title: 'BEAT', width: 7, align: 'right' },
  { key: 'free', title: 'FREE', width: 10, align: 'right' },
  { key: 'write', title: 'WRITE', width: 16, align: 'right' },
  { key: 'read', title: 'READ', width: 16, align: 'right' },
  { key: 'lag', title: 'LAG', width: 7, align: 'right' },
];
// The address goes first: without storage ids it repeats the ID (only the port is new).
const DROP_ORDER: ColumnKey[] = ['address', 'read', 'write', 'free', 'lag', 'beat'];
/** Selection marker in front of every row. */
export const MARKER_WIDTH = 2;

/** The columns that fit `width` cells; ID and STATUS always stay (ID shrinks to 8 at worst). */
export function columnsFor(width: number): Column[] {
  let cols = ALL_COLUMNS.map((c) => ({ ...c }));
  const total = () => MARKER_WIDTH + cols.reduce((a, c) => a + c.width + 1, 0);
  for (const key of DROP_ORDER) {
    if (total() <= width) break;
    cols = cols.filter((c) => c.key !== key);
  }
  const id = cols.find((c) => c.key === 'id')!;
  while (total() > width && id.width > 8) id.width--;
  return cols;
}

export type BodyLine =
  | { kind: 'group'; key: string; group: GroupSnap }
  | { kind: 'group-error'; key: string; text: string }
  | { kind: 'header'; key: string }
  | { kind: 'storage'; key: string; group: GroupSnap; storage: StorageStatRecord; index: number }
  | { kind: 'why'; key: string; text: string; status: number }
  | { kind: 'note'; key: string; text: string; color?: string };

export interface Body {
  lines: BodyLine[];
  /** Selectable storages in screen order: storageKey → position in `lines`. */
  storages: Array<{ key: string; line: number; group: GroupSnap; storage: StorageStatRecord }>;
}

/** The groups part of the main view, as one line per entry. */
export function buildBody(snap: Snapshot | undefined, groupFilter: string | null): Body {
  const lines: BodyLine[] = [];
  const storages: Body['storages'] = [];
  if (!snap) {
    lines.push({ kind: 'note', key: 'wait', text: 'asking the trackers…' });
    return { lines, storages };
  }
  if (snap.groupsError) {
    lines.push({ kind: 'note', key: 'groups-error', text: `groups unavailable: ${snap.groupsError}`, color: 'red' });
    return { lines, storages };
  }
  const groups = snap.groups.filter((g) => groupFilter === null || g.stat.group_name === groupFilter);
  if (groups.length === 0) {
    lines.push({ kind: 'note', key: 'no-groups', text: groupFilter ? `group ${groupFilter} is not listed` : 'no groups yet: no storage has joined' });
  }
  const nowS = snapshotSeconds(snap);
  for (const g of groups) {
    const name = g.stat.group_name;
    lines.push({ kind: 'group', key: `g:${name}`, group: g });
    if (g.error) lines.push({ kind: 'group-error', key: `ge:${name}`, text: g.error });
    if (g.storages.length) lines.push({ kind: 'header', key: `h:${name}` });
    for (const s of g.storages) {
      const key = storageKey(name, s.id);
      storages.push({ key, line: lines.length, group: g, storage: s });
      lines.push({ kind: 'storage', key: `s:${key}`, group: g, storage: s, index: storages.length - 1 });
      const why = whyNotActive(g, s, nowS);
      if (why) lines.push({ kind: 'why', key: `w:${key}`, text: why, status: s.status });
    }
  }
  return { lines, storages };
}

/**
 * The slice of `count` lines that fits `height` rows and keeps line `focus` visible, with its
 * group header when there is room. Returns [start, end).
 */
export function windowFor(count: number, height: number, focus: number): [number, number] {
  const h = Math.max(1, height);
  if (count <= h) return [0, count];
  const f = Math.min(Math.max(0, focus), count - 1);
  // Keep a little context above the focused line, then fill downwards.
  let start = Math.max(0, f - Math.max(1, Math.floor(h / 3)));
  if (start + h > count) start = count - h;
  return [start, start + h];
}
