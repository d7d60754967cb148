/** @jsxImportSource react */
import { useRef, useState } from 'react';
import { Box, Text, useApp, useInput } from 'ink';
import type { Snapshot } from './snapshot.ts';
import { ratesFor, snapshotSeconds, type MonitorEvent, type RateHistory } from './derive.ts';
import { buildBody, columnsFor, windowFor, type BodyLine, type Column } from './layout.ts';
import { TrackerList } from './TrackerList.tsx';
import { GroupHeader } from './GroupPanel.tsx';
import { StorageHeader, StorageRow, WhyLine } from './StorageTable.tsx';
import { StorageDetail } from './StorageDetail.tsx';
import { EventLog } from './EventLog.tsx';
import { Help } from './Help.tsx';

// The whole screen. Pure apart from its own view state (selection, group filter, which view):
// data and terminal size come in as props, so tests render it with recorded snapshots at any size.

export interface AppProps {
  /** Latest poll; undefined before the first one finished. */
  snapshot?: Snapshot;
  history: RateHistory;
  events: readonly MonitorEvent[];
  /** Terminal columns. */
  width: number;
  /** Rows to fill. Keep it below the terminal's rows: Ink clears the whole screen (flicker) when the frame is as tall as the terminal. */
  height: number;
  intervalSec: number;
  /** Called on q / Ctrl-C. Default: unmount the Ink app. */
  onQuit?: () => void;
}

type View = 'main' | 'detail' | 'help';

function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function HeaderLine({ snapshot, groupFilter, intervalSec }: { snapshot?: Snapshot; groupFilter: string | null; intervalSec: number }) {
  return (
    <Text wrap="truncate-end">
      <Text bold color="cyan">fdfs monitor</Text>
      {'  leader '}<Text bold>{snapshot ? snapshot.leader ?? 'unknown' : '…'}</Text>
      {'  group '}<Text bold>{groupFilter ?? 'all'}</Text>
      <Text dimColor>{`  every ${intervalSec}s${snapshot ? `  updated ${clock(snapshot.at)}` : ''}  ·  ? help  q quit`}</Text>
    </Text>
  );
}

function BodyRow({ line, columns, width, selected, nowSec, history }: {
  line: BodyLine; columns: Column[]; width: number; selected: boolean; nowSec: number; history: RateHistory;
}) {
  switch (line.kind) {
    case 'group': return <GroupHeader group={line.group} width={width} />;
    case 'group-error': return <Text wrap="truncate-end" color="red">  {line.text}</Text>;
    case 'header': return <StorageHeader columns={columns} />;
    case 'storage': {
      const key = `${line.group.stat.group_name}/${line.storage.id}`;
      return <StorageRow group={line.group} storage={line.storage} columns={columns} selected={selected} nowSec={nowSec} rates={ratesFor(history, key)} />;
    }
    case 'why': return <WhyLine text={line.text} status={line.status} />;
    case 'note': return <Text wrap="truncate-end" color={line.color}>{line.text}</Text>;
  }
}

export function App({ snapshot, history, events, width, height, intervalSec, onQuit }: AppProps) {
  const { exit } = useApp();
  const [view, setView] = useState<View>('main');
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  const [groupFilter, setGroupFilter] = useState<string | null>(null);

  const body = buildBody(snapshot, groupFilter);
  let selIndex = body.storages.findIndex((s) => s.key === selectedKey);
  if (selIndex < 0 && body.storages.length > 0) selIndex = 0;
  const selected = selIndex >= 0 ? body.storages[selIndex] : undefined;

  // What the input handler reads, current as of the last render. Ink re-subscribes a new handler
  // only in an effect after the frame is written, so a key pressed right after a frame appears
  // reaches the previous handler: its closure would still see the old view (issue 14: the key
  // that should close the help was ignored).
  const latest = useRef({ view, body, selected, snapshot });
  latest.current = { view, body, selected, snapshot };

  // Keys typed faster than frames (pasted, or ? then a key at once) see the view they chose.
  const go = (v: View) => { latest.current.view = v; setView(v); };

  useInput((input, key) => {
    const { view, body, selected, snapshot } = latest.current;
    if (input === 'q' || (key.ctrl && input === 'c')) {
      (onQuit ?? exit)();
      return;
    }
    if (view === 'help') { go('main'); return; }
    // Functional updates: several keys may arrive before the next render (pasted or held keys).
    const move = (d: number) => {
      if (body.storages.length === 0) return;
      setSelectedKey((prev) => {
        const cur = Math.max(0, body.storages.findIndex((x) => x.key === prev));
        return body.storages[Math.min(body.storages.length - 1, Math.max(0, cur + d))]!.key;
      });
    };
    if (key.upArrow || input === 'k') { move(-1); return; }
    if (key.downArrow || input === 'j') { move(1); return; }
    if (view === 'detail') {
      if (key.return || key.escape || key.backspace || key.leftArrow) go('main');
      return;
    }
    if (input === '?') { go('help'); return; }
    if (key.return && selected) { setSelectedKey((prev) => prev ?? selected.key); go('detail'); return; }
    if (input === 'g') {
      const names = snapshot?.groups.map((g) => g.stat.group_name) ?? [];
      setGroupFilter((prev) => {
        const i = prev === null ? -1 : names.indexOf(prev);
        return i + 1 < names.length ? names[i + 1]! : null;
      });
    }
  });

  const h = Math.max(3, height);
  const w = Math.max(20, width);
  const nowSec = snapshot ? snapshotSeconds(snapshot) : 0;

  if (view === 'help') {
    return <Box flexDirection="column" width={w} height={h}><Help height={h} /></Box>;
  }
  if (view === 'detail' && selected) {
    return (
      <Box flexDirection="column" width={w} height={h}>
        <HeaderLine snapshot={snapshot} groupFilter={groupFilter} intervalSec={intervalSec} />
        <StorageDetail group={selected.group} storage={selected.storage} rates={ratesFor(history, selected.key)}
          nowSec={nowSec} width={w} height={h - 1} />
      </Box>
    );
  }

  const trackers = snapshot?.trackers ?? [];
  const trackerLines = Math.min(trackers.length, Math.max(1, Math.floor(h / 6)));
  const avail = h - 1 - trackerLines;
  const eventsHeight = avail >= 12 ? Math.min(8, Math.max(3, Math.floor(avail / 4))) : avail >= 6 ? 2 : 0;
  const bodyHeight = Math.max(1, avail - eventsHeight);
  const focus = selected ? selected.line : 0;
  const [start, end] = windowFor(body.lines.length, bodyHeight, focus);
  const columns = columnsFor(w);
  return (
    <Box flexDirection="column" width={w} height={h}>
      <HeaderLine snapshot={snapshot} groupFilter={groupFilter} intervalSec={intervalSec} />
      {trackers.length > 0 ? <TrackerList trackers={trackers} maxLines={trackerLines} /> : null}
      <Box flexDirection="column" height={bodyHeight}>
        {body.lines.slice(start, end).map((line) => (
          <BodyRow key={line.key} line={line} columns={columns} width={w} nowSec={nowSec} history={history}
            selected={line.kind === 'storage' && selected !== undefined && line.index === selIndex} />
        ))}
      </Box>
      {eventsHeight > 0 ? <EventLog events={events} height={eventsHeight} /> : null}
    </Box>
  );
}
