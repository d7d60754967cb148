import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import process from 'node:process';
import { PacketServer, type Handler, type Request } from '../lib/net/packet-server.ts';
import { CMD, FDFS_VERSION, STORAGE_STATUS } from '../lib/protocol/codes.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import { FieldReader, fixed } from '../lib/protocol/fields.ts';
import {
  STORAGE_STAT_LEN, decodeStorageBrief, decodeStorageStat, encodeStorageBrief,
  type StorageBrief,
} from '../lib/protocol/records.ts';
import {
  JOIN_FIXED_LEN, decodeDiskUsage, decodeGetMyIpRequest, decodeJoinRequest, decodeReportStatus, decodeSyncReport,
  decodeSyncSource, encodeChangePush, encodeJoinResponse, encodeParameters, encodeSyncSource,
  type ChangePush,
} from '../lib/protocol/storage-tracker.ts';
import { TrackerReporter, ownIdFromIps, type ReporterConfig, type TrackerReporterOptions } from '../lib/storage/tracker-reporter.ts';
import { reportStatusToTrackers } from '../lib/storage/tracker-session.ts';
import { haveCaptures, loadCapture, packetBody } from './helpers/captures.ts';
import { FakeHost } from './helpers/fake-reporter-host.ts';

// The storage's tracker side (PROTOCOL.md §4) against a fake tracker built on the real
// PacketServer: a handler table with canned answers that records every request it gets.

// ------------------------------------------------------------------ fake tracker

interface Received {
  cmd: number;
  body: Buffer;
  conn: number;
  peer: string;
}

interface FakeTrackerOptions {
  host?: string;
  params?: Array<[string, string | number]>;
  /** storage_ids.conf lines for 69 (ids mode). */
  ids?: string[];
  /** Reply to 70. */
  serverId?: string;
  /** Reply to 109. */
  groupName?: string;
  joinStatus?: number;
  /** Body of 87's reply: null = empty (first storage of the group). */
  syncSource?: { srcId: string; until: number } | null;
  /** Change-push answered to 83/84/89; called per request. */
  push?: (cmd: number, req: Request) => ChangePush | null;
  /** Called with each 88 body; may throw an FdfsError to refuse it. */
  onSyncNotify?: (body: Buffer) => void;
  /** Raw change-push bytes for 83/84/89 (wins over `push`). */
  rawPush?: (cmd: number) => Buffer | null;
  /** Status reported by 71 (default: ACTIVE once a beat arrived). */
  status71?: () => number | 'ENOENT';
}

const DEFAULT_PARAMS: Array<[string, string | number]> = [
  ['use_storage_id', 0], ['id_type_in_filename', 'ip'], ['trust_storage_server_id', 1],
  ['response_ip_addr_size', 16], ['storage_ip_changed_auto_adjust', 1], ['storage_sync_file_max_delay', 86400],
  ['store_path', 0], ['reserved_storage_space', '20.00%'], ['use_trunk_file', 0],
];

class FakeTracker extends EventEmitter {
  readonly received: Received[] = [];
  readonly server: PacketServer<null>;
  port = 0;
  beats = 0;
  private connIds = new WeakMap<object, number>();
  private nextConn = 1;

