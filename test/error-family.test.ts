import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRNO, exitCodeOf, FdfsError, remoteText, toFdfsError, UsageError } from '../lib/protocol/errno.ts';
import { ConfigError, ValueError } from '../lib/config/errors.ts';
import { isPermanent, permanent } from '../lib/batch/scheduler.ts';
import { errorLine } from '../cli/common.ts';

// Issue 14: one error family. What a program reads from an error (errno, remote or local,
// retryable, subject, exit code) is a field, never a search in the message.

test('a server status is remote, worded from the (command, errno) table, and names the server', () => {
  const e = new FdfsError(ERRNO.ENOENT, undefined, { subject: 'group2', server: '127.0.0.1:22122', command: 'SERVICE_QUERY_STORE_WITH_GROUP_ONE' });
  assert.equal(e.remote, true);
  assert.equal(e.code, 'ENOENT');
  assert.equal(e.errno, 2);
  assert.equal(e.server, '127.0.0.1:22122');
  assert.equal(e.message, 'ENOENT: no such group (group2, from 127.0.0.1:22122)');
  assert.equal(e.retryable, true, 'an ENOENT may clear (a replica not synced yet)');
  assert.equal(new FdfsError('EINVAL', undefined, { server: 'x:1', command: 'UPLOAD_FILE' }).retryable, false);
  // No entry: the verb of the command and the errno's words, never the command's internal name.
  assert.equal(remoteText('DELETE_FILE', ERRNO.EBUSY), 'delete: resource busy');
  assert.equal(remoteText('DOWNLOAD_FILE', ERRNO.EINVAL), 'offset or length beyond the end of the file');
});

test('a local error is not remote; network failures are retryable, bad arguments are not', () => {
  const net = new FdfsError('ECONNREFUSED', 'cannot connect to tracker', { subject: '127.0.0.1:1' });
  assert.equal(net.remote, false);
  assert.equal(net.retryable, true);
  assert.equal(net.exitCode, 1);
  assert.equal(new FdfsError('EINVAL', 'invalid file ID').retryable, false);
  // The constructor of other branches keeps working: (errno, detail?, { subject, cause }).
  assert.equal(new FdfsError('EIO').message, 'EIO: input/output error');
});

test('retryable and fatal are the fields the batch scheduler reads', () => {
  const e = permanent(new FdfsError('EIO', 'CRC-32 mismatch'));
  assert.equal(e.retryable, false);
  assert.equal(isPermanent(e), true);
  assert.equal(isPermanent(new FdfsError('ETIMEDOUT')), false);
  assert.equal(new FdfsError('EIO', 'x', { fatal: true }).fatal, true);
});

test('usage and config errors are members with exit code 2 and their own one-line message', () => {
  const c = new ConfigError('storage.conf:12: heart_beat_interval = abc:\nexpected an integer ≥ 1', { file: 'storage.conf', line: 12 });
  assert.ok(c instanceof FdfsError);
  assert.equal(c.code, 'FDFS_ERR_CONFIG');
  assert.equal(c.errno, ERRNO.EINVAL);
  assert.equal(c.message, 'storage.conf:12: heart_beat_interval = abc: expected an integer ≥ 1');
  assert.equal(exitCodeOf(c), 2);
  assert.equal(errorLine(c), 'fdfs: storage.conf:12: heart_beat_interval = abc: expected an integer ≥ 1');
  const v = new ValueError('expected an integer ≥ 1');
  assert.ok(v instanceof FdfsError);
  assert.equal(v.message, 'expected an integer ≥ 1');
  const u = new UsageError('--tar needs a file name or -');
  assert.equal(exitCodeOf(u), 2);
  assert.equal(errorLine(u), 'fdfs: --tar needs a file name or -');
  assert.equal(exitCodeOf(new Error('boom')), 1);
});

test('a host name that does not resolve is said so, not ECONNREFUSED', () => {
  const sys = Object.assign(new Error('getaddrinfo ENOTFOUND nosuch.invalid'), { code: 'ENOTFOUND', hostname: 'nosuch.invalid' });
  const e = toFdfsError(sys, 'nosuch.invalid:22122');
  assert.equal(e.code, 'EHOSTUNREACH');
  assert.equal(e.message, 'EHOSTUNREACH: host name nosuch.invalid does not resolve (nosuch.invalid:22122)');
});
