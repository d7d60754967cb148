/** @jsxImportSource react */
import { Box, Text } from 'ink';

// `?`: the keys, and what the columns mean.

export const KEYS: Array<[string, string]> = [
  ['↑ ↓  k j', 'move between storages'],
  ['Enter', 'details of the selected storage (all counters); Enter or Esc goes back'],
  ['g', 'show one group at a time (press again for the next, then all)'],
  ['?', 'this help; any key closes it'],
  ['q  Ctrl-C', 'quit'],
];

const COLUMNS: Array<[string, string]> = [
  ['BEAT', 'time since the tracker last heard from the storage'],
  ['FREE', 'free space reported by the storage'],
  ['WRITE', 'uploads+appends+modifies per second and bytes per second, from counter deltas between heartbeats'],
  ['READ', 'downloads per second and bytes per second'],
  ['LAG', 'seconds behind the peer with the newest change (sync delay, worst peer); "never": nothing synced yet'],
  ['↳', 'why a storage is not ACTIVE'],
];

export function Help({ height }: { height: number }) {
  const lines: Array<[string, string, boolean]> = [
    ...KEYS.map(([k, v]) => [k, v, true] as [string, string, boolean]),
    ...COLUMNS.map(([k, v]) => [k, v, false] as [string, string, boolean]),
  ];
  return (
    <Box flexDirection="column">
      <Text bold>fdfs monitor — help</Text>
      {lines.slice(0, Math.max(0, height - 1)).map(([k, v, isKey]) => (
        <Text key={k} wrap="truncate-end">
          <Text color={isKey ? 'cyan' : 'white'} bold>{k.padEnd(11)}</Text> {v}
        </Text>
      ))}
    </Box>
  );
}