  constructor(readonly opts: FakeTrackerOptions = {}) {
    super();
    const handlers = new Map<number, Handler<null>>();
    const on = (cmd: number, fn: (req: Request, body: Buffer) => Buffer | Buffer[] | void | Promise<Buffer | void>) => {
      handlers.set(cmd, async (req) => {
        const body = await req.body();
        let id = this.connIds.get(req.conn);
        if (id === undefined) { id = this.nextConn++; this.connIds.set(req.conn, id); }
        this.received.push({ cmd, body, conn: id, peer: req.conn.remoteIp });
        this.emit('request', cmd);
        return fn(req, body);
      });
    };
    const push = (cmd: number, req: Request) => this.opts.rawPush?.(cmd) ?? encodeChangePush(this.opts.push?.(cmd, req) ?? {});
    on(CMD.STORAGE_GET_MY_IP, (req) => Buffer.from(req.conn.remoteIp, 'latin1'));
    on(CMD.STORAGE_PARAMETER_REQ, () => encodeParameters(this.opts.params ?? DEFAULT_PARAMS));
    on(CMD.STORAGE_GET_GROUP_NAME, () => {
      if (!this.opts.groupName) throw new FdfsError('EOPNOTSUPP');
      return fixed(this.opts.groupName, 16);
    });
    on(CMD.STORAGE_FETCH_STORAGE_IDS, (_req, body) => {
      const ids = this.opts.ids ?? [];
      const start = body.readInt32BE(0);
      if (start < 0 || start >= ids.length) throw new FdfsError('EINVAL');
      // Two ids per page so that paging is exercised.
      const page = ids.slice(start, start + 2);
      const head = Buffer.alloc(8);
      head.writeInt32BE(ids.length, 0);
      head.writeInt32BE(page.length, 4);
      return [head, Buffer.from(page.map((l) => `${l}\n`).join(''), 'latin1')];
    });
    on(CMD.STORAGE_GET_SERVER_ID, () => {
      if (!this.opts.serverId) throw new FdfsError('ENOENT');
      return Buffer.from(this.opts.serverId, 'latin1');
    });
    on(CMD.STORAGE_JOIN, (req) => {
      req.conn.data.joined = true;
      return encodeJoinResponse(this.opts.joinStatus ?? STORAGE_STATUS.INIT, '');
    });
    on(CMD.STORAGE_SYNC_DEST_REQ, () => (this.opts.syncSource ? encodeSyncSource(this.opts.syncSource) : undefined));
    on(CMD.STORAGE_SYNC_NOTIFY, (_req, body) => { this.opts.onSyncNotify?.(body); });
    on(CMD.STORAGE_BEAT, (req) => { this.beats++; return push(CMD.STORAGE_BEAT, req); });
    on(CMD.STORAGE_REPORT_DISK_USAGE, (req) => push(CMD.STORAGE_REPORT_DISK_USAGE, req));
    on(CMD.STORAGE_SYNC_REPORT, (req) => push(CMD.STORAGE_SYNC_REPORT, req));
    on(CMD.STORAGE_CHANGELOG_REQ, () => undefined);
    on(CMD.STORAGE_REPORT_STATUS, () => undefined);
    on(CMD.STORAGE_CHANGE_STATUS, () => undefined);
    on(CMD.STORAGE_GET_STATUS, (_req, body) => {
      const s = this.opts.status71?.() ?? (this.beats > 0 ? STORAGE_STATUS.ACTIVE : STORAGE_STATUS.ONLINE);
      if (s === 'ENOENT') throw new FdfsError('ENOENT');
      const addr = body.subarray(16).toString('latin1');
      return encodeStorageBrief({ status: s, port: Number(addr.slice(addr.lastIndexOf(':') + 1)), id: 'x', ip: addr.slice(0, addr.lastIndexOf(':')) });
    });
    this.server = new PacketServer<null>({
      name: 'fake-tracker', handlers, state: null, networkTimeout: 60, maxBodyLength: 1 << 20, closeOnEinval: false,
    });
  }

  async listen(): Promise<this> {
    const a = await this.server.listen(0, this.opts.host ?? '127.0.0.1');
    this.port = a.port;
    return this;
  }

  get line(): string { return `${this.opts.host ?? '127.0.0.1'}:${this.port}`; }
  get openConnections(): number { return this.server.connections.size; }
  of(cmd: number): Received[] { return this.received.filter((r) => r.cmd === cmd); }
  close(): Promise<void> { return this.server.close(200); }

  /** Drop every connection, as a restarting tracker does. */
  dropAll(): void { for (const c of this.server.connections) c.destroy(); }
}

// ------------------------------------------------------------------ helpers

/** Poll a condition with a bounded deadline (no fixed sleeps). */
async function waitFor<T>(what: string, fn: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function config(trackers: FakeTracker[], extra: Partial<ReporterConfig> = {}): ReporterConfig {
  return {
    tracker_servers: trackers.map((t) => ({ hosts: [t.opts.host ?? '127.0.0.1'], port: t.port })),
    heart_beat_interval: 30,
    stat_report_interval: 60,
    connect_timeout: 2,
    network_timeout: 5,
    ...extra,
  };
}

const FAST: TrackerReporterOptions = { retryDelayMs: 50, connectRetryMs: 50, stopGraceMs: 500 };

async function withCluster(n: number, opts: FakeTrackerOptions, fn: (trackers: FakeTracker[]) => Promise<void>): Promise<void> {
  const trackers: FakeTracker[] = [];
  try {
    for (let i = 0; i < n; i++) trackers.push(await new FakeTracker(opts).listen());
    await fn(trackers);
  } finally {
    for (const t of trackers) await t.close();
  }
}

function canBind(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, host, () => s.close(() => resolve(true)));
  });
}

