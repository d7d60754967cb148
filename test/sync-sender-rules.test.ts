import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { CMD, GROUP_NAME_LEN } from '../lib/protocol/codes.ts';
import { ERRNO, FdfsError } from '../lib/protocol/errno.ts';
import { fixed, i64 } from '../lib/protocol/fields.ts';
import type { BinlogOp, BinlogRecord } from '../lib/storage/binlog.ts';
import type { LocatedFile } from '../lib/storage/handlers/common.ts';
import { SYNC_NO_CONTENT_STATUS, encodeSyncDelete, encodeSyncFile, encodeSyncPair, encodeSyncRange } from '../lib/storage/sync/codec.ts';
import type { Snapshot } from '../lib/storage/sync/content-snapshot.ts';
import { pushRecord } from '../lib/storage/sync/plan-runner.ts';
import { senderRule } from '../lib/storage/sync/rules/index.ts';
import type { AskPlan, LocalView, Plan, RuleState, SendPlan } from '../lib/storage/sync/sender-plan.ts';
import type { SyncChannel, SyncReply } from '../lib/storage/sync/sync-channel.ts';

// The sender rules of PROTOCOL.md §5.2–§5.6 as plans: a binlog record, what the rule knows about
// the peer and what is on the local disk go in; the request (command, fixed part, content) and
// what each reply status means come out. No network and no disk: the local view is a fake.

const GROUP = 'group1';
/** A name QUERY_FILE_INFO decodes (§3.8), and one it does not. */
const NAME = 'M00/00/00/fwAAA2sGnnGAQRZsAAAAEuY8FBE604.txt';
const SHORT = 'M00/00/00/a.txt';
const TS = 1_700_000_000;

type Entry = Buffer | { link: string; target: string } | 'dir';

/** A disk of logic names; `invalid` names cannot be located (the real view logs them). */
function disk(files: Record<string, Entry>, invalid: string[] = []): LocalView {
  const at = (f: LocatedFile) => files[f.logicName];
  const bytes = (f: LocatedFile): Buffer | null => {
    const e = at(f);
    if (e === undefined || e === 'dir') return null;
    if (Buffer.isBuffer(e)) return e;
    const t = files[e.target];
    return Buffer.isBuffer(t) ? t : null;
  };
  return {
    file: (name) => (invalid.includes(name) ? null : { logicName: name, path: `/store/${name}` } as LocatedFile),
    snapshot(f, offset = 0, length?): Snapshot | null {
      const b = bytes(f);
      if (!b) return null;
      if (length === undefined) return { size: b.length, content: { data: b, length: b.length } };
      if (offset + length > b.length) return null;
      return { size: length, content: { data: b.subarray(offset, offset + length), length } };
    },
    isFile: async (f) => Buffer.isBuffer(at(f)),
    exists: async (f) => at(f) !== undefined,
    linkTarget: async (f) => {
      const e = at(f);
      return e !== undefined && typeof e === 'object' && 'link' in e ? e.link : null;
    },
  };
}

function state(over: Partial<RuleState> = {}): RuleState {
  return { group: GROUP, peerHasFiles: false, peerCaps: 3, ...over };
}

function rec(op: BinlogOp, name = NAME, extra?: string): BinlogRecord {
  return extra === undefined ? { timestamp: TS, op, name } : { timestamp: TS, op, name, extra };
}

async function plan(r: BinlogRecord, local: LocalView, s = state()): Promise<Plan> {
  return senderRule(r.op)(r, s, local);
}

const DATA = Buffer.from('hello, replica\n');

