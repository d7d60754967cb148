// Loading tracker.conf / storage.conf / client.conf as a user writes them: defaults, errors,
// warnings, command-line overrides, and the sample files shipped in conf/.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../lib/config/errors.ts';
import { CLIENT_KEYS, STORAGE_KEYS, TRACKER_KEYS, type Schema } from '../lib/config/schema.ts';
import { effectiveResponseIpAddrSize, loadTrackerConfig } from '../lib/config/tracker-config.ts';
import { effectiveSyncMaxThreads, loadStorageConfig } from '../lib/config/storage-config.ts';
import { loadClientConfig } from '../lib/config/client-config.ts';
import { loadStorageIds, parseStorageIds } from '../lib/config/storage-ids.ts';

const MB = 1024 * 1024;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fdfs-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `lines` as a conf file and returns its path. */
function conf(dir: string, name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Asserts a one-line ConfigError with exactly this message. */
function throwsConfig(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'message must be one line');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

/** conf/ of this repository, found from the test file (works from test/ and build/test/). */
function repoConfDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'conf', 'tracker.conf')) && existsSync(join(dir, 'package.json'))) return join(dir, 'conf');
    const up = dirname(dir);
    if (up === dir) throw new Error('conf/ not found');
    dir = up;
  }
}

describe('tracker.conf', () => {
  test('code defaults of PROTOCOL.md §9.1 and §11.1', () => {
    const { config: c, warnings } = loadTrackerConfig({ overrides: { base_path: '/var/fdfs' } });
    assert.deepEqual(warnings, []);
    assert.equal(c.base_path, '/var/fdfs');
    assert.equal(c.port, 22122);
    assert.equal(c.bind_addr, '');
    assert.equal(c.address_family, 'auto');
    assert.equal(c.connect_timeout, 10);
    assert.equal(c.network_timeout, 60);
    assert.equal(c.max_connections, 256);
    assert.equal(c.buff_size, 256 * 1024);
    assert.equal(c.min_buff_size, 256 * 1024);
    assert.equal(c.max_buff_size, 256 * 1024);
    assert.equal(c.store_lookup, 0);
    assert.equal(c.store_group, '');
    assert.equal(c.store_server, 0);
    assert.equal(c.store_path, 0);
    assert.equal(c.download_server, 0);
    assert.deepEqual(c.reserved_storage_space, { kind: 'mb', mb: 1024, text: '1024MB' });
    assert.deepEqual(c.allow_hosts, ['*']);
    assert.equal(c.check_active_interval, 100);
    assert.equal(c.storage_ip_changed_auto_adjust, true);
    assert.equal(c.storage_sync_file_max_delay, 86400);
    assert.equal(c.storage_sync_file_max_time, 300);
    assert.equal(c.use_trunk_file, false);
    assert.equal(c.slot_min_size, 256);
    assert.equal(c.trunk_file_size, 64 * MB);
    assert.equal(c.slot_max_size, 8 * MB); // trunk_file_size / 8
    assert.equal(c.trunk_alloc_alignment_size, 0);
    assert.equal(c.trunk_free_space_merge, false);
    assert.equal(c.delete_unused_trunk_files, false);
    assert.equal(c.trunk_create_file_advance, false);
    assert.deepEqual(c.trunk_create_file_time_base, { hour: 2, minute: 0 });
    assert.equal(c.trunk_create_file_interval, 86400);
    assert.equal(c.trunk_create_file_space_threshold, 0);
    assert.equal(c.trunk_init_check_occupying, false);
    assert.equal(c.trunk_init_reload_from_binlog, false);
    assert.equal(c.trunk_compress_binlog_min_interval, 0);
    assert.equal(c.trunk_compress_binlog_interval, 0);
    assert.deepEqual(c.trunk_compress_binlog_time_base, { hour: 3, minute: 0 });
    assert.equal(c.trunk_binlog_max_backups, 0);
    assert.equal(c.use_storage_id, false);
    assert.equal(c.storage_ids_filename, resolve('storage_ids.conf'));
    assert.equal(c.id_type_in_filename, 'ip');
    assert.equal(c.trust_storage_server_id, true);
    assert.equal(c.response_ip_addr_size, 'auto');
    assert.equal(c.store_slave_file_use_link, false);
    assert.equal(c.use_connection_pool, false);
    assert.equal(c.connection_pool_max_idle_time, 3600);
    assert.equal(c.log_level, 'info');
    assert.equal(c.disabled, false);
  });

  test('an invalid value is a one-line error naming file, line, key, value and what is allowed', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'tracker.conf', ['# tracker', 'base_path = /tmp', '', 'check_active_interval = abc']);
    throwsConfig(() => loadTrackerConfig({ file }), `${file}:4: check_active_interval = abc: expected an integer ≥ 1`);
    try {
      loadTrackerConfig({ file });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.file, file);
      assert.equal(err.line, 4);
      assert.equal(err.key, 'check_active_interval');
      assert.equal(err.value, 'abc');
      assert.equal(err.code, 'FDFS_ERR_CONFIG');
    }
    const cases: Array<[string, string]> = [
      ['port = 70000', 'port = 70000: expected an integer between 0 and 65535'],
      ['use_trunk_file = maybe', 'use_trunk_file = maybe: expected true or false (also yes/no, on/off, 1/0)'],
      ['buff_size = 4KB', 'buff_size = 4KB: expected a size such as 256KB, 64MB or 1G (K/M/G/T, B optional; plain number = bytes) ≥ 8KB'],
      ['store_lookup = 3', 'store_lookup = 3: expected one of: 0 (round robin), 1 (specified group), 2 (load balance)'],
      ['store_path = 1', 'store_path = 1: expected one of: 0 (round robin), 2 (load balance)'],
      ['reserved_storage_space = 120%', 'reserved_storage_space = 120%: expected a size such as 1024MB or 10G (plain number = bytes), or a percentage above 0 and below 100 such as 10%'],
      ['trunk_create_file_time_base = 25:00', 'trunk_create_file_time_base = 25:00: expected a time of day HH:MM between 00:00 and 23:59'],
      ['id_type_in_filename = name', 'id_type_in_filename = name: expected one of: ip, id'],
      ['store_group = group-1', 'store_group = group-1: expected a group name of 1 to 16 letters or digits, or empty'],
      ['log_level = loud', 'log_level = loud: expected one of: emerg, alert, crit, error, warn, notice, info, debug'],
      ['base_path =', 'base_path = : expected a non-empty path'],
    ];
    for (const [line, message] of cases) {
      const f = conf(dir, 'bad.conf', ['base_path = /tmp', line]);
      throwsConfig(() => loadTrackerConfig({ file: f }), `${f}:2: ${message}`);
    }
  });

  test('unknown keys are warnings with file and line; known FastDFS keys we do not use are silent', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'tracker.conf', [
      'base_path = /tmp',
      'heart_beat_intervall = 5',
      'check_activ_interval = 5',
      'run_by_group =',
      'run_by_user = fdfs',
      'work_threads = 4',
      'accept_threads = 1',
      'thread_stack_size = 64KB',
      'sync_log_buff_interval = 10',
      'rotate_error_log = false',
      'error_log_rotate_time = 00:00',
      'rotate_error_log_size = 0',
      'log_file_keep_days = 0',
      'http.server_port = 8080',
      'http.check_alive_interval = 30',
      'http.check_alive_type = tcp',
      'http.check_alive_uri = /status.html',
      '[extra]',
      'port = 1',
    ]);
    const { config, warnings } = loadTrackerConfig({ file });
    assert.deepEqual(warnings, [
      `${file}:2: unknown key "heart_beat_intervall" (ignored)`,
      `${file}:3: unknown key "check_activ_interval" (did you mean "check_active_interval"?) (ignored)`,
      `${file}:19: [extra] port: keys inside a [section] are not read from tracker.conf (ignored)`,
    ]);
    assert.equal(config.port, 22122);
    assert.equal(config.check_active_interval, 100);
    assert.equal('run_by_user' in config, false);
  });

  test('a key given twice: the last value wins, with a warning', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'tracker.conf', ['base_path = /tmp', 'port = 1000', 'port = 2000']);
    const { config, warnings } = loadTrackerConfig({ file });
    assert.equal(config.port, 2000);
    assert.deepEqual(warnings, [`${file}:3: port is set again (first at line 2); the last value is used`]);
  });

  test('command-line overrides beat the file and are validated the same way', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'tracker.conf', ['base_path = /tmp', 'port = 1000', 'use_trunk_file = true', 'allow_hosts = 10.0.0.1', 'allow_hosts = 10.0.0.2']);
    const { config } = loadTrackerConfig({
      file,
      overrides: {
        port: 2000, // typed
        use_trunk_file: 'no', // string, parsed like the file
        reserved_storage_space: '20%',
        trunk_create_file_time_base: { hour: 4, minute: 30 },
        allow_hosts: ['192.168.0.0/16'], // replaces the whole list
        store_group: undefined, // skipped
      },
    });
    assert.equal(config.port, 2000);
    assert.equal(config.use_trunk_file, false);
    assert.deepEqual(config.reserved_storage_space, { kind: 'ratio', ratio: 0.2, text: '20%' });
    assert.deepEqual(config.trunk_create_file_time_base, { hour: 4, minute: 30 });
    assert.deepEqual(config.allow_hosts, ['192.168.0.0/16']);

    throwsConfig(() => loadTrackerConfig({ file, overrides: { port: -1 } }), 'command line: port = -1: expected an integer between 0 and 65535');
    throwsConfig(() => loadTrackerConfig({ file, overrides: { port: 'http' } }), 'command line: port = http: expected an integer between 0 and 65535');
    throwsConfig(() => loadTrackerConfig({ file, overrides: { use_storage_id: 'sure' } }), /^command line: use_storage_id = sure: expected true or false/);
    const { warnings } = loadTrackerConfig({ file, overrides: { prot: 1, use_trunk_file: false } });
    assert.deepEqual(warnings, ['command line: unknown key "prot" (did you mean "port"?) (ignored)']);
  });

  test('base_path is required, from the file or the command line', (t) => {
    const dir = tempDir(t);
    throwsConfig(() => loadTrackerConfig(), 'tracker.conf (no conf file given): missing required key base_path (directory for data and log files; a relative path is taken from the current directory)');
    const file = conf(dir, 'tracker.conf', ['port = 22122']);
    throwsConfig(() => loadTrackerConfig({ file }), new RegExp(`^${escape(file)}: missing required key base_path `));
    assert.equal(loadTrackerConfig({ file, overrides: { base_path: 'rel/dir' } }).config.base_path, resolve('rel/dir'));
  });

  test('#include pulls keys from another file, errors point into that file', (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, 'common'));
    conf(dir, 'common/pool.conf', ['use_connection_pool = true', 'connection_pool_max_idle_time = -1']);
    const file = conf(dir, 'tracker.conf', ['base_path = /tmp', '#include common/pool.conf']);
    throwsConfig(() => loadTrackerConfig({ file }), `${join(dir, 'common', 'pool.conf')}:2: connection_pool_max_idle_time = -1: expected an integer ≥ 1`);
    conf(dir, 'common/pool.conf', ['use_connection_pool = true']);
    assert.equal(loadTrackerConfig({ file }).config.use_connection_pool, true);
  });

  test('storage_ids_filename is relative to the conf file; on the command line, to the current directory', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'tracker.conf', ['base_path = /tmp', 'storage_ids_filename = ids/storage_ids.conf']);
    assert.equal(loadTrackerConfig({ file }).config.storage_ids_filename, join(dir, 'ids', 'storage_ids.conf'));
    const plain = conf(dir, 'plain.conf', ['base_path = /tmp']);
    assert.equal(loadTrackerConfig({ file: plain }).config.storage_ids_filename, join(dir, 'storage_ids.conf'));
    assert.equal(loadTrackerConfig({ file, overrides: { storage_ids_filename: 'x.conf' } }).config.storage_ids_filename, resolve('x.conf'));
    assert.equal(loadTrackerConfig({ file, overrides: { storage_ids_filename: '/etc/ids.conf' } }).config.storage_ids_filename, '/etc/ids.conf');
  });

  test('trunk sizes follow the C tracker: derived slot_max_size, adjustments with warnings, slot_max > slot_min', () => {
    const base = { base_path: '/tmp' };
    let r = loadTrackerConfig({ overrides: { ...base, trunk_file_size: '16MB' } });
    assert.equal(r.config.slot_max_size, 2 * MB);

    r = loadTrackerConfig({ overrides: { ...base, trunk_file_size: '1MB', slot_min_size: '128KB', slot_max_size: '3MB', trunk_alloc_alignment_size: '128KB' } });
    assert.equal(r.config.trunk_file_size, 4 * MB);
    assert.equal(r.config.slot_max_size, 2 * MB);
    assert.equal(r.config.slot_min_size, 128 * 1024); // 64KB cap, then raised to the alignment
    assert.deepEqual(r.warnings, [
      'command line: slot_min_size = 128KB: too large, set to 64KB',
      'command line: trunk_file_size = 1MB: too small, set to 4MB',
      'command line: slot_max_size = 3MB: larger than trunk_file_size / 2, set to 2MB',
      'command line: slot_min_size = 128KB: below trunk_alloc_alignment_size, set to 128KB',
    ]);

    throwsConfig(() => loadTrackerConfig({ overrides: { ...base, slot_min_size: '4KB', slot_max_size: '4KB' } }), 'command line: slot_max_size = 4KB: must be greater than slot_min_size (4KB)');
  });

  test('use_trunk_file turns store_server 0 into 1 (§8.2)', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'tracker.conf', ['base_path = /tmp', 'use_trunk_file = true']);
    const { config, warnings } = loadTrackerConfig({ file });
    assert.equal(config.store_server, 1);
    assert.deepEqual(warnings, [`${file}: store_server = 0: set to 1 (first by id/IP) because use_trunk_file is true (§8.2)`]);
    assert.equal(loadTrackerConfig({ file, overrides: { store_server: 2 } }).config.store_server, 2);
  });

  test('cross-key rules: store_lookup = 1 needs store_group; IPv6 needs storage ids in file names', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'tracker.conf', ['base_path = /tmp', 'store_lookup = 1']);
    throwsConfig(() => loadTrackerConfig({ file }), `${file}:2: store_lookup = 1: store_lookup = 1 (specified group) needs store_group = <group name>`);
    assert.equal(loadTrackerConfig({ file, overrides: { store_group: 'group2' } }).config.store_group, 'group2');

    const v6 = conf(dir, 'v6.conf', ['base_path = /tmp', 'address_family = both']);
    throwsConfig(() => loadTrackerConfig({ file: v6 }), `${v6}:2: address_family = both: IPv6 needs use_storage_id = true`);
    throwsConfig(() => loadTrackerConfig({ file: v6, overrides: { use_storage_id: true } }), `${v6}:2: address_family = both: IPv6 needs id_type_in_filename = id`);
    assert.equal(loadTrackerConfig({ file: v6, overrides: { use_storage_id: true, id_type_in_filename: 'id' } }).config.address_family, 'both');
    throwsConfig(() => loadTrackerConfig({ overrides: { base_path: '/tmp', bind_addr: '::1' } }), 'command line: bind_addr = ::1: IPv6 needs use_storage_id = true');
  });

  test('min_buff_size / max_buff_size as libserverframe sets them', () => {
    let c = loadTrackerConfig({ overrides: { base_path: '/tmp', buff_size: '64KB', min_buff_size: '8KB', max_buff_size: '32KB' } }).config;
    assert.equal(c.min_buff_size, 8 * 1024);
    assert.equal(c.max_buff_size, 64 * 1024); // raised to buff_size
    const r = loadTrackerConfig({ overrides: { base_path: '/tmp', min_buff_size: '8KB' } });
    c = r.config;
    assert.equal(c.min_buff_size, 256 * 1024);
    assert.equal(c.max_buff_size, 256 * 1024);
    assert.equal(r.warnings.length, 1);
  });

  test('effective response IP size (§0)', () => {
    const ids = parseStorageIds('1 g 127.0.0.1\n2 g [::1]:23000\n', 'ids');
    assert.equal(effectiveResponseIpAddrSize({ response_ip_addr_size: 'auto', use_storage_id: false }, ids), 16);
    assert.equal(effectiveResponseIpAddrSize({ response_ip_addr_size: 'auto', use_storage_id: true }, ids.slice(0, 1)), 16);
    assert.equal(effectiveResponseIpAddrSize({ response_ip_addr_size: 'auto', use_storage_id: true }, ids), 46);
    assert.equal(effectiveResponseIpAddrSize({ response_ip_addr_size: 'IPv6', use_storage_id: false }), 46);
    const c = loadTrackerConfig({ overrides: { base_path: '/tmp', response_ip_addr_size: '16' } }).config;
    assert.equal(c.response_ip_addr_size, 'IPv4');
  });
});

