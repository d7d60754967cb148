// The FastDFS conf-file reader, the value syntaxes and storage_ids.conf.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ValueError } from '../lib/config/errors.ts';
import { parseConfFile, parseConfText } from '../lib/config/parser.ts';
import {
  autoOrIntType,
  boolType,
  bytesType,
  enumType,
  formatBytes,
  formatHostPort,
  formatReservedSpace,
  formatTimeOfDay,
  hostPortType,
  intEnumType,
  intType,
  parseBool,
  parseBytes,
  parseHostPort,
  parseReservedSpace,
  parseTimeOfDay,
  reservedSpaceType,
  stringType,
  timeOfDayType,
} from '../lib/config/values.ts';
import { formatStorageIdLine, loadStorageIds, parseStorageIds } from '../lib/config/storage-ids.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fdfs-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('conf file reader', () => {
  test('reads key = value lines with and without spaces, skipping comments and blank lines', () => {
    const entries = parseConfText(
      ['# a comment', '', 'port=22122', '  base_path  =   /data/fdfs  ', '   # indented comment', 'empty =', 'url = http://x/#frag'].join('\n'),
      'tracker.conf',
    );
    assert.deepEqual(
      entries.map((e) => [e.key, e.value, e.line]),
      [
        ['port', '22122', 3],
        ['base_path', '/data/fdfs', 4],
        ['empty', '', 6],
        ['url', 'http://x/#frag', 7],
      ],
    );
    assert.ok(entries.every((e) => e.file === 'tracker.conf' && e.section === undefined));
  });

  test('keeps every occurrence of a repeated key, in order', () => {
    const entries = parseConfText('tracker_server = a:22122\nport = 1\ntracker_server = b:22122\r\ntracker_server = c\n', 'client.conf');
    assert.deepEqual(
      entries.filter((e) => e.key === 'tracker_server').map((e) => [e.value, e.line]),
      [
        ['a:22122', 1],
        ['b:22122', 3],
        ['c', 4],
      ],
    );
  });

  test('records [section] headers in the entries', () => {
    const entries = parseConfText('a = 1\n[http]\nport = 80\n[ other ]\nb = 2\n[]\nc = 3\n', 'x.conf');
    assert.deepEqual(
      entries.map((e) => [e.key, e.section]),
      [
        ['a', undefined],
        ['port', 'http'],
        ['b', 'other'],
        ['c', undefined],
      ],
    );
  });

  test('reports lines that are not key = value as warnings, with file and line', () => {
    const warnings: string[] = [];
    const entries = parseConfText('port = 1\njust text\n= value\n', 'tracker.conf', { warnings });
    assert.equal(entries.length, 1);
    assert.deepEqual(warnings, [
      'tracker.conf:2: "just text" is not a "key = value" line (ignored)',
      'tracker.conf:3: "= value" has no key before "=" (ignored)',
    ]);
  });

  test('follows #include relative to the including file, keeping each entry\'s own file and line', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'main.conf'), 'port = 1\n#include sub/http.conf\nbase_path = /b\n##include not-read.conf\n');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'http.conf'), '# http settings\nhttp.anti_steal.check_token = true\n#include more.conf\n');
    writeFileSync(join(dir, 'sub', 'more.conf'), 'http.anti_steal.secret_key = s3cret\n');
    const entries = parseConfFile(join(dir, 'main.conf'));
    assert.deepEqual(
      entries.map((e) => [e.key, e.value, e.file, e.line]),
      [
        ['port', '1', join(dir, 'main.conf'), 1],
        ['http.anti_steal.check_token', 'true', join(dir, 'sub', 'http.conf'), 2],
        ['http.anti_steal.secret_key', 's3cret', join(dir, 'sub', 'more.conf'), 1],
        ['base_path', '/b', join(dir, 'main.conf'), 3],
      ],
    );
  });

  test('parseConfText resolves includes relative to the given file name', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'inc.conf'), 'b = 2\n');
    const entries = parseConfText('a = 1\n#include inc.conf\n', join(dir, 'virtual.conf'));
    assert.deepEqual(entries.map((e) => e.key), ['a', 'b']);
  });

  test('rejects include cycles with the file and line of the #include', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.conf'), 'x = 1\n#include b.conf\n');
    writeFileSync(join(dir, 'b.conf'), '\n\n#include a.conf\n');
    assert.throws(
      () => parseConfFile(join(dir, 'a.conf')),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message.startsWith(`${join(dir, 'b.conf')}:3: #include a.conf: include cycle`) &&
        !err.message.includes('\n'),
    );
    writeFileSync(join(dir, 'self.conf'), '#include self.conf\n');
    assert.throws(() => parseConfFile(join(dir, 'self.conf')), /include cycle/);
  });

  test('a missing include or file is a one-line ConfigError', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.conf'), 'x = 1\n#include nope.conf\n');
    assert.throws(() => parseConfFile(join(dir, 'a.conf')), {
      name: 'ConfigError',
      message: `${join(dir, 'a.conf')}:2: #include nope.conf: cannot read ${join(dir, 'nope.conf')}: ENOENT`,
    });
    assert.throws(() => parseConfFile(join(dir, 'missing.conf')), /cannot read .*missing\.conf: ENOENT/);
  });

  test('the same file included twice (not a cycle) is read twice', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'common.conf'), 'allow_hosts = 10.0.0.1\n');
    writeFileSync(join(dir, 'a.conf'), '#include common.conf\n#include common.conf\n');
    assert.equal(parseConfFile(join(dir, 'a.conf')).length, 2);
  });
});

