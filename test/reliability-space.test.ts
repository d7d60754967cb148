import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { PacketServer, type Handler } from '../lib/net/packet-server.ts';
import { CMD, STORAGE_STATUS } from '../lib/protocol/codes.ts';
import { encodeStorageBrief } from '../lib/protocol/records.ts';
import { decodeDiskUsage, encodeChangePush, encodeJoinResponse, encodeParameters, type PathUsage } from '../lib/protocol/storage-tracker.ts';
import { SpaceWatch } from '../lib/storage/space-watch.ts';
import { TrackerReporter } from '../lib/storage/tracker-reporter.ts';
import { FakeHost } from './helpers/fake-reporter-host.ts';

// Issue 15 defect 7: a storage reports its space at once when it crosses the reserve, either way,
// instead of at the next stat_report_interval (300 s by default).

test('SpaceWatch notices a crossing of the reserve either way, not changes on one side', async () => {
  let usage: PathUsage[] = [{ totalMb: 1000, freeMb: 600 }];
  let crossings = 0;
  const w = new SpaceWatch({ diskUsage: async () => usage, reserve: () => '20%', onCross: () => { crossings++; } });
  await w.check();
  usage = [{ totalMb: 1000, freeMb: 400 }];
  await w.check();
  assert.equal(crossings, 0, 'still above the reserve');
  const before = Date.now() - 1;
  usage = [{ totalMb: 1000, freeMb: 150 }];
  await w.check();
  assert.equal(crossings, 1, 'full');
  assert.ok(w.crossedSince(before));
  assert.ok(!w.crossedSince(Date.now() + 1));
  usage = [{ totalMb: 1000, freeMb: 100 }];
  await w.check();
  assert.equal(crossings, 1);
  usage = [{ totalMb: 1000, freeMb: 300 }];
  await w.check();
  assert.equal(crossings, 2, 'freed');
});

test('the reporter sends a disk report at once when the store path fills up and when it is freed', async () => {
  const reports: PathUsage[][] = [];
  const handlers = new Map<number, Handler<null>>();
  const params = encodeParameters([['use_storage_id', 0], ['reserved_storage_space', '20%'], ['store_path', 0]]);
  handlers.set(CMD.STORAGE_GET_MY_IP, (req) => Buffer.from(req.conn.remoteIp, 'latin1'));
  handlers.set(CMD.STORAGE_PARAMETER_REQ, () => params);
  handlers.set(CMD.STORAGE_JOIN, async (req) => { await req.body(); return encodeJoinResponse(STORAGE_STATUS.ACTIVE, ''); });
  handlers.set(CMD.STORAGE_BEAT, async (req) => { await req.body(); return encodeChangePush({}); });
  handlers.set(CMD.STORAGE_REPORT_DISK_USAGE, async (req) => { reports.push(decodeDiskUsage(await req.body())); return encodeChangePush({}); });
  handlers.set(CMD.STORAGE_SYNC_REPORT, async (req) => { await req.body(); return encodeChangePush({}); });
  handlers.set(CMD.STORAGE_CHANGELOG_REQ, () => undefined);
  handlers.set(CMD.STORAGE_SYNC_DEST_REQ, () => undefined);
  handlers.set(CMD.STORAGE_SYNC_NOTIFY, async (req) => { await req.body(); });
  handlers.set(CMD.STORAGE_GET_STATUS, async (req) => {
    await req.body();
    return encodeStorageBrief({ status: STORAGE_STATUS.ACTIVE, port: 23000, id: '127.0.0.1', ip: '127.0.0.1' });
  });
  const tracker = new PacketServer<null>({ name: 'fake-tracker', handlers, state: null, networkTimeout: 60, maxBodyLength: 1 << 20, closeOnEinval: false });
  const { port } = await tracker.listen(0, '127.0.0.1');
  const host = new FakeHost({ syncOldDone: true });
  const reporter = new TrackerReporter(host, {
    tracker_servers: [{ hosts: ['127.0.0.1'], port }], heart_beat_interval: 30, stat_report_interval: 300, connect_timeout: 2, network_timeout: 5,
  }, undefined, { retryDelayMs: 50, connectRetryMs: 50, stopGraceMs: 500 });
  const waitReports = async (n: number) => {
    const deadline = Date.now() + 5000;
    while (reports.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return reports.length;
  };
  try {
    await reporter.bootstrap();
    reporter.start();
    assert.equal(await waitReports(1), 1, 'the first report goes out right after JOIN');
    // stat_report_interval is 300 s: a second report within the wait comes from the crossing.
    host.usage = [{ totalMb: 1000, freeMb: 100 }];
    assert.equal(await waitReports(2), 2, 'a report as the path fills past the reserve');
    assert.deepEqual(reports[1], [{ totalMb: 1000, freeMb: 100 }]);
    host.usage = [{ totalMb: 1000, freeMb: 900 }];
    assert.equal(await waitReports(3), 3, 'a report as it is freed');
    assert.deepEqual(reports[2], [{ totalMb: 1000, freeMb: 900 }]);
  } finally {
    await reporter.stop();
    await tracker.close(100);
  }
});
