/** @jsxImportSource react */
import { Box, Text } from 'ink';
import type { TrackerSnap } from './snapshot.ts';

// One line per tracker: reachable or not, leader or follower, round trip, version, last error.

export interface TrackerListProps {
  trackers: readonly TrackerSnap[];
  /** At most this many lines; the rest is summarised on the last one. */
  maxLines?: number;
}

function TrackerLine({ t }: { t: TrackerSnap }) {
  const mark = t.reachable ? '●' : '✗';
  const markColor = !t.reachable ? 'red' : t.isLeader ? 'green' : 'cyan';
  const role = t.isLeader ? 'leader' : t.reachable ? 'follower' : 'unreachable';
  const extra: string[] = [];
  if (t.latencyMs !== undefined) extra.push(`${t.latencyMs} ms`);
  if (t.stat?.version) extra.push(`v${t.stat.version}`);
  if (!t.configured) extra.push('listed by the leader');
  return (
    <Text wrap="truncate-end">
      <Text color={markColor}>{mark}</Text> {t.address} <Text color={markColor} bold={t.isLeader}>{role}</Text>
      {extra.length ? <Text dimColor> {extra.join(' · ')}</Text> : null}
      {t.error ? <Text color={t.reachable ? 'yellow' : 'red'}> {t.error}</Text> : null}
    </Text>
  );
}

export function TrackerList({ trackers, maxLines = trackers.length }: TrackerListProps) {
  const limit = Math.max(1, maxLines);
  const shown = trackers.length > limit ? trackers.slice(0, limit - 1) : trackers;
  const hidden = trackers.slice(shown.length);
  return (
    <Box flexDirection="column">
      {shown.map((t) => <TrackerLine key={t.address} t={t} />)}
      {hidden.length > 0 ? (
        <Text wrap="truncate-end" dimColor>
          +{hidden.length} more tracker(s), {hidden.filter((t) => !t.reachable).length} unreachable
        </Text>
      ) : null}
    </Box>
  );
}
