/** @jsxImportSource react */
import { Box, Text } from 'ink';
import { storageStatusName } from '../lib/protocol/codes.ts';
import { STAT_COUNTERS, type StorageStatRecord } from '../lib/protocol/records.ts';
import type { GroupSnap } from './snapshot.ts';
import {
  availMb, formatDuration, formatMb, formatRate, formatTime, heartbeatAge, rwModeText, storageAddress,
  syncLags, whyNotActive, type Rates,
} from './derive.ts';
import { lagText } from './format.ts';
import { statusColor } from './layout.ts';
import { fit } from './text.ts';

// Enter on a storage: everything the tracker knows about it — the whole StorageStat block
// (§1.3) as total/success pairs, store paths, version, join and up time, per-peer sync lag.

export interface StorageDetailProps {
  group: GroupSnap;
  storage: StorageStatRecord;
  rates: Rates | null;
  nowSec: number;
  width: number;
  height: number;
}

export function StorageDetail({ group, storage: s, rates, nowSec, width, height }: StorageDetailProps) {
  const why = whyNotActive(group, s, nowSec);
  const age = heartbeatAge(s, nowSec);
  const lags = syncLags(group, s);
  const c = s.stat.connection;
  const info: string[] = [
    `version ${s.version || '?'} · ${rwModeText(s.rw_mode)} · upload priority ${s.upload_priority}${s.if_trunk_server ? ' · trunk server' : ''}`,
    `joined ${formatTime(s.join_time, nowSec)} · ${s.up_time > 0 ? `up since ${formatTime(s.up_time, nowSec)} (${formatDuration(nowSec - s.up_time)})` : 'not connected to the tracker'}`,
    `heartbeat ${age === null ? 'never' : `${formatDuration(age)} ago (${formatTime(s.stat.last_heart_beat_time, nowSec)})`}`,
    `space free ${formatMb(s.free_mb)} of ${formatMb(s.total_mb)} · reserved ${formatMb(s.reserved_mb)} · available ${formatMb(availMb(s.free_mb, s.reserved_mb))}`,
    `store paths ${s.store_path_count} (writing to M${String(s.current_write_path).padStart(2, '0')}) · ${s.subdir_count_per_path} subdirs per path`,
    `sync source ${s.src_id || 'none'} · last source update ${formatTime(s.stat.last_source_update, nowSec)} · last sync update ${formatTime(s.stat.last_sync_update, nowSec)} · synced up to ${formatTime(s.stat.last_synced_timestamp, nowSec)}`,
    `sync lag ${lags.length ? lags.map((l) => `${l.peer} ${lagText(l.seconds)}`).join(', ') : '- (no peers)'}`,
    `rates ${rates ? `write ${formatRate(rates.writeOps, rates.writeBytes)} · read ${formatRate(rates.readOps, rates.readBytes)} (over ${formatDuration(rates.span)})` : 'need two heartbeats'}`,
    `connections ${c.current_count} now · ${c.max_count} max · ${c.alloc_count} allocated`,
  ];
  const cellWidth = 42;
  const perRow = Math.max(1, Math.floor((width - 2) / cellWidth));
  const cells: string[] = [];
  for (let i = 0; i < STAT_COUNTERS.length; i += 2) {
    const name = STAT_COUNTERS[i]!.replace(/^total_/, '');
    const pair = `${s.stat.counters[STAT_COUNTERS[i]!]} / ${s.stat.counters[STAT_COUNTERS[i + 1]!]}`;
    cells.push(fit(`${fit(name, 18)} ${pair}`, cellWidth - 1));
  }
  const counterRows: string[] = [];
  for (let i = 0; i < cells.length; i += perRow) counterRows.push(cells.slice(i, i + perRow).join(' '));
  // Title, why, info, counters title, counters, footer — cut from the bottom of the counters.
  // The reason is the point of this view: it wraps instead of being cut.
  const whyRows = why ? Math.ceil((why.length + 5) / Math.max(1, width)) : 0;
  const fixedRows = 2 + whyRows + info.length + 1;
  const room = Math.max(0, height - fixedRows);
  const shownCounters = counterRows.slice(0, room);
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold>{s.id}</Text> {storageAddress(s)} in <Text bold>{group.stat.group_name}</Text>{' '}
        <Text color={statusColor(s.status)} bold>{storageStatusName(s.status)}</Text>
      </Text>
      {why ? <Text wrap="wrap" color={statusColor(s.status)}>why: {why}</Text> : null}
      {info.map((line, i) => <Text key={i} wrap="truncate-end">{line}</Text>)}
      <Text wrap="truncate-end" bold>counters (total / success){shownCounters.length < counterRows.length ? <Text dimColor> — {counterRows.length - shownCounters.length} row(s) hidden, enlarge the terminal</Text> : null}</Text>
      {shownCounters.map((row, i) => <Text key={`c${i}`} wrap="truncate-end">  {row}</Text>)}
      <Text dimColor wrap="truncate-end">Enter or Esc: back · q: quit</Text>
    </Box>
  );
}
