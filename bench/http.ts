import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { startCluster, freePort, STORAGE_IPS, tempDir, waitFor } from '../test/helpers/cluster.ts';
import { addrOf, uploadTo } from '../test/helpers/replication.ts';

// `npm run bench -- http`: GET of 4 KiB and 1 MiB files at 64 connections with autocannon, from
// the fdfs storage's HTTP server and from nginx (Debian package) serving the same files as
// static files from the same disk, in the same run. nginx runs one worker: fdfs is one process
// with one event loop, so both get one core. Server CPU per request = utime+stime ÷ requests.

interface Row { server: string; size: number; requests: number; errors: number; reqPerSec: number; mbPerSec: number; p50ms: number; p99ms: number; cpuMsPerReq: number }

type Autocannon = (opts: Record<string, unknown>) => Promise<{
  requests: { total: number; average: number }; throughput: { average: number };
  latency: { p50: number; p99: number }; errors: number; non2xx: number;
}>;

const CLK_TCK = 100;

/** utime+stime of a process and its children processes (nginx workers), in ms. */
function cpuMs(pid: number): number {
  let total = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try { stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8'); } catch { continue; }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    if (Number(entry) !== pid && ppid !== pid) continue;
    total += ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  }
  return total;
}

function startNginx(root: string, host: string, port: number, group: string): { child: ChildProcess; dir: string } {
  const dir = tempDir('fdfs-bench-nginx-');
  fs.mkdirSync(path.join(dir, 'logs'));
  // As root nginx's worker would drop to nobody, who cannot read the 0700 temporary folders.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const conf = `${user}worker_processes 1;
daemon off;
error_log ${dir}/logs/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  server {
    listen ${host}:${port};
    location /${group}/M00/ { alias ${root}/; }
  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { child, dir };
}

async function httpOk(url: string): Promise<boolean> {
  try { return (await fetch(url)).ok; } catch { return false; }
}

export async function runHttpBench(opts: { quick: boolean }): Promise<{ rows: Row[]; table: string; ratios: string }> {
  const autocannon = (await import('autocannon' as string)).default as Autocannon;
  const host = STORAGE_IPS[0]!;
  const fdfsPort = await freePort([host]);
  const nginxPort = await freePort([host]);
  const cluster = await startCluster({ storages: 1, storage: { subdir_count_per_path: 256, 'http.server_port': fdfsPort } });
  const storagePid = cluster.storages[0]!.child.pid!;
  let nginx: { child: ChildProcess; dir: string } | null = null;
  const rows: Row[] = [];
  try {
    const sizes = [4096, 1024 * 1024];
    const files = new Map<number, string[]>();
    for (const size of sizes) {
      const ids: string[] = [];
      for (let i = 0; i < 16; i++) ids.push(await uploadTo(addrOf(cluster.storages[0]!), crypto.randomBytes(size), { ext: 'bin' }));
      files.set(size, ids);
    }
    nginx = startNginx(path.join(cluster.dir, 'storage1', 'data'), host, nginxPort, cluster.group);
    await waitFor('nginx', () => httpOk(`http://${host}:${nginxPort}/${files.get(4096)![0]}`), 10000, 100);
    const nginxPid = nginx.child.pid!;
    const duration = opts.quick ? 3 : 8;
    // Interleaved and best of `rounds`: the machine is shared, and a burst of someone else's work
    // during one run would otherwise decide the ratio.
    const rounds = opts.quick ? 1 : 2;
    const best = new Map<string, Row>();
    for (let round = 0; round < rounds; round++) {
      for (const size of sizes) {
        for (const [server, port, pid] of [['fdfs', fdfsPort, storagePid], ['nginx', nginxPort, nginxPid]] as const) {
          const paths = files.get(size)!.map((id) => `/${id}`);
          let n = 0;
          const run = (d: number) => autocannon({
            url: `http://${host}:${port}`, connections: 64, duration: d, pipelining: 1, timeout: 60,
            requests: [{ method: 'GET', setupRequest: (req: Record<string, unknown>) => ({ ...req, path: paths[n++ % paths.length] }) }],
          });
          await run(2); // warm-up: page cache, JIT, keep-alive connections
          const cpu0 = cpuMs(pid);
          const r = await run(duration);
          const cpu = cpuMs(pid) - cpu0;
          const row: Row = {
            server, size, requests: r.requests.total, errors: r.errors + r.non2xx,
            reqPerSec: r.requests.average, mbPerSec: r.throughput.average / (1024 * 1024),
            p50ms: r.latency.p50, p99ms: r.latency.p99, cpuMsPerReq: r.requests.total > 0 ? cpu / r.requests.total : 0,
          };
          const key = `${server} ${size}`;
          if (!best.has(key) || best.get(key)!.reqPerSec < row.reqPerSec) best.set(key, row);
        }
      }
    }
    for (const size of sizes) for (const server of ['fdfs', 'nginx']) rows.push(best.get(`${server} ${size}`)!);
  } finally {
    if (nginx) {
      nginx.child.kill('SIGTERM');
      await new Promise((r) => nginx!.child.once('exit', r));
      fs.rmSync(nginx.dir, { recursive: true, force: true });
    }
    await cluster.stop();
  }
  const fmtSize = (n: number) => (n >= 1024 * 1024 ? `${n / 1024 / 1024} MiB` : `${n / 1024} KiB`);
  const head = ['server', 'size', 'requests', 'errors', 'req/s', 'MB/s', 'p50 ms', 'p99 ms', 'CPU ms/req'];
  const lines = rows.map((r) => [r.server, fmtSize(r.size), String(r.requests), String(r.errors), r.reqPerSec.toFixed(0),
    r.mbPerSec.toFixed(1), r.p50ms.toFixed(1), r.p99ms.toFixed(1), r.cpuMsPerReq.toFixed(3)]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => l.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const table = [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
  const ratio = (size: number, key: 'reqPerSec' | 'mbPerSec') => {
    const f = rows.find((r) => r.server === 'fdfs' && r.size === size)!;
    const n = rows.find((r) => r.server === 'nginx' && r.size === size)!;
    return `${((f[key] / n[key]) * 100).toFixed(0)}%`;
  };
  const ratios = `fdfs / nginx: 4 KiB ${ratio(4096, 'reqPerSec')} of its requests/s (aim ≥ 60%), 1 MiB ${ratio(1024 * 1024, 'mbPerSec')} of its MB/s (aim ≥ 80%); ${os.cpus().length} cores, 64 connections, nginx 1 worker, best of ${opts.quick ? 1 : 2} interleaved runs`;
  return { rows, table, ratios };
}