describe('value syntaxes', () => {
  test('integers: ranges, and the allowed text used in error messages', () => {
    const t = intType({ min: 1 });
    assert.equal(t.parse(' 30 '), 30);
    assert.equal(t.accept(30), 30);
    assert.equal(t.accept('45'), 45);
    assert.throws(() => t.parse('abc'), { name: 'ValueError', message: 'expected an integer ≥ 1' });
    assert.throws(() => t.parse('0'), ValueError);
    assert.throws(() => t.parse('1.5'), ValueError);
    assert.throws(() => t.parse('12abc'), ValueError); // atoi would read 12
    assert.throws(() => t.accept(2.5), ValueError);
    assert.throws(() => intType({ min: 1, max: 65535 }).parse('65536'), { message: 'expected an integer between 1 and 65535' });
    assert.equal(intType().parse('-5'), -5);
  });

  test('booleans: true/false, yes/no, on/off, 1/0 in any case', () => {
    for (const word of ['true', 'TRUE', 'Yes', 'on', '1']) assert.equal(parseBool(word), true, word);
    for (const word of ['false', 'False', 'NO', 'off', '0']) assert.equal(parseBool(word), false, word);
    assert.throws(() => parseBool('maybe'), { message: 'expected true or false (also yes/no, on/off, 1/0)' });
    assert.throws(() => parseBool(''), ValueError);
    const b = boolType();
    assert.equal(b.accept(true), true);
    assert.equal(b.accept('off'), false);
    assert.equal(b.accept(1), true);
    assert.throws(() => b.accept(7), ValueError);
  });

  test('byte sizes: K/M/G/T with optional B, any case; plain number = bytes', () => {
    assert.equal(parseBytes('256KB'), 256 * 1024);
    assert.equal(parseBytes('256kb'), 256 * 1024);
    assert.equal(parseBytes('64M'), 64 * 1024 ** 2);
    assert.equal(parseBytes('64 MB'), 64 * 1024 ** 2);
    assert.equal(parseBytes('1G'), 1024 ** 3);
    assert.equal(parseBytes('1g'), 1024 ** 3);
    assert.equal(parseBytes('2TB'), 2 * 1024 ** 4);
    assert.equal(parseBytes('1000'), 1000);
    assert.equal(parseBytes('100B'), 100);
    for (const bad of ['', 'KB', '1.5G', '-1', '10X', '1 G B']) assert.throws(() => parseBytes(bad), ValueError, bad);
    const t = bytesType({ min: 8 * 1024 });
    assert.equal(t.accept(65536), 65536);
    assert.throws(() => t.parse('4KB'), /≥ 8KB/);
    assert.equal(formatBytes(256 * 1024), '256KB');
    assert.equal(formatBytes(64 * 1024 ** 2), '64MB');
    assert.equal(formatBytes(1024 ** 3), '1GB');
    assert.equal(formatBytes(1000), '1000');
    assert.equal(formatBytes(0), '0');
  });

  test('times of day HH:MM', () => {
    assert.deepEqual(parseTimeOfDay('02:00'), { hour: 2, minute: 0 });
    assert.deepEqual(parseTimeOfDay('23:59'), { hour: 23, minute: 59 });
    assert.deepEqual(parseTimeOfDay('1:5'), { hour: 1, minute: 5 });
    for (const bad of ['24:00', '12:60', '12', 'noon', '12:00:00']) assert.throws(() => parseTimeOfDay(bad), ValueError, bad);
    assert.equal(formatTimeOfDay({ hour: 3, minute: 7 }), '03:07');
    const t = timeOfDayType();
    assert.deepEqual(t.accept({ hour: 1, minute: 30 }), { hour: 1, minute: 30 });
    assert.throws(() => t.accept({ hour: 25, minute: 0 }), ValueError);
  });

  test('enums match case-insensitively and return the canonical spelling', () => {
    const af = enumType(['IPv4', 'IPv6', 'auto', 'both']);
    assert.equal(af.parse('ipv6'), 'IPv6');
    assert.equal(af.parse('AUTO'), 'auto');
    assert.throws(() => af.parse('ipv5'), { message: 'expected one of: IPv4, IPv6, auto, both' });
    const withAlias = enumType(['tracker', 'last-connected'], { last: 'last-connected' });
    assert.equal(withAlias.parse('LAST'), 'last-connected');
    const lookup = intEnumType([0, 1, 2], ['round robin', 'specified group', 'load balance']);
    assert.equal(lookup.parse('2'), 2);
    assert.equal(lookup.accept(1), 1);
    assert.throws(() => lookup.parse('3'), { message: 'expected one of: 0 (round robin), 1 (specified group), 2 (load balance)' });
  });

  test('strings: trimmed; optional emptiness and content checks', () => {
    assert.equal(stringType().parse('  x y  '), 'x y');
    assert.equal(stringType().parse(''), '');
    assert.throws(() => stringType({ allowEmpty: false }).parse(' '), { message: 'expected a non-empty value' });
    const group = stringType({ check: (v) => /^[a-z0-9]+$/i.test(v), allowed: 'a group name' });
    assert.equal(group.parse('group1'), 'group1');
    assert.throws(() => group.parse('group-1'), { message: 'expected a group name' });
  });

  test('reserved space: MB or ratio, keeping the text as written', () => {
    assert.deepEqual(parseReservedSpace('1024MB'), { kind: 'mb', mb: 1024, text: '1024MB' });
    assert.deepEqual(parseReservedSpace('10G'), { kind: 'mb', mb: 10240, text: '10G' });
    assert.deepEqual(parseReservedSpace('10g'), { kind: 'mb', mb: 10240, text: '10g' });
    assert.deepEqual(parseReservedSpace('1048576'), { kind: 'mb', mb: 1, text: '1048576' });
    assert.deepEqual(parseReservedSpace('20%'), { kind: 'ratio', ratio: 0.2, text: '20%' });
    assert.deepEqual(parseReservedSpace('12.5%'), { kind: 'ratio', ratio: 0.125, text: '12.5%' });
    for (const bad of ['0%', '100%', '-5%', 'abc', '%', '']) assert.throws(() => parseReservedSpace(bad), ValueError, bad);
    // what the C tracker sends in PARAMETER_REQ (§4.2)
    assert.equal(formatReservedSpace(parseReservedSpace('10G')), '10240MB');
    assert.equal(formatReservedSpace(parseReservedSpace('20%')), '20.00%');
    const t = reservedSpaceType();
    assert.deepEqual(t.accept({ kind: 'ratio', ratio: 0.1 }), { kind: 'ratio', ratio: 0.1, text: '10%' });
    assert.equal(t.accept('5%').kind, 'ratio');
  });

  test('auto-or-integer (sync_max_threads)', () => {
    const t = autoOrIntType({ min: 1, max: 256 });
    assert.equal(t.parse('auto'), 'auto');
    assert.equal(t.parse('AUTO'), 'auto');
    assert.equal(t.parse('0'), 'auto');
    assert.equal(t.parse('8'), 8);
    assert.equal(t.accept(4), 4);
    assert.throws(() => t.parse('257'), { message: 'expected auto (or 0) or an integer between 1 and 256' });
  });
});

