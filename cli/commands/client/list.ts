import type { Argv, CommandModule } from 'yargs';
import { storageStatusName } from '../../../lib/protocol/codes.ts';
import { formatAddress } from '../../../lib/protocol/ip.ts';
import type { GroupStat, StorageStatRecord } from '../../../lib/protocol/records.ts';
import { formatAge, formatMb, printJson, printLine, withClient, withClientOptions, type ClientArgs } from '../../common.ts';

interface ListArgs extends ClientArgs {
  group?: string;
}

const RW: Record<number, string> = { 0: 'none', 2: 'write', 4: 'read', 6: 'rw' };

function storageJson(s: StorageStatRecord) {
  return { ...s, status: storageStatusName(s.status), status_code: s.status, address: formatAddress(s.ip_addr, s.storage_port) };
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

export const listCommand: CommandModule<any, ListArgs> = {
  command: 'list [group]',
  describe: 'groups and their storages: status, address, space, last heartbeat (like fdfs_monitor)',
  builder: (y): Argv<any> => withClientOptions(y).positional('group', { type: 'string', describe: 'only this group' }),
  handler: (argv) => withClient(argv, async (client) => {
    const groups: GroupStat[] = argv.group ? [await client.tracker.listGroup(argv.group)] : await client.listGroups();
    const result: Array<{ group: GroupStat; storages: StorageStatRecord[] }> = [];
    for (const g of groups) result.push({ group: g, storages: await client.listStorages(g.group_name) });
    if (argv.json) {
      printJson({ groups: result.map((r) => ({ ...r.group, storages: r.storages.map(storageJson) })) });
      return;
    }
    if (result.length === 0) { printLine('no groups'); return; }
    const now = Date.now() / 1000;
    result.forEach(({ group: g, storages }, n) => {
      if (n > 0) printLine();
      const avail = Math.max(0, g.free_mb - g.reserved_mb);
      printLine(`${g.group_name}: ${g.storage_count} storage${g.storage_count === 1 ? '' : 's'} (${g.readable_server_count} readable, ${g.writable_server_count} writable)`
        + `, free ${formatMb(g.free_mb)} of ${formatMb(g.total_mb)}, ${formatMb(avail)} available above the reserve`
        + (g.storage_port > 0 ? `, port ${g.storage_port}` : ''));
      if (storages.length === 0) return;
      const rows = [['  STATUS', 'ADDRESS', 'ID', 'FREE / TOTAL', 'HEARTBEAT', 'MODE', 'VERSION', 'SYNC FROM']];
      for (const s of storages) {
        const hb = s.stat.last_heart_beat_time > 0 ? `${formatAge(now - s.stat.last_heart_beat_time)} ago` : 'never';
        rows.push([
          `  ${storageStatusName(s.status)}`, formatAddress(s.ip_addr, s.storage_port), s.id,
          `${formatMb(s.free_mb)} / ${formatMb(s.total_mb)}`, hb, RW[s.rw_mode] ?? String(s.rw_mode), s.version, s.src_id || '-',
        ]);
      }
      for (const line of table(rows)) printLine(line);
    });
  }),
};
