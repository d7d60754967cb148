import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { antiStealToken, checkToken, signFileId } from '../lib/http/token.ts';
import { parseRange } from '../lib/http/range.ts';
import { parseFileUrl } from '../lib/http/url-path.ts';
import { contentDisposition } from '../lib/http/file-response.ts';

// The pure parts of HTTP serving: the §10 token formula, Range parsing, URL checks.

const NAME = 'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg';

test('token = md5(name without group + secret + decimal ts), lower-case hex (PROTOCOL.md §10)', () => {
  const want = createHash('md5').update(`${NAME}FastDFS12345678901700000000`).digest('hex');
  assert.equal(antiStealToken(NAME, 'FastDFS1234567890', 1700000000), want);
  assert.deepEqual(signFileId(`group1/${NAME}`, 'FastDFS1234567890', 1700000000), { token: want, ts: 1700000000 });
  const base = { logicName: NAME, group: 'group1', secretKey: 'FastDFS1234567890', ttl: 600, now: 1700000300 };
  assert.equal(checkToken({ ...base, token: want, ts: '1700000000' }), 'ok');
  assert.equal(checkToken({ ...base, token: want.toUpperCase(), ts: '1700000000' }), 'ok');
  assert.equal(checkToken({ ...base, token: want, ts: '1700000000', now: 1700000601 }), 'ETIMEDOUT');
  assert.equal(checkToken({ ...base, token: want, ts: '1700000001' }), 'EPERM');
  assert.equal(checkToken({ ...base, token: want.slice(1), ts: '1700000000' }), 'EINVAL');
  assert.equal(checkToken({ ...base, token: null, ts: '1700000000' }), 'EINVAL');
  assert.equal(checkToken({ ...base, token: want, ts: 'abc' }), 'EINVAL');
  // ts = 0 never expires; fdfs_test's tokens over group/name are accepted.
  assert.equal(checkToken({ ...base, token: antiStealToken(NAME, 'FastDFS1234567890', 0), ts: '0', now: 2e9 }), 'ok');
  assert.equal(checkToken({ ...base, token: antiStealToken(`group1/${NAME}`, 'FastDFS1234567890', 1700000000), ts: '1700000000' }), 'ok');
});

test('Range parsing (RFC 9110 §14)', () => {
  assert.equal(parseRange(undefined, 100), null);
  assert.equal(parseRange('items=0-1', 100), null);
  assert.deepEqual(parseRange('bytes=0-9', 100), [{ start: 0, end: 9 }]);
  assert.deepEqual(parseRange('bytes=90-200', 100), [{ start: 90, end: 99 }]);
  assert.deepEqual(parseRange('bytes=-10', 100), [{ start: 90, end: 99 }]);
  assert.deepEqual(parseRange('bytes=-500', 100), [{ start: 0, end: 99 }]);
  assert.deepEqual(parseRange('bytes=95-', 100), [{ start: 95, end: 99 }]);
  assert.deepEqual(parseRange('bytes=0-0, 5-6', 100), [{ start: 0, end: 0 }, { start: 5, end: 6 }]);
  assert.deepEqual(parseRange('bytes=0-1, 500-600', 100), [{ start: 0, end: 1 }]);
  for (const bad of ['bytes=100-', 'bytes=5-1', 'bytes=a-b', 'bytes=-', 'bytes=', 'garbage', 'bytes=-0']) {
    assert.equal(parseRange(bad, 100), 'unsatisfiable', bad);
  }
  assert.equal(parseRange(`bytes=${Array.from({ length: 33 }, (_, i) => `${i}-${i}`).join(',')}`, 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
});

test('file URLs: group split, hostile paths refused with EINVAL or ENOENT', () => {
  assert.deepEqual(parseFileUrl(`/group1/${NAME}`, true), { group: 'group1', logicName: NAME });
  assert.deepEqual(parseFileUrl(`/${NAME}`, false), { group: '', logicName: NAME });
  assert.deepEqual(parseFileUrl('/group1/M00/00/00/a%20b.jpg', true), { group: 'group1', logicName: 'M00/00/00/a b.jpg' });
  const code = (p: string) => { try { parseFileUrl(p, true); return 'ok'; } catch (e) { return (e as { code: string }).code; } };
  for (const p of ['/group1/M00/00/../../x', '/group1/M00/%2e%2e/00/x', '/group1/M00%2F00/00/x', '/group1/M00/00/00/x%00',
    '/group1/M00/00/00/a\\b', '/group1/M00/00/00/%zz', `/group1/${'a'.repeat(200)}`, '/group1//M00', 'group1/M00', '/group1/./M00']) {
    assert.equal(code(p), 'EINVAL', p);
  }
  assert.equal(code('/group1'), 'ENOENT');
});

test('Content-Disposition keeps a safe ASCII name and the UTF-8 one', () => {
  assert.equal(contentDisposition('a "b".jpg'), `attachment; filename="a _b_.jpg"; filename*=UTF-8''a%20%22b%22.jpg`);
  assert.equal(contentDisposition('résumé\r\n.pdf'), `attachment; filename="r_sum___.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%0D%0A.pdf`);
});