describe('storage.conf', () => {
  test('code defaults of PROTOCOL.md §9.2', () => {
    const { config: c, warnings } = loadStorageConfig({ overrides: { base_path: '/data/s1', tracker_server: '10.0.0.1' } });
    assert.deepEqual(warnings, []);
    assert.equal(c.group_name, '');
    assert.equal(c.port, 23000);
    assert.equal(c.server_id, '');
    assert.equal(c.client_bind, true);
    assert.equal(c.connect_timeout, 10);
    assert.equal(c.network_timeout, 60);
    assert.equal(c.heart_beat_interval, 30);
    assert.equal(c.stat_report_interval, 300);
    assert.equal(c.buff_size, 64 * 1024);
    assert.equal(c.max_connections, 256);
    assert.equal(c.sync_wait_msec, 100);
    assert.equal(c.sync_interval, 0);
    assert.deepEqual(c.sync_start_time, { hour: 0, minute: 0 });
    assert.deepEqual(c.sync_end_time, { hour: 23, minute: 59 });
    assert.equal(c.sync_min_threads, 1);
    assert.equal(c.sync_max_threads, 'auto');
    assert.equal(c.write_mark_file_freq, 500);
    assert.equal(c.disk_recovery_threads, 1);
    assert.equal(c.store_path_count, 1);
    assert.deepEqual(c.store_paths, ['/data/s1']); // store_path0 defaults to base_path
    assert.deepEqual(c.store_paths_readonly, [false]);
    assert.equal(c.subdir_count_per_path, 256);
    assert.deepEqual(c.tracker_servers, [{ hosts: ['10.0.0.1'], port: 22122 }]);
    assert.equal(c.file_distribute_path_mode, 0);
    assert.equal(c.file_distribute_rotate_count, 100);
    assert.equal(c.fsync_after_written_bytes, 0);
    assert.equal(c.sync_binlog_buff_interval, 60);
    assert.equal(c.sync_stat_file_interval, 60);
    assert.equal(c.upload_priority, 10);
    assert.equal(c.file_sync_skip_invalid_record, false);
    assert.equal(c.compress_binlog, false);
    assert.deepEqual(c.compress_binlog_time, { hour: 1, minute: 30 });
    assert.equal(c.check_store_path_mark, true);
    assert.equal(c.use_connection_pool, false);
    assert.equal(c.connection_pool_max_idle_time, 3600);
    assert.deepEqual(c.allow_hosts, ['*']);
    assert.equal(c.log_level, 'info');
    assert.equal(effectiveSyncMaxThreads(c), 2);
  });

  test('the error format of the brief: storage.conf:LINE: key = value: allowed', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'storage.conf', ['base_path = /tmp', 'tracker_server = 127.0.0.1:22122', 'heart_beat_interval = abc']);
    throwsConfig(() => loadStorageConfig({ file }), `${file}:3: heart_beat_interval = abc: expected an integer ≥ 1`);
    const bad = conf(dir, 'bad.conf', ['base_path = /tmp', 'tracker_server = 127.0.0.1:99999']);
    throwsConfig(() => loadStorageConfig({ file: bad }), `${bad}:2: tracker_server = 127.0.0.1:99999: port "99999" is not an integer between 1 and 65535`);
  });

  test('tracker_server: repeatable, in order, required, at most 16', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'storage.conf', [
      'base_path = /tmp',
      'tracker_server = 192.168.209.121:22122',
      'port = 23001',
      'tracker_server = 10.0.0.2,122.244.141.46:22123',
      'tracker_server = [::1]',
    ]);
    const { config } = loadStorageConfig({ file });
    assert.deepEqual(config.tracker_servers, [
      { hosts: ['192.168.209.121'], port: 22122 },
      { hosts: ['10.0.0.2', '122.244.141.46'], port: 22123 },
      { hosts: ['::1'], port: 22122 },
    ]);
    assert.equal(config.tracker_server, config.tracker_servers);

    const none = conf(dir, 'none.conf', ['base_path = /tmp']);
    throwsConfig(() => loadStorageConfig({ file: none }), new RegExp(`^${escape(none)}: missing required key tracker_server `));
    assert.deepEqual(
      loadStorageConfig({ file: none, overrides: { tracker_server: ['t1:1', { hosts: ['t2'], port: 2 }] } }).config.tracker_servers,
      [{ hosts: ['t1'], port: 1 }, { hosts: ['t2'], port: 2 }],
    );

    const many = conf(dir, 'many.conf', ['base_path = /tmp', ...Array.from({ length: 17 }, (_, i) => `tracker_server = 10.0.0.${i + 1}`)]);
    throwsConfig(() => loadStorageConfig({ file: many }), `${many}:18: tracker_server = 10.0.0.17: at most 16 tracker_server entries are allowed`);
  });

  test('store paths: store_path_count, store_pathN, store_pathN_readonly', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'storage.conf', [
      'base_path = /data/base',
      'tracker_server = t',
      'store_path_count = 3',
      'store_path0 = /disk0',
      'store_path2 = relative/disk2',
      'store_path1 = /disk1',
      'store_path1_readonly = true',
      'store_path3 = /disk3',
    ]);
    const { config, warnings } = loadStorageConfig({ file });
    assert.equal(config.store_path_count, 3);
    assert.deepEqual(config.store_paths, ['/disk0', '/disk1', resolve('relative/disk2')]);
    assert.deepEqual(config.store_paths_readonly, [false, true, false]);
    assert.deepEqual(warnings, [`${file}:8: store_path3 = /disk3: beyond store_path_count = 3 (ignored)`]);

    const missing = conf(dir, 'missing.conf', ['base_path = /b', 'tracker_server = t', 'store_path_count = 2', 'store_path0 = /disk0']);
    throwsConfig(() => loadStorageConfig({ file: missing }), `${missing}:3: store_path_count = 2: store_path1 is missing`);

    const dup = conf(dir, 'dup.conf', ['base_path = /disk0', 'tracker_server = t', 'store_path_count = 2', 'store_path1 = /disk0/']);
    throwsConfig(() => loadStorageConfig({ file: dup }), `${dup}:4: store_path1 = /disk0/: same directory as store_path0`);

    const badRo = conf(dir, 'ro.conf', ['base_path = /b', 'tracker_server = t', 'store_path0_readonly = perhaps']);
    throwsConfig(() => loadStorageConfig({ file: badRo }), /^.*ro\.conf:3: store_path0_readonly = perhaps: expected true or false/);
  });

  test('store paths given on the command line', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'storage.conf', ['base_path = /b', 'tracker_server = t', 'store_path_count = 2', 'store_path0 = /f0', 'store_path1 = /f1']);
    let c = loadStorageConfig({ file, overrides: { store_paths: ['/o0', '/o1', '/o2'], store_path2_readonly: true } }).config;
    assert.equal(c.store_path_count, 3);
    assert.deepEqual(c.store_paths, ['/o0', '/o1', '/o2']);
    assert.deepEqual(c.store_paths_readonly, [false, false, true]);
    c = loadStorageConfig({ file, overrides: { store_path1: '/o1' } }).config;
    assert.deepEqual(c.store_paths, ['/f0', '/o1']);
    throwsConfig(() => loadStorageConfig({ file, overrides: { store_paths: ['/a'], store_path_count: 2 } }), 'command line: store_path_count = 2: store_paths lists 1 paths');
    const { warnings } = loadStorageConfig({ file: conf(dir, 'x.conf', ['base_path = /b', 'tracker_server = t', 'store_paths = /x']) });
    assert.match(warnings[0]!, /x\.conf:3: unknown key "store_paths" \(ignored\)/);
  });

  test('a real FastDFS 6.x storage.conf loads without warnings', (t) => {
    const dir = tempDir(t);
    const file = conf(dir, 'storage.conf', [
      'disabled = false', 'group_name = group1', 'bind_addr =', 'client_bind = true', 'port = 23000',
      'address_family = auto', 'connect_timeout = 5', 'network_timeout = 60', 'heart_beat_interval = 30',
      'stat_report_interval = 60', 'base_path = /opt/fastdfs', 'max_connections = 1024', 'buff_size = 256KB',
      'accept_threads = 1', 'work_threads = 4', 'disk_rw_separated = true', 'disk_reader_threads = 1',
      'disk_writer_threads = 1', 'sync_wait_msec = 50', 'sync_interval = 0', 'sync_start_time = 00:00',
      'sync_end_time = 23:59', 'write_mark_file_freq = 500', 'disk_recovery_threads = 3', 'store_path_count = 1',
      'store_path0 = /opt/fastdfs', 'subdir_count_per_path = 256', 'tracker_server = 192.168.209.121:22122',
      'tracker_server = 192.168.209.122:22122', 'log_level = info', 'run_by_group =', 'run_by_user =',
      'allow_hosts = *', 'file_distribute_path_mode = 0', 'file_distribute_rotate_count = 100',
      'fsync_after_written_bytes = 0', 'sync_log_buff_interval = 1', 'sync_binlog_buff_interval = 1',
      'sync_stat_file_interval = 300', 'thread_stack_size = 512KB', 'upload_priority = 10', 'if_alias_prefix =',
      'check_file_duplicate = 0', 'file_signature_method = hash', 'key_namespace = FastDFS', 'keep_alive = 0',
      '##include /home/yuqing/fastdht/conf/fdht_servers.conf', 'use_access_log = false', 'rotate_access_log = false',
      'access_log_rotate_time = 00:00', 'compress_old_access_log = false', 'compress_access_log_days_before = 7',
      'rotate_error_log = false', 'error_log_rotate_time = 00:00', 'compress_old_error_log = false',
      'compress_error_log_days_before = 7', 'rotate_access_log_size = 0', 'rotate_error_log_size = 0',
      'log_file_keep_days = 0', 'file_sync_skip_invalid_record = false', 'use_connection_pool = true',
      'connection_pool_max_idle_time = 3600', 'compress_binlog = true', 'compress_binlog_time = 01:30',
      'check_store_path_mark = true', 'http.domain_name =', 'http.server_port = 8888',
    ]);
    const { config, warnings } = loadStorageConfig({ file });
    assert.deepEqual(warnings, []);
    assert.equal(config.buff_size, 256 * 1024);
    assert.equal(config.tracker_servers.length, 2);
    assert.equal(config.sync_wait_msec, 50);
  });

  test('check_file_duplicate = true is accepted with a warning (no FastDHT)', () => {
    const r = loadStorageConfig({ overrides: { base_path: '/b', tracker_server: 't', check_file_duplicate: 'yes' } });
    assert.equal(r.config.check_file_duplicate, true);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /^command line: check_file_duplicate = yes: file deduplication through FastDHT is not supported/);
  });

  test('sync_max_threads: auto, 0 or a number', () => {
    const load = (v: unknown) => loadStorageConfig({ overrides: { base_path: '/b', tracker_server: 't', sync_max_threads: v, store_paths: ['/1', '/2', '/3'] } }).config;
    assert.equal(effectiveSyncMaxThreads(load('auto')), 6);
    assert.equal(effectiveSyncMaxThreads(load(0)), 6);
    assert.equal(effectiveSyncMaxThreads(load(4)), 4);
    assert.equal(effectiveSyncMaxThreads({ ...load(1), sync_min_threads: 3 }), 3);
  });
});

