/** @jsxImportSource react */
import { Text } from 'ink';
import { storageStatusName } from '../lib/protocol/codes.ts';
import type { StorageStatRecord } from '../lib/protocol/records.ts';
import type { GroupSnap } from './snapshot.ts';
import { formatDuration, formatMb, formatRate, heartbeatAge, storageAddress, syncLag, type Rates } from './derive.ts';
import { lagText } from './format.ts';
import { MARKER_WIDTH, statusColor, type Column } from './layout.ts';
import { fit } from './text.ts';

// The storage rows of a group: one line each, columns chosen by layout.columnsFor(width), and
// under a storage that is not ACTIVE one more line saying why.

export function StorageHeader({ columns }: { columns: readonly Column[] }) {
  return (
    <Text wrap="truncate-end" dimColor>
      {' '.repeat(MARKER_WIDTH)}
      {columns.map((c) => fit(c.title, c.width, c.align)).join(' ')}
    </Text>
  );
}

export interface StorageRowProps {
  group: GroupSnap;
  storage: StorageStatRecord;
  columns: readonly Column[];
  selected: boolean;
  /** Snapshot time, Unix seconds. */
  nowSec: number;
  rates: Rates | null;
}

function cell(c: Column, g: GroupSnap, s: StorageStatRecord, nowSec: number, rates: Rates | null): string {
  switch (c.key) {
    case 'id': return s.id;
    case 'address': return storageAddress(s);
    case 'status': return storageStatusName(s.status);
    case 'beat': {
      const age = heartbeatAge(s, nowSec);
      return age === null ? '-' : formatDuration(age);
    }
    case 'free': return formatMb(s.free_mb);
    case 'write': return rates ? formatRate(rates.writeOps, rates.writeBytes) : '-';
    case 'read': return rates ? formatRate(rates.readOps, rates.readBytes) : '-';
    case 'lag': return lagText(syncLag(g, s));
  }
}

export function StorageRow({ group, storage, columns, selected, nowSec, rates }: StorageRowProps) {
  const color = statusColor(storage.status);
  return (
    <Text wrap="truncate-end" inverse={selected}>
      {selected ? '▶ ' : '  '}
      {columns.map((c, i) => {
        const text = fit(cell(c, group, storage, nowSec, rates), c.width, c.align) + (i < columns.length - 1 ? ' ' : '');
        return c.key === 'status' ? <Text key={c.key} color={color} bold>{text}</Text> : <Text key={c.key}>{text}</Text>;
      })}
    </Text>
  );
}

/** The "why not ACTIVE" line under a storage. */
export function WhyLine({ text, status }: { text: string; status: number }) {
  return (
    <Text wrap="truncate-end" color={statusColor(status)}>
      {'    ↳ '}{text}
    </Text>
  );
}
