/** @jsxImportSource react */
import { Box, Text } from 'ink';
import type { EventLevel, MonitorEvent } from './derive.ts';

// The last status changes seen since start, newest at the bottom (like a log tail).

const LEVEL: Record<EventLevel, { mark: string; color: string }> = {
  info: { mark: '·', color: 'white' },
  ok: { mark: '✓', color: 'green' },
  warn: { mark: '!', color: 'yellow' },
  error: { mark: '✗', color: 'red' },
};

function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export interface EventLogProps {
  events: readonly MonitorEvent[];
  /** Rows available, title included. */
  height: number;
}

export function EventLog({ events, height }: EventLogProps) {
  const rows = Math.max(0, height - 1);
  const shown = rows > 0 ? events.slice(-rows) : [];
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end" bold>Events <Text dimColor>({events.length} since start)</Text></Text>
      {shown.map((e, i) => (
        <Text key={`${e.at}-${i}`} wrap="truncate-end">
          <Text dimColor>{clock(e.at)} </Text>
          <Text color={LEVEL[e.level].color}>{LEVEL[e.level].mark} {e.text}</Text>
        </Text>
      ))}
    </Box>
  );
}