describe('client.conf', () => {
  test('code defaults of PROTOCOL.md §9.3', () => {
    const { config: c, warnings } = loadClientConfig({ overrides: { tracker_server: '127.0.0.1:22122' } });
    assert.deepEqual(warnings, []);
    assert.equal(c.connect_timeout, 10);
    assert.equal(c.network_timeout, 30);
    assert.equal(c.base_path, '/tmp');
    assert.deepEqual(c.tracker_servers, [{ hosts: ['127.0.0.1'], port: 22122 }]);
    assert.equal(c.use_connection_pool, false);
    assert.equal(c.connection_pool_max_idle_time, 3600);
    assert.equal(c.load_fdfs_parameters_from_tracker, false);
    assert.equal(c.use_storage_id, false);
    assert.equal(c.storage_ids_filename, resolve('storage_ids.conf'));
    assert.equal(c.connect_first_by, 'tracker');
    assert.equal(c['http.anti_steal.check_token'], false);
    assert.equal(c['http.anti_steal.secret_key'], '');
    assert.equal(c['http.tracker_server_port'], 80);
  });

  test('FastDFS client.conf with an included http.conf', (t) => {
    const dir = tempDir(t);
    conf(dir, 'http.conf', [
      'http.default_content_type = application/octet-stream',
      'http.mime_types_filename = mime.types',
      'http.anti_steal.check_token = true',
      'http.anti_steal.token_ttl = 900',
      'http.anti_steal.secret_key = FastDFS1234567890',
      'http.anti_steal.token_check_fail = /home/yuqing/fastdfs/conf/anti-steal.jpg',
    ]);
    const file = conf(dir, 'client.conf', [
      'connect_timeout = 5', 'network_timeout = 60', `base_path = ${dir}`,
      'tracker_server = 192.168.0.196:22122', 'tracker_server = 192.168.0.197:22122', 'log_level = info',
      'use_connection_pool = false', 'connection_pool_max_idle_time = 3600', 'load_fdfs_parameters_from_tracker = false',
      'use_storage_id = false', 'storage_ids_filename = storage_ids.conf', 'connect_first_by = last-connected',
      'http.tracker_server_port = 80', '#include http.conf',
    ]);
    const { config, warnings } = loadClientConfig({ file });
    assert.deepEqual(warnings, []);
    assert.equal(config['http.anti_steal.check_token'], true);
    assert.equal(config['http.anti_steal.secret_key'], 'FastDFS1234567890');
    assert.equal(config.connect_first_by, 'last-connected');
    assert.equal(config.storage_ids_filename, join(dir, 'storage_ids.conf'));
  });

  test('check_token needs a secret key; tracker_server is required', () => {
    throwsConfig(
      () => loadClientConfig({ overrides: { tracker_server: 't', 'http.anti_steal.check_token': true } }),
      'command line: http.anti_steal.check_token = true: needs a non-empty http.anti_steal.secret_key',
    );
    throwsConfig(() => loadClientConfig(), /^client\.conf \(no conf file given\): missing required key tracker_server /);
  });
});

