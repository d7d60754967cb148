import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { after, before, describe, test } from 'node:test';
import { STORAGE_IPS, freePort, startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import { addrOf, readFrom, uploadTo, waitActive } from './helpers/replication.ts';

// Issue 11, "one event stream, many consumers": the file I/O and replication counters of the
// StorageStat block (what 83 reports) and the sync metrics are fed by the I/O and sync events, so
// after a replicated upload and a download a user sees them move on /metrics, with the same
// values on both ends of the sync.

/** `name{labels…}` → value, for the lines of a Prometheus text page whose labels include all of `want`. */
function sample(page: string, name: string, want: Record<string, string>): number | null {
  let total: number | null = null;
  for (const line of page.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(want).every(([k, v]) => labels[k] === v)) total = (total ?? 0) + Number(m[3]);
  }
  return total;
}

describe('storage events feed the stat counters and metrics', () => {
  let cluster: Cluster;
  let httpPort: number;
  const content = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 253));
  const metricsOf = async (i: number) => (await fetch(`http://${STORAGE_IPS[i]}:${httpPort}/metrics`)).text();
  const stat = (page: string, counter: string) => sample(page, 'fdfs_storage_stat', { counter }) ?? -1;

  before(async () => {
    httpPort = await freePort(STORAGE_IPS.slice(0, 2));
    cluster = await startCluster({ storages: 2, storage: { 'http.server_port': httpPort } });
    await waitActive(cluster, 2);
  });

  after(async () => { await cluster?.stop(); });

  test('a replicated upload moves file I/O and sync bytes on both storages; a download moves reads', async () => {
    const [a, b] = [addrOf(cluster.storages[0]!), addrOf(cluster.storages[1]!)];
    const before0 = await metricsOf(0);
    const before1 = await metricsOf(1);
    const fileId = await uploadTo(a, content, { ext: 'bin' });
    // A small one too: the receiver stores those in one write (handlers/sync-file.ts).
    const small = Buffer.from('small replicated file\n');
    const smallId = await uploadTo(a, small, { ext: 'txt' });
    const bytes = content.length + small.length;
    await waitFor('the replicas on storage2', async () => (await readFrom(b, fileId)) !== null && (await readFrom(b, smallId)) !== null, 30000, 100);

    // The source counts the push once the peer answered; wait for that event to land.
    const src = (await waitFor('success_sync_out_bytes on storage1', async () => {
      const page = await metricsOf(0);
      return stat(page, 'success_sync_out_bytes') - stat(before0, 'success_sync_out_bytes') >= bytes ? page : null;
    }, 15000, 100))!;
    const dst = await metricsOf(1);
    const delta = (after: string, before: string, c: string) => stat(after, c) - stat(before, c);

    // Source: the upload wrote and opened its file, its body bytes counted, the content went out once.
    assert.ok(delta(src, before0, 'success_file_open_count') >= 2);
    assert.ok(delta(src, before0, 'success_file_write_count') >= 1);
    assert.equal(delta(src, before0, 'total_upload_bytes'), bytes);
    assert.equal(delta(src, before0, 'success_upload_bytes'), bytes);
    assert.equal(delta(src, before0, 'total_sync_out_bytes'), bytes);
    assert.equal(delta(src, before0, 'success_sync_out_bytes'), bytes);
    // Receiver: the same bytes in, written to a file it opened.
    assert.equal(delta(dst, before1, 'total_sync_in_bytes'), bytes);
    assert.equal(delta(dst, before1, 'success_sync_in_bytes'), bytes);
    assert.ok(delta(dst, before1, 'success_file_open_count') >= 2);
    assert.ok(delta(dst, before1, 'total_file_write_count') >= 1);
    assert.equal(delta(dst, before1, 'total_file_write_count'), delta(dst, before1, 'success_file_write_count'));

    // The sync metrics come from the same pushed events, per peer.
    const peer = STORAGE_IPS[1]!;
    assert.ok((sample(src, 'fdfs_sync_pushed_records_total', { peer, op: 'C', status: 'OK' }) ?? 0) >= 2, 'two C records pushed to storage2');
    assert.ok((sample(src, 'fdfs_sync_pushed_bytes_total', { peer }) ?? 0) >= bytes);
    assert.ok((sample(src, 'fdfs_sync_sent_bytes_total', { peer }) ?? 0) >= bytes);
    assert.ok((sample(src, 'fdfs_sync_push_duration_seconds_count', { peer }) ?? 0) >= 2);
    await waitFor('storage2 caught up as of the sync events', async () => sample(await metricsOf(0), 'fdfs_sync_caught_up', { peer }) === 1, 15000, 100);

    // A download from the replica: file opened and read there.
    const got = await readFrom(b, fileId);
    assert.deepEqual(got, content);
    // The request event is published once the server's last write completed, which may be just after the client read it all.
    const dst2 = (await waitFor('the download counted on storage2', async () => {
      const page = await metricsOf(1);
      return delta(page, dst, 'success_download_count') >= 1 ? page : null;
    }, 15000, 50))!;
    assert.ok(delta(dst2, dst, 'success_file_open_count') >= 1);
    assert.ok(delta(dst2, dst, 'success_file_read_count') >= 1);
    assert.equal(delta(dst2, dst, 'success_download_bytes'), content.length);
  });

  test('a peer that goes away shows as sync errors for it on the source', async () => {
    const peer = STORAGE_IPS[1]!;
    const errors = async () => sample(await metricsOf(0), 'fdfs_sync_errors_total', { peer }) ?? 0;
    const before = await errors();
    await cluster.storages[1]!.stop();
    await waitFor('a sync error event for storage2', async () => (await errors()) > before, 20000, 100);
  });
});
