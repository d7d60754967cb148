import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadAllowHosts, parseAllowHosts } from '../lib/net/allow-hosts.ts';
import { runCli, tempDir, writeConf } from './helpers/cluster.ts';

// allow_hosts (PROTOCOL.md §1.4, §9.1) in the forms FastDFS's sample tracker.conf documents.

const names: Record<string, string[]> = {
  'host01.example.com': ['10.9.0.1'], 'host02.example.com': ['10.9.0.2'], 'host03.example.com': ['10.9.0.3', '::1'],
};
const fakeDns = async (name: string) => {
  const ips = names[name];
  if (!ips) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return ips;
};

test('* (the default) allows everybody: no matcher at all', async () => {
  assert.equal(await loadAllowHosts(['*']), undefined);
  assert.equal(await loadAllowHosts([]), undefined);
});

test('exact addresses, CIDR blocks, bracket ranges, and host names resolved at start', async () => {
  const allow = (await loadAllowHosts(['10.0.1.[1-15,20]', '192.168.5.64/26', '127.0.0.1', 'host[01-03].example.com'], fakeDns))!;
  for (const ip of ['10.0.1.1', '10.0.1.15', '10.0.1.20', '192.168.5.64', '192.168.5.127', '127.0.0.1', '10.9.0.1', '10.9.0.2', '10.9.0.3', '::1']) {
    assert.equal(allow(ip), true, ip);
  }
  for (const ip of ['10.0.1.16', '10.0.1.0', '192.168.5.128', '192.168.5.63', '127.0.0.2', '10.9.0.4', 'host02.example.com']) {
    assert.equal(allow(ip), false, ip);
  }
});

test('a host name that does not resolve is refused, naming it', async () => {
  await assert.rejects(loadAllowHosts(['127.0.0.1', 'host09.example.com'], fakeDns), /EINVAL: allow_hosts: cannot resolve host name host09\.example\.com/);
});

test('invalid entries are refused instead of matching nobody', () => {
  for (const bad of ['127.0.3.9/33', '127.0.3.*', '***[[[', '999.1.1.1', '10.0.0.[5-1]', 'host[01-08.example.com', '10.0.0.1/8/8', 'a..b', '10.0.[x].1']) {
    assert.throws(() => parseAllowHosts([bad]), (err: Error) => err.message.startsWith(`EINVAL: allow_hosts = ${bad}: `), bad);
  }
});

test('a tracker.conf with a bad allow_hosts entry stops start-up with one line naming file, line and value', async () => {
  const dir = tempDir('fdfs-allow-');
  try {
    const conf = writeConf(path.join(dir, 'tracker.conf'), { bind_addr: '127.0.0.1', port: 0, base_path: dir, allow_hosts: ['127.0.0.1', '127.0.3.*'] });
    const r = await runCli(['tracker', 'start', '-c', conf], { timeoutMs: 20000 });
    assert.equal(r.code, 2);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /tracker\.conf:5: allow_hosts = 127\.0\.3\.\*: expected \*, an IP address, a host name/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a storage whose allow_hosts names an unknown host stops at once with one line', async () => {
  const dir = tempDir('fdfs-allow-');
  try {
    const conf = writeConf(path.join(dir, 'storage.conf'), {
      group_name: 'group1', bind_addr: '127.0.0.1', port: 23999, base_path: dir, store_path0: dir, tracker_server: '127.0.0.1:1',
      allow_hosts: 'no-such-host.invalid',
    });
    const r = await runCli(['storage', 'start', '-c', conf], { timeoutMs: 30000 });
    assert.equal(r.code, 1);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^fdfs storage: EINVAL: allow_hosts: cannot resolve host name no-such-host\.invalid/);
    assert.ok(!fs.existsSync(path.join(dir, 'data', '00')), 'nothing created');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
