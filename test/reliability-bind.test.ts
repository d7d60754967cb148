import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runCli, tempDir } from './helpers/cluster.ts';

// Issue 15 defect 5: a storage that cannot listen says so in one line and exits 1, before it
// creates its 65,536 sub-directories — as the tracker does.

async function startStorage(bind: string, port: number): Promise<{ code: number | null; stderr: string; created: boolean }> {
  const dir = tempDir('fdfs-bind-');
  try {
    const r = await runCli(['storage', 'start', '--group', 'group1', '--base-path', dir, '--store-path', dir,
      '--tracker', '127.0.0.1:1', '--bind', bind, '--port', String(port)], { timeoutMs: 30000 });
    return { code: r.code, stderr: r.stderr, created: fs.existsSync(path.join(dir, 'data', '00')) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a port in use, an invalid address, an address not on this host: one line, exit 1, nothing created', async () => {
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    const cases: Array<[string, number, RegExp]> = [
      ['127.0.0.1', port, /^fdfs storage: EBUSY: cannot listen on 127\.0\.0\.1:\d+: the port is already in use$/],
      ['999.1.1.1', port, /^fdfs storage: EINVAL: cannot listen on 999\.1\.1\.1:\d+: not an IP address or a known host name$/],
      // TEST-NET-3 (RFC 5737): never an address of this host.
      ['203.0.113.77', port, /^fdfs storage: EINVAL: cannot listen on 203\.0\.113\.77:\d+: the address is not one of this host$/],
    ];
    for (const [bind, p, expected] of cases) {
      const r = await startStorage(bind, p);
      assert.equal(r.code, 1, `${bind}: exit status`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `${bind}: one line, got:\n${r.stderr}`);
      assert.match(lines[0]!, expected);
      assert.equal(r.created, false, `${bind}: no sub-directory created`);
    }
  } finally {
    busy.close();
  }
});
