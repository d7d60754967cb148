/** @jsxImportSource react */
import { Box, Text } from 'ink';
import type { TrackerSnap } from './snapshot.ts';

// One line per tracker: reachable or not, leader or follower, round trip, version, up time, the
// leader it names when that is not the cluster's leader, last error.

export interface TrackerListProps {
  trackers: readonly TrackerSnap[];
  /** At most this many lines; the rest is summarised on the last one. */
  maxLines?: number;
}

/** "42s", "3m", "5h", "2d" since a Unix second. */
function since(ts: number): string {
  const s = Math.max(0, Math.floor(Date.now() / 1000 - ts));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
}

function TrackerLine({ t, leader }: { t: TrackerSnap; leader?: string }) {
  const mark = t.reachable ? '●' : '✗';
  const markColor = !t.reachable ? 'red' : t.isLeader ? 'green' : 'cyan';
  const role = t.isLeader ? 'leader' : t.reachable ? 'follower' : 'unreachable';
  const extra: string[] = [];
  if (t.latencyMs !== undefined) extra.push(`${t.latencyMs} ms`);
  if (t.stat?.version) extra.push(`v${t.stat.version}`);
  if (t.stat?.upTime) extra.push(`up ${since(t.stat.upTime)}`);
  // §8.6: every tracker should name the same leader; one that names another (or none) says so.
  const disagrees = t.reachable && t.configured && leader !== undefined && t.leader !== undefined && t.leader !== leader;
  if (!t.configured) extra.push('listed by the leader');
  return (
    <Text wrap="truncate-end">
      <Text color={markColor}>{mark}</Text> {t.address} <Text color={markColor} bold={t.isLeader}>{role}</Text>
      {extra.length ? <Text dimColor> {extra.join(' · ')}</Text> : null}
      {disagrees ? <Text color="yellow"> names {t.leader || 'no'} leader</Text> : null}
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
      {shown.map((t) => <TrackerLine key={t.address} t={t} leader={trackers.find((x) => x.isLeader)?.address} />)}
      {hidden.length > 0 ? (
        <Text wrap="truncate-end" dimColor>
          +{hidden.length} more tracker(s), {hidden.filter((t) => !t.reachable).length} unreachable
        </Text>
      ) : null}
    </Box>
  );
}
