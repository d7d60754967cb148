/** @jsxImportSource react */
import { Text } from 'ink';
import type { GroupSnap } from './snapshot.ts';
import { availMb, formatMb } from './derive.ts';
import { bar, usedFraction } from './format.ts';

// The line that opens a group: members, writable members, space as a bar, reserve. A group with
// no writable member is the one thing here that stops uploads, so it is shouted.

export interface GroupHeaderProps {
  group: GroupSnap;
  width: number;
}

export function GroupHeader({ group, width }: GroupHeaderProps) {
  const st = group.stat;
  const used = usedFraction(st.total_mb, st.free_mb);
  const barWidth = Math.max(4, Math.min(20, Math.floor(width / 6)));
  const pct = Math.round(used * 100);
  const barColor = st.free_mb <= st.reserved_mb ? 'red' : pct >= 80 ? 'yellow' : 'green';
  const noWriter = st.writable_server_count === 0;
  return (
    <Text wrap="truncate-end">
      <Text bold>{st.group_name}</Text>
      {'  '}
      {noWriter
        ? <Text color="red" bold>NO WRITABLE MEMBER</Text>
        : <Text>{st.writable_server_count} writable</Text>}
      <Text dimColor> of {st.storage_count}</Text>
      {'  '}
      <Text color={barColor}>{bar(used, barWidth)}</Text>
      {` ${pct}% used  free ${formatMb(st.free_mb)} of ${formatMb(st.total_mb)}`}
      <Text dimColor>{`  reserve ${formatMb(st.reserved_mb)}  avail ${formatMb(availMb(st.free_mb, st.reserved_mb))}`}</Text>
    </Text>
  );
}