/** Sockets of this process (client and accepted), as node reports its active resources. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

// ------------------------------------------------------------------ start-up (§4 preamble)

test('bootstrap: 60 on a short connection to every tracker, then 75; own id = the IP without storage ids', async () => {
  await withCluster(2, {}, async ([t1, t2]) => {
    const host = new FakeHost();
    const reporter = new TrackerReporter(host, config([t1!, t2!]), undefined, FAST);
    const result = await reporter.bootstrap();
    assert.deepEqual(result.myIps, ['127.0.0.1']);
    assert.equal(result.useStorageId, false);
    assert.equal(result.serverId, '127.0.0.1');
    for (const t of [t1!, t2!]) {
      const [req] = t.of(CMD.STORAGE_GET_MY_IP);
      assert.ok(req, `60 reached ${t.line}`);
      assert.equal(req.body.length, 21);
      assert.deepEqual(decodeGetMyIpRequest(req.body), { group: 'group1', port: 23000 });
    }
    // 75 goes to the first tracker that answers only.
    assert.equal(t1!.of(CMD.STORAGE_PARAMETER_REQ).length + t2!.of(CMD.STORAGE_PARAMETER_REQ).length, 1);
    assert.deepEqual(host.called('onMyIp'), [['127.0.0.1']]);
    const [params] = host.called('onParameters') as Array<Map<string, string>>;
    assert.equal(params!.get('use_storage_id'), '0');
    assert.equal(params!.get('reserved_storage_space'), '20.00%');
    assert.deepEqual(host.called('onServerId'), ['127.0.0.1']);
    assert.equal(host.called('onStorageIds').length, 0);
    // Short connections end with QUIT: the tracker side closes them.
    await waitFor('short connections closed', () => t1!.openConnections === 0 && t2!.openConnections === 0);
    await reporter.stop();
  });
});

test('bootstrap with storage ids: 109 when no group is configured, 69 paged, 70 gives the id', async () => {
  const ids = ['100001 group1 127.0.0.1:23000', '100002 group1 127.0.0.3:23000', '100003 group2 127.0.0.9:23000'];
  await withCluster(1, {
    params: [['use_storage_id', 1], ['id_type_in_filename', 'id']], ids, serverId: '100001', groupName: 'group1',
  }, async ([t]) => {
    const host = new FakeHost({ groupName: '' });
    const reporter = new TrackerReporter(host, config([t!]), undefined, FAST);
    const result = await reporter.bootstrap();
    assert.equal(result.group, 'group1');
    assert.equal(result.useStorageId, true);
    assert.equal(result.serverId, '100001');
    const order = t!.received.map((r) => r.cmd);
    assert.deepEqual(order, [CMD.STORAGE_GET_GROUP_NAME, CMD.STORAGE_GET_MY_IP, CMD.STORAGE_PARAMETER_REQ,
      CMD.STORAGE_FETCH_STORAGE_IDS, CMD.STORAGE_FETCH_STORAGE_IDS, CMD.STORAGE_GET_SERVER_ID]);
    // 109 port-only form (no bind address), 69 from index 0 then 2, 70 = GROUP + "ip:port".
    assert.deepEqual([...t!.of(CMD.STORAGE_GET_GROUP_NAME)[0]!.body], [0, 0, 0x59, 0xd8]);
    assert.deepEqual(t!.of(CMD.STORAGE_FETCH_STORAGE_IDS).map((r) => r.body.readInt32BE(0)), [0, 2]);
    const get70 = t!.of(CMD.STORAGE_GET_SERVER_ID)[0]!.body;
    assert.equal(get70.subarray(16).toString('latin1'), '127.0.0.1:23000');
    assert.deepEqual(host.called('onStorageIds'), [ids]);
    assert.deepEqual(host.called('onServerId'), ['100001']);
    await reporter.stop();
  });
});

test('bootstrap gives up after the configured number of attempts when no tracker answers', async () => {
  const probe = await new FakeTracker().listen();
  await probe.close();
  const host = new FakeHost();
  const reporter = new TrackerReporter(host, {
    tracker_servers: [{ hosts: ['127.0.0.1'], port: probe.port }], heart_beat_interval: 30, stat_report_interval: 60,
  }, undefined, { ...FAST, bootstrapAttempts: 3 });
  const started = Date.now();
  await assert.rejects(reporter.bootstrap(), (err: FdfsError) => err instanceof FdfsError && err.code === 'ECONNREFUSED');
  assert.ok(Date.now() - started < 3000);
  await reporter.stop();
});

test('stop() aborts a bootstrap that is waiting for trackers', async () => {
  const probe = await new FakeTracker().listen();
  await probe.close();
  const reporter = new TrackerReporter(new FakeHost(), {
    tracker_servers: [{ hosts: ['127.0.0.1'], port: probe.port }], heart_beat_interval: 30, stat_report_interval: 60,
  }, undefined, { retryDelayMs: 60_000 });
  const boot = reporter.bootstrap();
  const rejected = assert.rejects(boot, FdfsError);
  await new Promise((r) => setImmediate(r));
  const started = Date.now();
  await reporter.stop();
  await rejected;
  assert.ok(Date.now() - started < 1000, 'stop did not wait for the retry pause');
});

// ------------------------------------------------------------------ report loop (§4.3–4.8)

test('start: JOIN with a well-formed body, then 87, 88, and 83 + 84 right away', async () => {
  await withCluster(1, {}, async ([t]) => {
    const host = new FakeHost();
    const reporter = new TrackerReporter(host, config([t!]), undefined, FAST);
    await reporter.bootstrap();
    const startedAt = Date.now();
    reporter.start();
    await waitFor('83 and 84', () => t!.of(CMD.STORAGE_BEAT).length > 0 && t!.of(CMD.STORAGE_REPORT_DISK_USAGE).length > 0, 3000);
    // heart_beat_interval is 30 s: arriving at all within the wait means "immediately".
    assert.ok(Date.now() - startedAt < 3000);

    const [join] = t!.of(CMD.STORAGE_JOIN);
    assert.ok(join!.body.length >= JOIN_FIXED_LEN);
    const j = decodeJoinRequest(join!.body);
    assert.deepEqual(j, {
      group: 'group1', port: 23000, storePathCount: 1, subdirCountPerPath: 256, uploadPriority: 10,
      joinTime: 1_700_000_000, upTime: 1_700_000_100, version: FDFS_VERSION, initFlag: 1,
      status: STORAGE_STATUS.INIT, storageId: '', currentTrackerIp: '127.0.0.1', trackers: [t!.line],
    });

    // Report-connection order of §4.4 (the short 60/75 connections came first).
    const report = t!.received.filter((r) => r.conn === join!.conn).map((r) => r.cmd);
    assert.deepEqual(report.slice(0, 3), [CMD.STORAGE_JOIN, CMD.STORAGE_SYNC_DEST_REQ, CMD.STORAGE_SYNC_NOTIFY]);
    assert.equal(decodeSyncSource(t!.of(CMD.STORAGE_SYNC_NOTIFY)[0]!.body)!.srcId, '');

    // First beat of a connection carries the 348-byte stat block (as the capture shows).
    const beat = t!.of(CMD.STORAGE_BEAT)[0]!;
    assert.equal(beat.body.length, STORAGE_STAT_LEN);
    assert.deepEqual(decodeDiskUsage(t!.of(CMD.STORAGE_REPORT_DISK_USAGE)[0]!.body), [{ totalMb: 1000, freeMb: 600 }]);

    // 87 with an empty reply: initial sync done, persisted.
    assert.equal(host.syncOldDone, true);
    assert.deepEqual(host.called('onSyncSource'), [null]);
    assert.deepEqual(host.called('saveInitFlag'), [true]);

    const stopStart = Date.now();
    await reporter.stop();
    assert.ok(Date.now() - stopStart < 1000, 'stop() returns promptly');
    await waitFor('report connection closed by QUIT', () => t!.openConnections === 0, 2000);
  });
});

test('a sync source from 87 is stored, persisted and sent with 88; no 87 once initial sync is done', async () => {
  await withCluster(1, { syncSource: { srcId: '127.0.0.9', until: 1_795_595_849 } }, async ([t]) => {
    const host = new FakeHost();
    const reporter = new TrackerReporter(host, config([t!]), undefined, FAST);
    await reporter.bootstrap();
    reporter.start();
    await waitFor('88', () => t!.of(CMD.STORAGE_SYNC_NOTIFY).length > 0);
    assert.deepEqual(decodeSyncSource(t!.of(CMD.STORAGE_SYNC_NOTIFY)[0]!.body), { srcId: '127.0.0.9', until: 1_795_595_849 });
    assert.deepEqual(host.called('onSyncSource'), [{ srcId: '127.0.0.9', until: 1_795_595_849 }]);
    assert.equal(host.syncOldDone, true);

    // A reconnection: JOIN with init_flag 0, no second 87, 88 again with the same source.
    t!.dropAll();
    await waitFor('second 88', () => t!.of(CMD.STORAGE_SYNC_NOTIFY).length > 1);
    assert.equal(t!.of(CMD.STORAGE_SYNC_DEST_REQ).length, 1);
    assert.equal(decodeJoinRequest(t!.of(CMD.STORAGE_JOIN)[1]!.body).initFlag, 0);
    assert.deepEqual(decodeSyncSource(t!.of(CMD.STORAGE_SYNC_NOTIFY)[1]!.body), { srcId: '127.0.0.9', until: 1_795_595_849 });
    await reporter.stop();
  });
});

test('after a restart 88 announces the recorded sync source; ENOENT from the leader forgets it (§4.9)', async () => {
  let refuse = true;
  await withCluster(1, {
    onSyncNotify: (body) => {
      if (refuse && decodeSyncSource(body)!.srcId !== '') { refuse = false; throw new FdfsError('ENOENT'); }
    },
  }, async ([t]) => {
    const host = new FakeHost({ syncOldDone: true, syncSource: { srcId: '127.0.0.9', until: 1_795_595_849 } });
    const reporter = new TrackerReporter(host, config([t!]), undefined, FAST);
    await reporter.bootstrap();
    reporter.start();
    await waitFor('a beat after the second 88', () => t!.of(CMD.STORAGE_BEAT).length > 0, 5000);
    assert.equal(t!.of(CMD.STORAGE_SYNC_DEST_REQ).length, 0, 'no 87 once initial sync is done');
    const notes = t!.of(CMD.STORAGE_SYNC_NOTIFY).map((r) => decodeSyncSource(r.body));
    assert.deepEqual(notes, [{ srcId: '127.0.0.9', until: 1_795_595_849 }, { srcId: '', until: 0 }]);
    assert.deepEqual(host.called('onSyncSource'), [null]);
    assert.equal(host.called('saveInitFlag').length, 1);
    assert.equal(decodeJoinRequest(t!.of(CMD.STORAGE_JOIN)[0]!.body).initFlag, 0);
    await reporter.stop();
  });
});

test('a change-push with members reaches onGroupMembers; our ACTIVE entry emits "active" and onOwnStatus', async () => {
  const members: StorageBrief[] = [
    { status: STORAGE_STATUS.ACTIVE, port: 23000, id: '127.0.0.1', ip: '127.0.0.1' },
    { status: STORAGE_STATUS.WAIT_SYNC, port: 23000, id: '127.0.0.3', ip: '127.0.0.3' },
  ];
  let port = 0;
  const leader = (): StorageBrief => ({ status: 0, port, id: '127.0.0.1', ip: '127.0.0.1' });
  // Tracker never says ACTIVE through 71: the push alone must do it.
  await withCluster(1, {
    status71: () => 'ENOENT',
    push: (cmd) => (cmd === CMD.STORAGE_BEAT ? { leader: leader(), members } : null),
  }, async ([t]) => {
    port = t!.port;
    const host = new FakeHost();
    const reporter = new TrackerReporter(host, config([t!]), undefined, FAST);
    const leaders: Array<string | null> = [];
    reporter.on('leader', (l) => leaders.push(l));
    const active = once(reporter, 'active');
    await reporter.bootstrap();
    reporter.start();
    const [activeTracker] = await active;
    assert.equal(activeTracker, t!.line);
    const [got] = host.called('onGroupMembers') as Array<{ members: StorageBrief[]; trackerAddress: string }>;
    assert.deepEqual(got!.members, members);
    assert.equal(got!.trackerAddress, t!.line);
    assert.deepEqual(host.called('onOwnStatus').slice(-1), [STORAGE_STATUS.ACTIVE]);
    assert.deepEqual(leaders, [t!.line]);
    assert.equal(reporter.leader, t!.line);
    assert.equal(reporter.isActive, true);
    await reporter.stop();
  });
});

test('"active" also comes from 71 GET_STATUS when no tracker pushes a member list yet', async () => {
  await withCluster(1, {}, async ([t]) => {
    const reporter = new TrackerReporter(new FakeHost(), config([t!]), undefined, FAST);
    await reporter.bootstrap();
    const active = once(reporter, 'active');
    reporter.start();
    await active;
    const [q] = t!.of(CMD.STORAGE_GET_STATUS);
    assert.equal(q!.body.subarray(0, 16).toString('latin1').replace(/\0+$/, ''), 'group1');
    assert.equal(q!.body.subarray(16).toString('latin1'), '127.0.0.1:23000');
    await reporter.stop();
  });
});

test('the tracker closing the connection ⇒ the reporter reconnects and JOINs again', async () => {
  await withCluster(1, {}, async ([t]) => {
    const reporter = new TrackerReporter(new FakeHost(), config([t!]), undefined, FAST);
    const disconnected = once(reporter, 'disconnected');
    await reporter.bootstrap();
    reporter.start();
    await waitFor('first beat', () => t!.of(CMD.STORAGE_BEAT).length >= 1);
    t!.dropAll();
    await disconnected;
    // Counted per connection: on a loaded machine more beats or reports may come in between.
    const onSecond = (cmd: number) => {
      const j = t!.of(CMD.STORAGE_JOIN);
      return j.length >= 2 && t!.of(cmd).some((m) => m.conn === j[1]!.conn);
    };
    await waitFor('second JOIN and a beat on it', () => onSecond(CMD.STORAGE_BEAT), 5000);
    const joins = t!.of(CMD.STORAGE_JOIN);
    assert.equal(joins.length, 2);
    assert.notEqual(joins[0]!.conn, joins[1]!.conn);
    // §4.4: 88 on every (re)connection, 84 immediately after connecting.
    assert.equal(t!.of(CMD.STORAGE_SYNC_NOTIFY).length, 2);
    await waitFor('an 84 on the new connection', () => onSecond(CMD.STORAGE_REPORT_DISK_USAGE));
    await reporter.stop();
  });
});

test('a tracker that is down at start is joined once it comes up (connect retry)', async () => {
  const t = new FakeTracker();
  await t.listen();
  const port = t.port;
  await t.close();
  const host = new FakeHost();
  const reporter = new TrackerReporter(host, {
    tracker_servers: [{ hosts: ['127.0.0.1'], port }], heart_beat_interval: 30, stat_report_interval: 60,
  }, undefined, FAST);
  reporter.start(); // without bootstrap: the report connection asks 60 itself
  const again = new FakeTracker();
  try {
    await again.server.listen(port, '127.0.0.1');
    again.port = port;
    await waitFor('JOIN after the tracker came up', () => again.of(CMD.STORAGE_JOIN).length > 0, 5000);
    const onConn = again.received.filter((r) => r.conn === again.of(CMD.STORAGE_JOIN)[0]!.conn).map((r) => r.cmd);
    assert.equal(onConn[0], CMD.STORAGE_GET_MY_IP);
    assert.deepEqual(host.called('onMyIp'), [['127.0.0.1']]);
  } finally {
    await reporter.stop();
    await again.close();
  }
});

test('beats: empty body while counters are unchanged, the stat block when they change; reportNow() beats early', async () => {
  await withCluster(1, {}, async ([t]) => {
    const host = new FakeHost();
    const reporter = new TrackerReporter(host, config([t!], { heart_beat_interval: 1 }), undefined, { ...FAST, tickMs: 100 });
    await reporter.bootstrap();
    reporter.start();
    await waitFor('two beats', () => t!.of(CMD.STORAGE_BEAT).length >= 2, 4000);
    assert.equal(t!.of(CMD.STORAGE_BEAT)[1]!.body.length, 0);
    await reporter.stop();
  });
  await withCluster(1, {}, async ([t]) => {
    const host = new FakeHost();
    const reporter = new TrackerReporter(host, config([t!], { heart_beat_interval: 30 }), undefined, FAST);
    await reporter.bootstrap();
    reporter.start();
    await waitFor('first beat', () => t!.of(CMD.STORAGE_BEAT).length === 1);
    host.stat.counters.total_upload_count = 3;
    host.stat.counters.success_upload_count = 2;
    host.stat.last_source_update = 1_795_595_850;
    host.stat.last_heart_beat_time = 123; // the storage leaves this zero on the wire (§4.5)
    const before = Date.now();
    reporter.reportNow();
    reporter.reportNow();
    reporter.reportNow();
    await waitFor('early beat', () => t!.of(CMD.STORAGE_BEAT).length >= 2, 2000);
    assert.ok(Date.now() - before < 2000);
    const body = t!.of(CMD.STORAGE_BEAT)[1]!.body;
    assert.equal(body.length, STORAGE_STAT_LEN);
    const stat = decodeStorageStat(new FieldReader(body));
    assert.equal(stat.counters.total_upload_count, 3);
    assert.equal(stat.counters.success_upload_count, 2);
    assert.equal(stat.last_source_update, 1_795_595_850);
    assert.equal(stat.last_heart_beat_time, 0);
    // The three calls were coalesced into one beat.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(t!.of(CMD.STORAGE_BEAT).length, 2);
    await reporter.stop();
  });
});

test('setSyncTimestamps ⇒ 89 with one entry per member (ourselves with 0)', async () => {
  const members: StorageBrief[] = [
    { status: STORAGE_STATUS.ACTIVE, port: 23000, id: '127.0.0.1', ip: '127.0.0.1' },
    { status: STORAGE_STATUS.ACTIVE, port: 23000, id: '127.0.0.3', ip: '127.0.0.3' },
  ];
  await withCluster(1, { push: (cmd) => (cmd === CMD.STORAGE_BEAT ? { members } : null) }, async ([t]) => {
    const reporter = new TrackerReporter(new FakeHost(), config([t!]), undefined, { ...FAST, tickMs: 100 });
    await reporter.bootstrap();
    reporter.start();
    await waitFor('first beat', () => t!.of(CMD.STORAGE_BEAT).length === 1);
    assert.equal(t!.of(CMD.STORAGE_SYNC_REPORT).length, 0, 'nothing to report before any progress');
    reporter.setSyncTimestamps(new Map([['127.0.0.3', 1_795_595_843]]));
    await waitFor('89', () => t!.of(CMD.STORAGE_SYNC_REPORT).length === 1, 3000);
    assert.deepEqual(decodeSyncReport(t!.of(CMD.STORAGE_SYNC_REPORT)[0]!.body), [
      { peerId: '127.0.0.1', timestamp: 0 }, { peerId: '127.0.0.3', timestamp: 1_795_595_843 },
    ]);
    reporter.setSyncTimestamps({ '127.0.0.3': 1_795_595_843 }); // unchanged: no new report
    reporter.setSyncTimestamps({ '127.0.0.3': 1_795_595_900 });
    await waitFor('second 89', () => t!.of(CMD.STORAGE_SYNC_REPORT).length === 2, 3000);
    await reporter.stop();
  });
});

test('two trackers: one loop each, 87 asked once, JOIN lists both trackers', async () => {
  await withCluster(2, {}, async ([t1, t2]) => {
    const host = new FakeHost();
    const reporter = new TrackerReporter(host, config([t1!, t2!]), undefined, FAST);
    await reporter.bootstrap();
    reporter.start();
    await waitFor('both beat', () => t1!.of(CMD.STORAGE_BEAT).length > 0 && t2!.of(CMD.STORAGE_BEAT).length > 0);
    assert.equal(t1!.of(CMD.STORAGE_SYNC_DEST_REQ).length + t2!.of(CMD.STORAGE_SYNC_DEST_REQ).length, 1);
    for (const t of [t1!, t2!]) {
      const j = decodeJoinRequest(t.of(CMD.STORAGE_JOIN)[0]!.body);
      assert.deepEqual(j.trackers, [t1!.line, t2!.line]);
      assert.equal(j.currentTrackerIp, '127.0.0.1');
    }
    assert.deepEqual(reporter.trackers.map((s) => s.joined), [true, true]);
    await reporter.stop();
  });
});

test('a follower that sees us differently from the leader gets 59 CHANGE_STATUS (§4.11)', async () => {
  let leaderPort = 0;
  const me = (status: number): StorageBrief => ({ status, port: 23000, id: '127.0.0.1', ip: '127.0.0.1' });
  const leader = await new FakeTracker({
    joinStatus: STORAGE_STATUS.ONLINE,
    push: () => ({ leader: { status: 0, port: leaderPort, id: '127.0.0.1', ip: '127.0.0.1' }, members: [me(STORAGE_STATUS.ACTIVE)] }),
  }).listen();
  leaderPort = leader.port;
  const follower = await new FakeTracker({ joinStatus: STORAGE_STATUS.WAIT_SYNC }).listen();
  try {
    const reporter = new TrackerReporter(new FakeHost({ syncOldDone: true }), config([leader, follower]), undefined, FAST);
    await reporter.bootstrap();
    reporter.start();
    await waitFor('59 on the follower', () => follower.of(CMD.STORAGE_CHANGE_STATUS).length > 0, 5000);
    assert.deepEqual([...follower.of(CMD.STORAGE_CHANGE_STATUS)[0]!.body], [STORAGE_STATUS.ACTIVE]);
    assert.equal(leader.of(CMD.STORAGE_CHANGE_STATUS).length, 0);
    // C re-joins after 59.
    await waitFor('follower re-join', () => follower.of(CMD.STORAGE_JOIN).length >= 2, 5000);
    await reporter.stop();
  } finally {
    await leader.close();
    await follower.close();
  }
});

test('stop() closes every report connection with QUIT, leaves no socket behind, returns promptly', async () => {
  await withCluster(2, {}, async ([t1, t2]) => {
    const baseline = tcpHandles();
    const reporter = new TrackerReporter(new FakeHost(), config([t1!, t2!]), undefined, FAST);
    await reporter.bootstrap();
    reporter.start();
    reporter.reportNow(); // a pending debounce timer must not outlive stop()
    await waitFor('both joined', () => reporter.trackers.every((s) => s.joined));
    const started = Date.now();
    await reporter.stop();
    assert.ok(Date.now() - started < 1000, `stop took ${Date.now() - started} ms`);
    assert.deepEqual(reporter.trackers.map((s) => s.connected), [false, false]);
    await waitFor('tracker side closed', () => t1!.openConnections === 0 && t2!.openConnections === 0, 2000);
    await waitFor('no client sockets left', () => tcpHandles() <= baseline, 2000);
    // A second stop() is the same promise; start() after stop() is refused.
    await reporter.stop();
    assert.throws(() => reporter.start(), FdfsError);
  });
});

test('stop() is prompt even while a tracker does not answer a request', async () => {
  // A "tracker" that accepts and never replies.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.resume(); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  try {
    const reporter = new TrackerReporter(new FakeHost(), {
      tracker_servers: [{ hosts: ['127.0.0.1'], port }], heart_beat_interval: 30, stat_report_interval: 60, network_timeout: 30,
    }, undefined, { ...FAST, stopGraceMs: 200 });
    reporter.start();
    await waitFor('connected', () => sockets.size === 1);
    const started = Date.now();
    await reporter.stop();
    assert.ok(Date.now() - started < 1500, `stop took ${Date.now() - started} ms`);
    await waitFor('socket closed', () => sockets.size === 0, 2000);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});

test('bad tracker replies do not crash the reporter: a malformed change-push ⇒ reconnect', async () => {
  await withCluster(1, {}, async ([t]) => {
    let bad = true;
    // Replace 83's handler with one that answers a 5-byte "change-push" once.
    const orig = t!.server.options.handlers.get(CMD.STORAGE_BEAT)!;
    t!.server.options.handlers.set(CMD.STORAGE_BEAT, async (req, s) => {
      if (bad) { bad = false; await req.body(); return Buffer.from([4, 1, 2, 3, 4]); }
      return orig(req, s);
    });
    const reporter = new TrackerReporter(new FakeHost(), config([t!]), undefined, FAST);
    await reporter.bootstrap();
    reporter.start();
    await waitFor('second JOIN', () => t!.of(CMD.STORAGE_JOIN).length >= 2, 5000);
    await waitFor('a good beat', () => t!.beats >= 1, 5000);
    await reporter.stop();
  });
});

// ------------------------------------------------------------------ 76 REPORT_STATUS (§4.10)

test('reportStatusToTrackers: 76 to every tracker on a short connection, outcome per tracker', async () => {
  await withCluster(2, {}, async ([t1, t2]) => {
    const probe = await new FakeTracker().listen();
    await probe.close();
    const brief: StorageBrief = { status: STORAGE_STATUS.SYNCING, port: 0, id: '127.0.0.3', ip: '127.0.0.3' };
    const outcomes = await reportStatusToTrackers([
      { hosts: ['127.0.0.1'], port: t1!.port }, { hosts: ['127.0.0.1'], port: t2!.port }, { hosts: ['127.0.0.1'], port: probe.port },
    ], 'group1', brief, { connectTimeout: 2 });
    assert.equal(outcomes.length, 3);
    assert.equal(outcomes[0]!.error, undefined);
    assert.equal(outcomes[1]!.error, undefined);
    assert.equal(outcomes[2]!.error?.code, 'ECONNREFUSED');
    for (const t of [t1!, t2!]) {
      const [r] = t.of(CMD.STORAGE_REPORT_STATUS);
      assert.equal(r!.body.length, 83);
      assert.deepEqual(decodeReportStatus(r!.body), { group: 'group1', brief });
    }
    await waitFor('short connections closed with QUIT', () => t1!.openConnections === 0 && t2!.openConnections === 0);
  });
});

// ------------------------------------------------------------------ helpers and the capture

test('own id without storage ids: first IPv4, else the IPv6 short code (§6.7)', () => {
  assert.equal(ownIdFromIps(['10.0.0.1', '122.2.3.4']), '10.0.0.1');
  assert.equal(ownIdFromIps(['2409::1', '10.0.0.2']), '10.0.0.2');
  assert.match(ownIdFromIps(['2409::1']), /^[A-Za-z0-9_-]{11}\.$/);
});

test('JOIN body equals the 6.16.1 storage\'s recorded 81 request (storage-join.json) apart from times', { skip: !haveCaptures() && 'captures not found' }, async (t) => {
  if (!(await canBind('127.0.0.4')) || !(await canBind('127.0.0.2'))) { t.skip('127.0.0.2/127.0.0.4 not bindable here'); return; }
  const capture = loadCapture('storage-join.json');
  const recorded = packetBody(capture.packets.find((p) => p.cmd === CMD.STORAGE_JOIN && p.conn === 2)!);
  // s1 of the capture: group1, port 23060, one store path, 256 subdirs, priority 10, never synced,
  // its outgoing sockets bound to 127.0.0.2, one tracker at 127.0.0.4.
  const tracker = await new FakeTracker({ host: '127.0.0.4' }).listen();
  try {
    const host = new FakeHost({ port: 23060, bindAddr: '127.0.0.2', joinTime: 1_795_595_829, upTime: 1_795_595_829 });
    const reporter = new TrackerReporter(host, config([tracker]), undefined, FAST);
    const boot = await reporter.bootstrap();
    // The tracker saw the bind address (§4.1: what 60 answers).
    assert.deepEqual(boot.myIps, ['127.0.0.2']);
    assert.ok(tracker.received.every((r) => r.peer === '127.0.0.2'));
    reporter.start();
    await waitFor('JOIN', () => tracker.of(CMD.STORAGE_JOIN).length > 0);
    await reporter.stop();
    const sent = tracker.of(CMD.STORAGE_JOIN)[0]!.body;
    // Only the tracker's port differs from the recording (22160 there, ephemeral here).
    const expected = Buffer.concat([recorded.subarray(0, JOIN_FIXED_LEN), Buffer.from(`127.0.0.4:${tracker.port}\n`, 'latin1')]);
    assert.equal(sent.length, expected.length);
    if (String(tracker.port).length === 5) assert.equal(sent.length, recorded.length);
    assert.deepEqual(sent, expected);
    assert.deepEqual(decodeJoinRequest(recorded).trackers, ['127.0.0.4:22160']);
  } finally {
    await tracker.close();
  }
});

test('the recorded change-push (flags 5: leader + members) reaches the host', { skip: !haveCaptures() && 'captures not found' }, async (t) => {
  if (!(await canBind('127.0.0.2'))) { t.skip('127.0.0.2 not bindable here'); return; }
  const capture = loadCapture('storage-join.json');
  const recorded = packetBody(capture.packets.find((p) => p.dir === 's2c' && p.body_len === 135 && p.conn === 2)!);
  assert.equal(recorded[0], 5);
  // 71 never says ACTIVE here: the recorded member list must.
  const tracker = await new FakeTracker({ rawPush: (cmd) => (cmd === CMD.STORAGE_BEAT ? recorded : null), status71: () => 'ENOENT' }).listen();
  try {
    const host = new FakeHost({ port: 23060, bindAddr: '127.0.0.2' });
    const reporter = new TrackerReporter(host, config([tracker]), undefined, FAST);
    const active = once(reporter, 'active');
    await reporter.bootstrap();
    reporter.start();
    await active;
    const [got] = host.called('onGroupMembers') as Array<{ members: StorageBrief[] }>;
    assert.deepEqual(got!.members, [{ status: STORAGE_STATUS.ACTIVE, port: 23060, id: '127.0.0.2', ip: '127.0.0.2' }]);
    // The recorded leader (127.0.0.4:22160) is not one of our trackers: noted, not adopted.
    assert.equal(reporter.leader, null);
    await reporter.stop();
  } finally {
    await tracker.close();
  }
});