describe('sender rules as plans (§5.2–§5.6)', () => {
  test('C, c and r: SYNC_CREATE_FILE with the whole file; EEXIST marks the peer as having files', async () => {
    const local = disk({ [NAME]: DATA });
    const expected: SendPlan = {
      kind: 'send', cmd: CMD.SYNC_CREATE_FILE, fixed: encodeSyncFile(GROUP, NAME, DATA.length, TS),
      content: { data: DATA, length: DATA.length }, name: NAME,
      replies: { 0: { done: DATA.length, peerHasFiles: false }, [ERRNO.EEXIST]: { done: 0, peerHasFiles: true } },
    };
    for (const op of ['C', 'c', 'r'] as const) assert.deepEqual(await plan(rec(op), local), expected, op);
  });

  test('create of a file gone here, or of an invalid name: nothing is sent', async () => {
    assert.deepEqual(await plan(rec('C'), disk({})), { kind: 'skip' });
    assert.deepEqual(await plan(rec('C'), disk({ [NAME]: DATA }, [NAME])), { kind: 'skip' });
  });

  test('create after an EEXIST: QUERY_FILE_INFO first, then no content, an update, or a plain create', async () => {
    const p = await plan(rec('C'), disk({ [NAME]: DATA }), state({ peerHasFiles: true }));
    assert.equal(p.kind, 'ask');
    const ask = p as AskPlan;
    assert.equal(ask.cmd, CMD.QUERY_FILE_INFO);
    assert.equal(ask.status, 1);
    assert.deepEqual(ask.fixed, Buffer.concat([fixed(GROUP, GROUP_NAME_LEN), Buffer.from(NAME, 'latin1')]));
    const info = (size: number): SyncReply => ({ status: 0, body: Buffer.concat([i64(size), i64(TS), Buffer.alloc(8)]) });

    // The peer has it at the same size: the create goes without content.
    assert.deepEqual(ask.next(info(DATA.length)), {
      kind: 'send', cmd: CMD.SYNC_CREATE_FILE, fixed: encodeSyncFile(GROUP, NAME, DATA.length, TS), status: SYNC_NO_CONTENT_STATUS, name: NAME,
      replies: { 0: { done: 0, peerHasFiles: false }, [ERRNO.EEXIST]: { done: 0, peerHasFiles: true } },
    });
    // Another size: the whole file as an update.
    assert.deepEqual(ask.next(info(DATA.length + 1)), {
      kind: 'send', cmd: CMD.SYNC_UPDATE_FILE, fixed: encodeSyncFile(GROUP, NAME, DATA.length, TS),
      content: { data: DATA, length: DATA.length }, name: NAME,
      replies: { 0: { done: DATA.length }, [ERRNO.EEXIST]: { done: 0, peerHasFiles: true } },
    });
    // It does not have it: a plain create.
    const plain = ask.next({ status: ERRNO.ENOENT, body: Buffer.alloc(0) }) as SendPlan;
    assert.equal(plain.cmd, CMD.SYNC_CREATE_FILE);
    assert.deepEqual(plain.content, { data: DATA, length: DATA.length });
  });

  test('create after an EEXIST of a name QUERY_FILE_INFO cannot decode: no question (it would close the connection)', async () => {
    const p = await plan(rec('C', SHORT), disk({ [SHORT]: DATA }), state({ peerHasFiles: true }));
    assert.equal(p.kind, 'send');
    assert.equal((p as SendPlan).cmd, CMD.SYNC_CREATE_FILE);
  });

  test('U and u: SYNC_UPDATE_FILE with the whole file; EEXIST counts as done', async () => {
    const expected: SendPlan = {
      kind: 'send', cmd: CMD.SYNC_UPDATE_FILE, fixed: encodeSyncFile(GROUP, NAME, DATA.length, TS),
      content: { data: DATA, length: DATA.length }, name: NAME,
      replies: { 0: { done: DATA.length }, [ERRNO.EEXIST]: { done: DATA.length } },
    };
    for (const op of ['U', 'u'] as const) assert.deepEqual(await plan(rec(op), disk({ [NAME]: DATA })), expected, op);
    assert.deepEqual(await plan(rec('U'), disk({})), { kind: 'skip' });
  });

  test('D and d: SYNC_DELETE_FILE once the name is gone here too; ENOENT is success', async () => {
    const expected: SendPlan = {
      kind: 'send', cmd: CMD.SYNC_DELETE_FILE, fixed: encodeSyncDelete(GROUP, NAME, TS), name: NAME,
      replies: { 0: { done: 0 }, [ERRNO.ENOENT]: { done: 0 } },
    };
    for (const op of ['D', 'd'] as const) assert.deepEqual(await plan(rec(op), disk({})), expected, op);
    assert.deepEqual(await plan(rec('D'), disk({ [NAME]: DATA })), { kind: 'skip' }, 'created again since: not deleted');
    assert.deepEqual(await plan(rec('D'), disk({ [NAME]: { link: 'x', target: 'gone' } })), { kind: 'skip' }, 'a dangling link is there');
  });

  test('A and M: the range from the current file; ENOENT resends the whole file', async () => {
    const local = disk({ [NAME]: DATA });
    for (const [op, cmd] of [['A', CMD.SYNC_APPEND_FILE], ['M', CMD.SYNC_MODIFY_FILE]] as const) {
      assert.deepEqual(await plan(rec(op, NAME, '7 7'), local), {
        kind: 'send', cmd, fixed: encodeSyncRange(GROUP, NAME, 7, 7, TS), content: { data: DATA.subarray(7, 14), length: 7 }, name: NAME,
        replies: { 0: { done: 7 }, [ERRNO.EEXIST]: { done: 0 }, [ERRNO.ENOENT]: { resend: 'update' } },
      }, op);
    }
  });

  test('A past the end of the local file (it shrank since): the whole file goes as an update (deviation from C)', async () => {
    const p = await plan(rec('A', NAME, `10 ${DATA.length}`), disk({ [NAME]: DATA })) as SendPlan;
    assert.equal(p.cmd, CMD.SYNC_UPDATE_FILE);
    assert.deepEqual(p.fixed, encodeSyncFile(GROUP, NAME, DATA.length, TS));
    assert.deepEqual(await plan(rec('M', NAME, '10 100'), disk({})), { kind: 'skip' }, 'gone here: nothing');
  });

  test('A, M and T without their two numbers: skipped with a warning', async () => {
    for (const op of ['A', 'M', 'T'] as const) {
      const p = await plan(rec(op, NAME, 'x'), disk({ [NAME]: DATA }));
      assert.equal(p.kind, 'skip');
      assert.match((p as { warn?: string }).warn ?? '', /lacks its two numbers/, op);
    }
  });

  test('T: SYNC_TRUNCATE_FILE without content while the file is here; ENOENT resends the whole file', async () => {
    assert.deepEqual(await plan(rec('T', NAME, '15 4'), disk({ [NAME]: DATA })), {
      kind: 'send', cmd: CMD.SYNC_TRUNCATE_FILE, fixed: encodeSyncRange(GROUP, NAME, 15, 4, TS), name: NAME,
      replies: { 0: { done: 0 }, [ERRNO.EEXIST]: { done: 0 }, [ERRNO.ENOENT]: { resend: 'update' } },
    });
    assert.deepEqual(await plan(rec('T', NAME, '15 4'), disk({})), { kind: 'skip' });
    assert.deepEqual(await plan(rec('T', NAME, '15 4'), disk({ [NAME]: 'dir' })), { kind: 'skip' }, 'not a regular file');
  });

  test('L and l to an fdfs peer: SYNC_CREATE_LINK with the target of the record, else of the local link', async () => {
    const LINK = 'M00/00/01/link.txt';
    const local = disk({ [LINK]: { link: NAME, target: NAME }, [NAME]: DATA });
    const expected = (target: string): SendPlan => ({
      kind: 'send', cmd: CMD.SYNC_CREATE_LINK, fixed: encodeSyncPair(GROUP, LINK, target, TS), name: LINK,
      replies: { 0: { done: 0 }, [ERRNO.ENOENT]: { done: 0 }, [ERRNO.EEXIST]: { done: 0 } },
    });
    assert.deepEqual(await plan(rec('L', LINK, 'M00/00/00/other.txt'), local), expected('M00/00/00/other.txt'));
    assert.deepEqual(await plan(rec('l', LINK), local), expected(NAME));
    assert.deepEqual(await plan(rec('L', LINK, NAME), disk({})), { kind: 'skip' }, 'the link is gone here');
    const outside = await plan(rec('L', LINK), disk({ [LINK]: { link: '', target: NAME }, [NAME]: DATA }));
    assert.equal(outside.kind, 'skip');
    assert.match((outside as { warn?: string }).warn ?? '', /cannot tell the target/);
  });

  test('L to a C peer (no capabilities): the link goes as a create of its target\'s bytes (§5.5 deviation)', async () => {
    const LINK = 'M00/00/01/link.txt';
    const local = disk({ [LINK]: { link: NAME, target: NAME }, [NAME]: DATA });
    assert.deepEqual(await plan(rec('L', LINK, NAME), local, state({ peerCaps: 0 })), {
      kind: 'send', cmd: CMD.SYNC_CREATE_FILE, fixed: encodeSyncFile(GROUP, LINK, DATA.length, TS),
      content: { data: DATA, length: DATA.length }, name: LINK,
      replies: { 0: { done: DATA.length, peerHasFiles: false }, [ERRNO.EEXIST]: { done: 0, peerHasFiles: true } },
    });
  });

  test('R: SYNC_RENAME_FILE; ENOENT falls back to creating the new name', async () => {
    const OLD = 'M00/00/00/old.txt';
    assert.deepEqual(await plan(rec('R', NAME, OLD), disk({})), {
      kind: 'send', cmd: CMD.SYNC_RENAME_FILE, fixed: encodeSyncPair(GROUP, NAME, OLD, TS), name: NAME,
      replies: { 0: { done: 0 }, [ERRNO.EEXIST]: { done: 0 }, [ERRNO.ENOENT]: { resend: 'create' } },
    });
    assert.deepEqual(await plan(rec('R', NAME), disk({})), { kind: 'skip' }, 'no old name');
  });

  test('a, m and t (replicas of appends, never pushed on): no request', async () => {
    for (const op of ['a', 'm', 't'] as const) assert.deepEqual(await plan(rec(op, NAME, '0 1'), disk({ [NAME]: DATA })), { kind: 'skip' }, op);
  });
});