describe('sample files in conf/', () => {
  const dir = repoConfDir();
  // Values a sample must set to something usable; every other key shows the code default.
  const SAMPLE_VALUES: Record<string, Record<string, unknown>> = {
    'tracker.conf': { base_path: resolve('data/tracker') },
    'storage.conf': { base_path: resolve('data/storage'), group_name: 'group1', tracker_server: [{ hosts: ['127.0.0.1'], port: 22122 }] },
    'client.conf': { tracker_server: [{ hosts: ['127.0.0.1'], port: 22122 }] },
  };
  const DERIVED: Record<string, (c: Record<string, unknown>) => Record<string, unknown>> = {
    'tracker.conf': (c) => ({ min_buff_size: c['buff_size'], max_buff_size: c['buff_size'], slot_max_size: (c['trunk_file_size'] as number) / 8 }),
    'storage.conf': () => ({}),
    'client.conf': () => ({}),
  };
  const cases: Array<[string, Schema, (file: string) => { config: object; warnings: string[] }]> = [
    ['tracker.conf', TRACKER_KEYS, (file) => loadTrackerConfig({ file })],
    ['storage.conf', STORAGE_KEYS, (file) => loadStorageConfig({ file })],
    ['client.conf', CLIENT_KEYS, (file) => loadClientConfig({ file })],
  ];

  for (const [name, schema, load] of cases) {
    test(`${name} loads without warnings and matches the code defaults`, () => {
      const file = join(dir, name);
      const { config, warnings } = load(file);
      assert.deepEqual(warnings, []);
      const c = config as Record<string, unknown>;
      const expected = { ...DERIVED[name]!(c), ...SAMPLE_VALUES[name] };
      for (const [key, def] of Object.entries(schema)) {
        if (def.kind === 'ignored') continue;
        let want: unknown = key in expected ? expected[key] : def.default;
        if (key === 'storage_ids_filename') want = join(dir, def.default as string);
        if (want === undefined) continue;
        assert.deepEqual(c[key], want, `${name}: ${key}`);
      }
    });

    test(`${name} documents every key the code uses`, () => {
      const text = readFileSync(join(dir, name), 'utf8');
      for (const [key, def] of Object.entries(schema)) {
        if (def.kind === 'ignored') {
          assert.ok(text.includes(key), `${name} should mention the ignored key ${key}`);
          continue;
        }
        const line = new RegExp(`^#?${escape(key)} =`, 'm');
        assert.match(text, line, `${name} has no line for ${key}`);
        const commentAbove = new RegExp(`^# .*\\n(#[^\\n]*\\n)*#?${escape(key)} =`, 'm');
        assert.match(text, commentAbove, `${name}: ${key} needs a comment`);
      }
    });
  }

  test('storage.conf sample: store_path0 defaults to base_path', () => {
    const { config } = loadStorageConfig({ file: join(dir, 'storage.conf') });
    assert.deepEqual(config.store_paths, [resolve('data/storage')]);
  });

  test('storage_ids.conf sample parses', () => {
    const ids = loadStorageIds(join(dir, 'storage_ids.conf'));
    assert.deepEqual(ids.map((e) => [e.id, e.group, e.hosts, e.port, e.rw]), [
      ['100001', 'group1', ['127.0.0.1'], 23000, 'both'],
      ['100002', 'group1', ['127.0.0.1'], 23001, 'both'],
    ]);
    // the commented examples are valid too
    const text = readFileSync(join(dir, 'storage_ids.conf'), 'utf8').replace(/^#(1\d+)/gm, '$1');
    assert.equal(parseStorageIds(text, 'storage_ids.conf').length, 4);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
