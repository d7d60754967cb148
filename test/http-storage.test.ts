import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { antiStealToken, signFileId } from '../lib/client/index.ts';
import { STORAGE_IPS, freePort, runCli, startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import { addrOf, readFrom, split, uploadTo, waitActive } from './helpers/replication.ts';

// HTTP serving on real storages, as a browser or curl sees it (PROTOCOL.md §10): headers and
// statuses, ranges, conditional requests, tokens, files not replicated yet, hostile URLs,
// /metrics and /healthz.

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

function request(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(20000, () => req.destroy(new Error(`timeout on ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** A raw request line, for paths an HTTP client would normalise. */
function rawGet(host: string, port: number, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: target, method: 'GET', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const SECRET = 'FastDFS1234567890';

describe('HTTP on the storage', () => {
  let cluster: Cluster;
  let httpPort: number;
  let trackerHttp: number;
  const content = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
  let fileId: string;
  const base = (i: number) => `http://${STORAGE_IPS[i]}:${httpPort}`;

  before(async () => {
    httpPort = await freePort(STORAGE_IPS.slice(0, 3));
    trackerHttp = await freePort(['127.0.0.1']);
    cluster = await startCluster({
      storages: 3,
      tracker: { 'http.server_port': trackerHttp },
      storage: { 'http.server_port': httpPort },
      // storage1 plain; storage2 redirects, storage3 proxies and checks tokens.
      storageEach: (i): Record<string, string | boolean> => i === 1 ? { response_mode: 'redirect' }
        : i === 2 ? { response_mode: 'proxy', 'http.anti_steal.check_token': true, 'http.anti_steal.secret_key': SECRET } : {},
    });
    await waitActive(cluster, 3);
    fileId = await uploadTo(addrOf(cluster.storages[0]!), content, { ext: 'jpg' });
    await waitFor('the file on every storage', async () => {
      for (const s of cluster.storages) if (!(await readFrom(addrOf(s), fileId))) return false;
      return true;
    }, 30000, 100);
  });

  after(async () => { await cluster?.stop(); });

  test('GET and HEAD: length, type, validators, Accept-Ranges', async () => {
    const r = await request(`${base(0)}/${fileId}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, content);
    assert.equal(r.headers['content-length'], String(content.length));
    assert.equal(r.headers['content-type'], 'image/jpeg');
    assert.equal(r.headers['accept-ranges'], 'bytes');
    assert.match(r.headers.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
    const nameTime = Date.parse(r.headers['last-modified'] ?? '');
    assert.ok(Math.abs(nameTime - Date.now()) < 120_000, 'Last-Modified is the upload time in the name');
    assert.equal(r.headers['content-disposition'], undefined);

    const h = await request(`${base(0)}/${fileId}`, { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.body.length, 0);
    assert.equal(h.headers['content-length'], String(content.length));
    assert.equal(h.headers.etag, r.headers.etag);

    const d = await request(`${base(0)}/${fileId}?filename=${encodeURIComponent('café "1".jpg')}`);
    assert.equal(d.status, 200);
    assert.match(d.headers['content-disposition'] ?? '', /^attachment; filename="caf_ _1_.jpg"; filename\*=UTF-8''caf%C3%A9%20%221%22.jpg$/);
  });

  test('304 on If-None-Match and If-Modified-Since; 200 when they do not match', async () => {
    const r = await request(`${base(0)}/${fileId}`, { method: 'HEAD' });
    const etag = r.headers.etag!;
    const lm = r.headers['last-modified']!;
    const a = await request(`${base(0)}/${fileId}`, { headers: { 'If-None-Match': etag } });
    assert.equal(a.status, 304);
    assert.equal(a.body.length, 0);
    assert.equal(a.headers.etag, etag);
    assert.equal((await request(`${base(0)}/${fileId}`, { headers: { 'If-Modified-Since': lm } })).status, 304);
    assert.equal((await request(`${base(0)}/${fileId}`, { headers: { 'If-None-Match': '"other"' } })).status, 200);
    const earlier = new Date(Date.parse(lm) - 3600_000).toUTCString();
    assert.equal((await request(`${base(0)}/${fileId}`, { headers: { 'If-Modified-Since': earlier } })).status, 200);
  });

  test('Range: single, suffix, open-ended, multi-range, 416', async () => {
    const url = `${base(0)}/${fileId}`;
    const one = await request(url, { headers: { Range: 'bytes=10-19' } });
    assert.equal(one.status, 206);
    assert.equal(one.headers['content-range'], `bytes 10-19/${content.length}`);
    assert.equal(one.headers['content-length'], '10');
    assert.deepEqual(one.body, content.subarray(10, 20));

    const suffix = await request(url, { headers: { Range: 'bytes=-5' } });
    assert.equal(suffix.status, 206);
    assert.deepEqual(suffix.body, content.subarray(content.length - 5));
    const open = await request(url, { headers: { Range: 'bytes=99990-' } });
    assert.deepEqual(open.body, content.subarray(99990));
    assert.equal(open.headers['content-range'], `bytes 99990-99999/${content.length}`);

    const multi = await request(url, { headers: { Range: 'bytes=0-3, 50000-50009' } });
    assert.equal(multi.status, 206);
    const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(multi.headers['content-type'] ?? '');
    assert.ok(m, multi.headers['content-type']);
    assert.equal(Number(multi.headers['content-length']), multi.body.length);
    const text = multi.body.toString('latin1');
    const parts = text.split(`--${m![1]}`).slice(1, -1);
    assert.equal(parts.length, 2);
    const bodyOf = (p: string) => Buffer.from(p.slice(p.indexOf('\r\n\r\n') + 4, -2), 'latin1');
    assert.match(parts[0]!, /Content-Range: bytes 0-3\/100000/);
    assert.match(parts[0]!, /Content-Type: image\/jpeg/);
    assert.deepEqual(bodyOf(parts[0]!), content.subarray(0, 4));
    assert.match(parts[1]!, /Content-Range: bytes 50000-50009\/100000/);
    assert.deepEqual(bodyOf(parts[1]!), content.subarray(50000, 50010));
    assert.ok(text.endsWith(`--${m![1]}--\r\n`));

    for (const bad of ['bytes=200000-', 'bytes=5-2', 'bytes=x-y', 'bytes=-0']) {
      const r = await request(url, { headers: { Range: bad } });
      assert.equal(r.status, 416, bad);
      assert.equal(r.headers['content-range'], `bytes */${content.length}`);
    }
    // If-Range with another validator: the whole file.
    const ir = await request(url, { headers: { Range: 'bytes=0-3', 'If-Range': '"nope"' } });
    assert.equal(ir.status, 200);
    assert.equal(ir.body.length, content.length);
  });

  test('slave and appender files serve too; an appender changes its ETag when it grows', async () => {
    const a = addrOf(cluster.storages[0]!);
    const appender = await uploadTo(a, Buffer.from('hello'), { appender: true, ext: 'txt' });
    const r1 = await request(`${base(0)}/${appender}`);
    assert.equal(r1.status, 200);
    assert.equal(r1.body.toString(), 'hello');
    assert.match(r1.headers['content-type'] ?? '', /^text\/plain/);
    const cli = await runCli(['append', '--tracker', cluster.trackerAddr, appender, '-'], { input: ' world' });
    assert.equal(cli.code, 0, cli.stderr);
    const r2 = (await waitFor('the appended content', async () => {
      const r = await request(`${base(0)}/${appender}`);
      return r.body.toString() === 'hello world' ? r : null;
    }))!;
    assert.notEqual(r2.headers.etag, r1.headers.etag);

    const slave = await runCli(['upload', '--tracker', cluster.trackerAddr, '--master', fileId, '--prefix', '_150x150', '--ext', 'png', '-'], { input: 'slave!' });
    if (slave.code === 0) {
      const slaveId = slave.stdout.trim().split(/\s+/).pop()!;
      const s = (await waitFor('the slave over HTTP', async () => {
        const r = await request(`${base(0)}/${slaveId}`);
        return r.status === 200 ? r : null;
      }))!;
      assert.equal(s.body.toString(), 'slave!');
      assert.equal(s.headers['content-type'], 'image/png');
    } else {
      assert.fail(`slave upload failed: ${slave.stderr}`);
    }
  });

  test('hostile URLs: 400 or 404, nothing outside the store paths', async () => {
    const host = STORAGE_IPS[0]!;
    const { name } = split(fileId);
    const dir = path.dirname(name);
    // A file right beside the store path that a traversal would reach.
    fs.writeFileSync(path.join(cluster.dir, 'secret.txt'), 'secret');
    const cases: Array<[string, number[]]> = [
      [`/group1/${dir}/../../../../secret.txt`, [400, 404]],
      [`/group1/${dir}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt`, [400]],
      [`/group1/M00%2f00%2f00%2f${path.basename(name)}`, [400]],
      [`/group1/${dir}/..%2f..%2fsecret.txt`, [400]],
      [`/group1/${dir}/x%00.jpg`, [400]],
      [`/group1/${dir}/${'a'.repeat(300)}`, [400]],
      [`/group1/${dir}/%E0%A4%A`, [400]],
      [`/group1/${dir}/..\\..\\secret.txt`, [400]],
      [`/group9/${name}`, [404]],
      [`/group1/M05/00/00/${path.basename(name)}`, [400, 404]],
      [`/group1/M00/zz/00/${path.basename(name)}`, [400]],
      [`/group1/M00/00/00/.hidden`, [400, 404]],
      [`/group1/M00/00/00`, [400, 404]],
      ['/', [400, 404]],
      ['/group1', [404]],
      [`/group1/${name}/`, [400]],
    ];
    for (const [target, want] of cases) {
      const status = await rawGet(host, httpPort, target);
      assert.ok(want.includes(status), `${target.slice(0, 80)}: ${status}, expected ${want.join(' or ')}`);
    }
    assert.equal((await request(`${base(0)}/${fileId}`, { method: 'POST' })).status, 405);
    // The daemon still serves.
    assert.equal((await request(`${base(0)}/${fileId}`)).status, 200);
  });

  test('anti-steal token: accepted, expired, forged, missing, ts=0, signed with or without the group', async () => {
    const url = `${base(2)}/${fileId}`;
    const now = Math.floor(Date.now() / 1000);
    const { name } = split(fileId);
    const ok = signFileId(fileId, SECRET, now);
    const good = await request(`${url}?token=${ok.token}&ts=${ok.ts}`);
    assert.equal(good.status, 200);
    assert.deepEqual(good.body, content);
    // fdfs_test signs group/M00/…; accepted too.
    const withGroup = antiStealToken(fileId, SECRET, now);
    assert.equal((await request(`${url}?token=${withGroup}&ts=${now}`)).status, 200);
    const old = now - 601;
    assert.equal((await request(`${url}?token=${antiStealToken(name, SECRET, old)}&ts=${old}`)).status, 400, 'expired');
    assert.equal((await request(`${url}?token=${antiStealToken(name, 'wrong', now)}&ts=${now}`)).status, 400, 'forged');
    assert.equal((await request(`${url}?token=${ok.token}&ts=${now + 1}`)).status, 400, 'ts changed');
    assert.equal((await request(url)).status, 400, 'missing');
    assert.equal((await request(`${url}?token=abc&ts=${now}`)).status, 400, 'short token');
    assert.equal((await request(`${url}?token=${antiStealToken(name, SECRET, 0)}&ts=0`)).status, 200, 'ts=0 never expires (§10)');

    // fdfs url prints a URL the storage accepts.
    const cli = await runCli(['url', '--tracker', cluster.trackerAddr, fileId, '--secret', SECRET, '--base', base(2), '--ttl', '60']);
    assert.equal(cli.code, 0, cli.stderr);
    const printed = cli.stdout.trim();
    assert.match(printed, new RegExp(`^${base(2)}/${fileId}\\?token=[0-9a-f]{32}&ts=\\d+$`));
    assert.equal((await request(printed)).status, 200);
  });

  test('a file not replicated here yet: redirect (once) or proxy, never a false 404', async () => {
    const data = Buffer.from('fresh content '.repeat(1000));
    const id = await uploadTo(addrOf(cluster.storages[0]!), data, { ext: 'txt' });
    await waitFor('replicas', async () => (await readFrom(addrOf(cluster.storages[1]!), id)) && (await readFrom(addrOf(cluster.storages[2]!), id)), 30000, 100);
    // Make storages 2 and 3 look as if the file had not arrived yet.
    const { name } = split(id);
    const rel = name.slice(4);
    for (const i of [2, 3]) fs.rmSync(path.join(cluster.dir, `storage${i}`, 'data', rel));

    const r = await request(`${base(1)}/${id}?x=1`);
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, `${base(0)}/${id}?x=1&redirect=1`);
    const followed = await request(r.headers.location!);
    assert.equal(followed.status, 200);
    assert.deepEqual(followed.body, data);
    // Never a loop: a request already redirected that still finds nothing gets 400.
    assert.equal((await request(`${base(1)}/${id}?redirect=1`)).status, 400);

    const { token, ts } = signFileId(id, SECRET);
    const p = await request(`${base(2)}/${id}?token=${token}&ts=${ts}`);
    assert.equal(p.status, 200);
    assert.deepEqual(p.body, data);
    assert.equal(p.headers['content-length'], String(data.length));

    // Really gone (deleted at its source): 404 there.
    const del = await runCli(['delete', '--tracker', cluster.trackerAddr, id]);
    assert.equal(del.code, 0, del.stderr);
    assert.equal((await request(`${base(0)}/${id}`)).status, 404);
  });

  test('slow readers: the daemon does not hold their files in memory', async () => {
    const big = Buffer.alloc(32 * 1024 * 1024, 7);
    const id = await uploadTo(addrOf(cluster.storages[0]!), big, { ext: 'bin' });
    const pid = cluster.storages[0]!.child.pid!;
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
    const baseline = rss();
    const readers = await Promise.all(Array.from({ length: 8 }, () => new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.get(`${base(0)}/${id}`, { agent: false }, (res) => { res.pause(); resolve(res); });
      req.on('error', reject);
    })));
    // Wait until nothing moves any more: the readers' sockets and the server's are full.
    let last = -1;
    let still = 0;
    await waitFor('the transfers to stall', () => {
      const now = readers.reduce((n, r) => n + r.socket.bytesRead, 0);
      still = now === last ? still + 1 : 0;
      last = now;
      return still >= 5;
    }, 20000, 100);
    assert.ok(last < 8 * big.length / 2, `readers received ${last} bytes while paused`);
    const growth = rss() - baseline;
    assert.ok(growth < 64 * 1024 * 1024, `storage RSS grew by ${(growth / 1048576).toFixed(1)} MiB with 8 stalled 32 MiB downloads`);
    const sizes = await Promise.all(readers.map((res) => new Promise<number>((resolve, reject) => {
      let n = 0;
      res.on('data', (c: Buffer) => { n += c.length; });
      res.on('end', () => resolve(n));
      res.on('error', reject);
      res.resume();
    })));
    assert.deepEqual(sizes, Array(8).fill(big.length));
  });

  test('/metrics parses and its counters move with uploads and downloads; /healthz says ACTIVE', async () => {
    const scrape = async (url: string) => {
      const r = await request(url);
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
      const values = new Map<string, number>();
      for (const line of r.body.toString().split('\n')) {
        if (line === '' || line.startsWith('#')) continue;
        const mm = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/.exec(line);
        assert.ok(mm, `unparsable metrics line: ${line}`);
        values.set(mm![1]!, Number(mm![2]));
      }
      return values;
    };
    const get = (m: Map<string, number>, prefix: string, ...parts: string[]) => {
      let sum = 0;
      for (const [k, v] of m) if (k.startsWith(prefix) && parts.every((p) => k.includes(p))) sum += v;
      return sum;
    };
    const before1 = await scrape(`${base(0)}/metrics`);
    await uploadTo(addrOf(cluster.storages[0]!), Buffer.from('metric me'), { ext: 'txt' });
    await readFrom(addrOf(cluster.storages[0]!), fileId);
    await request(`${base(0)}/${fileId}`);
    const after1 = (await waitFor('metrics to move', async () => {
      const m = await scrape(`${base(0)}/metrics`);
      return get(m, 'fdfs_requests_total', 'command="DOWNLOAD_FILE"', 'status="OK"') > get(before1, 'fdfs_requests_total', 'command="DOWNLOAD_FILE"', 'status="OK"') ? m : null;
    }))!;
    assert.ok(get(after1, 'fdfs_requests_total', 'command="UPLOAD_FILE"', 'status="OK"') > get(before1, 'fdfs_requests_total', 'command="UPLOAD_FILE"', 'status="OK"'));
    assert.ok(get(after1, 'fdfs_bytes_out_total', 'DOWNLOAD_FILE') >= get(before1, 'fdfs_bytes_out_total', 'DOWNLOAD_FILE') + content.length);
    assert.ok(get(after1, 'fdfs_request_duration_seconds_count', 'UPLOAD_FILE') > 0);
    assert.ok(get(after1, 'fdfs_http_requests_total', 'route="file"', 'status="200"') > get(before1, 'fdfs_http_requests_total', 'route="file"', 'status="200"'));
    // The StorageStat counters are fed by the same events.
    assert.ok(get(after1, 'fdfs_storage_stat', 'counter="success_upload_count"') > get(before1, 'fdfs_storage_stat', 'counter="success_upload_count"'));
    assert.ok(get(after1, 'fdfs_storage_stat', 'counter="success_download_count"') > get(before1, 'fdfs_storage_stat', 'counter="success_download_count"'));
    assert.ok(get(after1, 'fdfs_storage_path_bytes', 'kind="total"') > 0);
    assert.ok(get(after1, 'fdfs_binlog_position', 'field="offset"') > 0);
    assert.ok(after1.has('fdfs_open_connections{role="storage"}'));
    assert.equal(get(after1, 'fdfs_storage_status', 'status="ACTIVE"'), 1);
    assert.ok([...after1.keys()].some((k) => k.startsWith('fdfs_sync_records_behind{')), 'records behind per peer');

    const h = await request(`${base(0)}/healthz`);
    assert.equal(h.status, 200);
    assert.match(h.body.toString(), /^ok: ACTIVE in group1\n$/);

    const t = await scrape(`http://127.0.0.1:${trackerHttp}/metrics`);
    assert.equal(get(t, 'fdfs_tracker_storages', 'group="group1"', 'status="ACTIVE"'), 3);
    assert.equal(get(t, 'fdfs_tracker_election_state', 'state="leader"'), 1);
    assert.ok(get(t, 'fdfs_requests_total', 'STORAGE_BEAT') > 0 || get(t, 'fdfs_requests_total', 'role="tracker"') > 0);
    const th = await request(`http://127.0.0.1:${trackerHttp}/healthz`);
    assert.equal(th.status, 200);
    assert.match(th.body.toString(), /^ok: leader/);
  });
});