describe('host:port entries (tracker_server, storage_ids.conf)', () => {
  test('parses the forms FastDFS writes', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:22122', 22122), { hosts: ['127.0.0.1'], port: 22122 });
    assert.deepEqual(parseHostPort('tracker.example.com', 22122), { hosts: ['tracker.example.com'], port: 22122 });
    assert.deepEqual(parseHostPort(' 10.0.0.1:22160 ', 22122), { hosts: ['10.0.0.1'], port: 22160 });
    assert.deepEqual(parseHostPort('192.168.2.100,122.244.141.46:22122', 1), { hosts: ['192.168.2.100', '122.244.141.46'], port: 22122 });
    assert.deepEqual(parseHostPort('10.0.0.1,122.244.141.46', 23000), { hosts: ['10.0.0.1', '122.244.141.46'], port: 23000 });
    assert.deepEqual(parseHostPort('[::1]:22122', 1), { hosts: ['::1'], port: 22122 });
    assert.deepEqual(parseHostPort('[::1]', 22122), { hosts: ['::1'], port: 22122 });
    assert.deepEqual(parseHostPort('::1', 22122), { hosts: ['::1'], port: 22122 });
    assert.deepEqual(parseHostPort('[2409:8a20:42d:2f40:587a:4c47:72c0:ad8e,fe80::1ee9:90a8:1351:436c]:22122', 1), {
      hosts: ['2409:8a20:42d:2f40:587a:4c47:72c0:ad8e', 'fe80::1ee9:90a8:1351:436c'],
      port: 22122,
    });
  });

  test('rejects malformed entries with a message saying what is expected', () => {
    for (const bad of ['', 'host:', 'host:0', 'host:65536', 'host:abc', '[::1', '[::1]x', 'a,b,c:1', ',a:1', 'a a:1', 'a,a:1', 'ho$t:1']) {
      assert.throws(() => parseHostPort(bad, 22122), ValueError, bad);
    }
    assert.throws(() => parseHostPort('h:99999', 22122), { message: 'port "99999" is not an integer between 1 and 65535' });
  });

  test('formats with brackets around IPv6 (the whole list when there are two)', () => {
    assert.equal(formatHostPort('127.0.0.1', 22122), '127.0.0.1:22122');
    assert.equal(formatHostPort('::1', 22122), '[::1]:22122');
    assert.equal(formatHostPort(['10.0.0.1', '122.1.1.1'], 23000), '10.0.0.1,122.1.1.1:23000');
    assert.equal(formatHostPort(['fe80::1', '2409::2'], 23000), '[fe80::1,2409::2]:23000');
    for (const text of ['127.0.0.1:22122', '[::1]:22122', '10.0.0.1,122.1.1.1:23000']) {
      const hp = parseHostPort(text, 1);
      assert.equal(formatHostPort(hp.hosts, hp.port), text);
    }
  });

  test('as a value type it also accepts {hosts, port} objects', () => {
    const t = hostPortType(22122);
    assert.deepEqual(t.accept({ hosts: ['::1'], port: 9 }), { hosts: ['::1'], port: 9 });
    assert.deepEqual(t.accept('h'), { hosts: ['h'], port: 22122 });
    assert.throws(() => t.accept(42), ValueError);
  });
});