/** A stand-in connection: answers each request with the next status in `answers`. */
function fakeChannel(answers: Array<number | SyncReply>) {
  const sent: Array<{ cmd: number; status: number; content: unknown }> = [];
  const answer = (): SyncReply => {
    const a = answers.shift();
    assert.ok(a !== undefined, 'no more answers');
    return typeof a === 'number' ? { status: a, body: Buffer.alloc(0) } : a;
  };
  const ch = {
    address: '127.0.0.9:23000',
    request(cmd: number, _fixed: Buffer, opts: { status?: number; content?: unknown } = {}) {
      sent.push({ cmd, status: opts.status ?? 0, content: opts.content });
      return { sent: Promise.resolve(), reply: Promise.resolve(answer()) };
    },
    call(cmd: number, fixedPart: Buffer, opts: { status?: number } = {}) {
      return this.request(cmd, fixedPart, opts).reply;
    },
  };
  return { ch: ch as unknown as SyncChannel, sent };
}

describe('carrying out a plan (plan-runner.ts)', () => {
  const run = (s: RuleState, local: LocalView, warns: string[] = []) => ({ state: s, local, warn: (t: string) => warns.push(t) });

  test('the reply status picks the outcome: bytes taken, and the peer-has-files flag', async () => {
    const s = state();
    const { ch, sent } = fakeChannel([ERRNO.EEXIST, 0]);
    let queued = 0;
    assert.equal(await pushRecord(ch, rec('C'), run(s, disk({ [NAME]: DATA })), () => queued++), 0);
    assert.equal(s.peerHasFiles, true);
    assert.equal(queued, 1);
    // Next create asks first; the peer has another size: update with content.
    const { ch: ch2, sent: sent2 } = fakeChannel([{ status: 0, body: i64(1) }, 0]);
    assert.equal(await pushRecord(ch2, rec('C'), run(s, disk({ [NAME]: DATA })), () => {}), DATA.length);
    assert.deepEqual(sent2.map((x) => x.cmd), [CMD.QUERY_FILE_INFO, CMD.SYNC_UPDATE_FILE]);
    assert.equal(s.peerHasFiles, true, 'an update does not clear it');
    assert.deepEqual(sent.map((x) => x.cmd), [CMD.SYNC_CREATE_FILE]);
  });

  test('ENOENT to an append resends the whole file; ENOENT to a rename resends a create', async () => {
    const { ch, sent } = fakeChannel([ERRNO.ENOENT, 0]);
    assert.equal(await pushRecord(ch, rec('A', NAME, '0 5'), run(state(), disk({ [NAME]: DATA })), () => {}), DATA.length);
    assert.deepEqual(sent.map((x) => x.cmd), [CMD.SYNC_APPEND_FILE, CMD.SYNC_UPDATE_FILE]);
    const { ch: ch2, sent: sent2 } = fakeChannel([ERRNO.ENOENT, 0]);
    assert.equal(await pushRecord(ch2, rec('R', NAME, 'M00/00/00/old.txt'), run(state(), disk({ [NAME]: DATA })), () => {}), DATA.length);
    assert.deepEqual(sent2.map((x) => x.cmd), [CMD.SYNC_RENAME_FILE, CMD.SYNC_CREATE_FILE]);
  });

  test('a status the rule does not expect fails the record with that errno', async () => {
    const { ch } = fakeChannel([ERRNO.ENOSPC]);
    await assert.rejects(pushRecord(ch, rec('U'), run(state(), disk({ [NAME]: DATA })), () => {}), (err: unknown) => {
      assert.ok(err instanceof FdfsError);
      assert.equal(err.code, 'ENOSPC');
      assert.match(err.message, /SYNC_UPDATE_FILE refused by 127\.0\.0\.9:23000/);
      assert.match(err.message, new RegExp(NAME));
      return true;
    });
  });

  test('a skipped record sends nothing, is queued at once, and its warning is logged', async () => {
    const { ch, sent } = fakeChannel([]);
    const warns: string[] = [];
    let queued = false;
    assert.equal(await pushRecord(ch, rec('T', NAME, ''), run(state(), disk({ [NAME]: DATA }), warns), () => { queued = true; }), 0);
    assert.equal(sent.length, 0);
    assert.equal(queued, true);
    assert.equal(warns.length, 1);
  });
});
