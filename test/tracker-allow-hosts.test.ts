import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowHostsMatcher } from '../lib/net/allow-hosts.ts';

// allow_hosts (PROTOCOL.md §1.4, §9.1) in the forms FastDFS's sample tracker.conf documents.

test('* (the default) allows everybody: no matcher at all', () => {
  assert.equal(allowHostsMatcher(['*']), undefined);
  assert.equal(allowHostsMatcher([]), undefined);
});

test('exact addresses, CIDR blocks and bracket ranges', () => {
  const allow = allowHostsMatcher(['10.0.1.[1-15,20]', '192.168.5.64/26', '127.0.0.1', 'host[01-03].example.com'])!;
  for (const ip of ['10.0.1.1', '10.0.1.15', '10.0.1.20', '192.168.5.64', '192.168.5.127', '127.0.0.1', 'host02.example.com']) {
    assert.equal(allow(ip), true, ip);
  }
  for (const ip of ['10.0.1.16', '10.0.1.0', '192.168.5.128', '192.168.5.63', '127.0.0.2', '::1', 'host04.example.com']) {
    assert.equal(allow(ip), false, ip);
  }
});