describe('storage_ids.conf', () => {
  test('parses ids, groups, one or two addresses, ports (default 23000) and rw modes', () => {
    const text = [
      '# <id>  <group_name>  <ip_or_hostname[:port]>',
      '100001   group1  192.168.0.196',
      '100002\tgroup1\t192.168.0.197:23060',
      '',
      '100003   group2  [2409:8a20:42d:2f40:587a:4c47:72c0:ad8e]:23000  rw=read',
      '100004   group2  122.244.141.46,10.0.0.4:23001 RW=WriteOnly',
      '7 group3 storage7.example.com rw=none',
      '8 group3 127.0.0.8 rw=both',
    ].join('\n');
    const ids = parseStorageIds(text, 'storage_ids.conf');
    assert.deepEqual(
      ids.map(({ id, group, hosts, port, rw, line }) => ({ id, group, hosts, port, rw, line })),
      [
        { id: '100001', group: 'group1', hosts: ['192.168.0.196'], port: 23000, rw: 'both', line: 2 },
        { id: '100002', group: 'group1', hosts: ['192.168.0.197'], port: 23060, rw: 'both', line: 3 },
        { id: '100003', group: 'group2', hosts: ['2409:8a20:42d:2f40:587a:4c47:72c0:ad8e'], port: 23000, rw: 'read', line: 5 },
        // FastDFS keeps the inner address first
        { id: '100004', group: 'group2', hosts: ['10.0.0.4', '122.244.141.46'], port: 23001, rw: 'write', line: 6 },
        { id: '7', group: 'group3', hosts: ['storage7.example.com'], port: 23000, rw: 'none', line: 7 },
        { id: '8', group: 'group3', hosts: ['127.0.0.8'], port: 23000, rw: 'both', line: 8 },
      ],
    );
    assert.ok(ids.every((e) => e.file === 'storage_ids.conf'));
  });

  test('formats lines as FETCH_STORAGE_IDS sends them (port always present)', () => {
    const ids = parseStorageIds('100003 group2 127.0.0.9\n100004 group2 [::1]:23001 rw=none\n', 'ids');
    assert.deepEqual(ids.map(formatStorageIdLine), ['100003 group2 127.0.0.9:23000', '100004 group2 [::1]:23001 rw=none']);
    // and reads them back
    assert.deepEqual(parseStorageIds(ids.map(formatStorageIdLine).join('\n'), 'reply').map((e) => e.port), [23000, 23001]);
  });

  test('errors name the file and line', () => {
    const cases: Array<[string, RegExp]> = [
      ['100001 group1', /^ids\.conf:2: 100001 group1: expected "id group host/],
      ['0 group1 127.0.0.1', /^ids\.conf:2: .*invalid id "0"/],
      ['016 group1 127.0.0.1', /invalid id "016"/],
      ['16777216 group1 127.0.0.1', /invalid id "16777216"/],
      ['100009 group_1 127.0.0.1', /invalid group "group_1"/],
      ['100009 group1 127.0.0.1:70000', /address "127.0.0.1:70000": port "70000"/],
      ['100009 group1 127.0.0.1 rw=sometimes', /invalid option "rw=sometimes"/],
      ['100009 group1 127.0.0.1 rw=read extra', /unexpected "extra"/],
      ['100001 group1 127.0.0.2', /id 100001 is already used at line 1/],
      ['100009 group1 127.0.0.1:23000', /127\.0\.0\.1:23000 is already listed at line 1 \(id 100001\)/],
      ['100009 group1 10.0.0.1,10.0.0.2', /one must be an inner and the other an outer address/],
    ];
    for (const [line, expected] of cases) {
      assert.throws(
        () => parseStorageIds(`100001 group1 127.0.0.1\n${line}\n`, 'ids.conf'),
        (err: unknown) => err instanceof ConfigError && expected.test(err.message) && err.line === 2 && !err.message.includes('\n'),
        line,
      );
    }
  });

  test('loadStorageIds reads a file and refuses an empty list', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'ids.conf'), '100001 group1 127.0.0.1:23000\n');
    assert.equal(loadStorageIds(join(dir, 'ids.conf'))[0]!.id, '100001');
    writeFileSync(join(dir, 'empty.conf'), '# nothing\n\n');
    assert.deepEqual(parseStorageIds('# nothing\n', 'x'), []);
    assert.throws(() => loadStorageIds(join(dir, 'empty.conf')), /no storage id in the file/);
    assert.throws(() => loadStorageIds(join(dir, 'missing.conf')), /cannot read storage ids file: ENOENT/);
  });
});
