import type { Buffer } from 'node:buffer';
import type { BinlogRecord } from '../binlog.ts';
import type { LocatedFile } from '../handlers/common.ts';
import type { Content, Snapshot } from './content-snapshot.ts';
import type { SyncReply } from './sync-channel.ts';

// What a sender rule (rules/*.ts, PROTOCOL.md §5.2–§5.6) decides for one binlog record: a plan,
// plain data that plan-runner.ts carries out on a sync connection. Rules read this storage's files
// (through LocalView) but never the network, so each is tested as "record and state ⇒ plan".

/** What the sender does with one reply status. */
export type ReplyAction =
  /** The record is done; `done` content bytes count as taken by the peer (success_sync_out_bytes). */
  | { done: number; peerHasFiles?: boolean }
  /** Send the record again by another rule, from the file as it is now. */
  | { resend: 'update' | 'create' };

/** Nothing to send (the file is gone here, or the record cannot be synced: `warn` says why). */
export interface SkipPlan {
  kind: 'skip';
  warn?: string;
}

/** One request; a reply status missing from `replies` fails the record, and the session with it. */
export interface SendPlan {
  kind: 'send';
  cmd: number;
  fixed: Buffer;
  /** Header status byte (SYNC_NO_CONTENT_STATUS: a create whose content the peer has). */
  status?: number;
  content?: Content;
  replies: Readonly<Record<number, ReplyAction>>;
  /** The file named in an error. */
  name: string;
}

/** A question first (§5.2 QUERY_FILE_INFO after an EEXIST); `next` gives the plan once it is answered. */
export interface AskPlan {
  kind: 'ask';
  cmd: number;
  fixed: Buffer;
  status: number;
  next(reply: SyncReply): Plan;
}

export type Plan = SkipPlan | SendPlan | AskPlan;

/** What a rule knows about the peer (PeerSync keeps it; reply actions update peerHasFiles). */
export interface RuleState {
  readonly group: string;
  /** §5.2: after an EEXIST, ask the peer before sending a file again. */
  peerHasFiles: boolean;
  /** SYNC_CAP bits the peer announced (0: a C storage), null before its first answer. */
  peerCaps: number | null;
}

/**
 * This storage's files as the rules see them (local-files.ts; a fake in unit tests), addressed as
 * the storage engine addresses them (a located logic name: lib/storage/engine FileRef).
 */
export interface LocalView {
  /** A logic name of our binlog located, or null when no file can have it (an invalid name is logged). */
  file(name: string): LocatedFile | null;
  /** Content-snapshot.ts snapshot(): the bytes to send, or null when missing or too short. */
  snapshot(f: LocatedFile, offset?: number, length?: number): Snapshot | null;
  /** A regular file is there. */
  isFile(f: LocatedFile): Promise<boolean>;
  /** Anything is there (lstat: a dangling link counts). */
  exists(f: LocatedFile): Promise<boolean>;
  /** The logic name a symbolic link points to ('' when outside the store paths), null when it is no link. */
  linkTarget(f: LocatedFile): Promise<string | null>;
}

export type SenderRule = (rec: BinlogRecord, state: Readonly<RuleState>, local: LocalView) => Plan | Promise<Plan>;

export const SKIP: SkipPlan = Object.freeze({ kind: 'skip' });

export function skip(warn?: string): SkipPlan {
  return warn === undefined ? SKIP : { kind: 'skip', warn };
}

/** The two numbers of an A/M/T record (§7.2: "<offset> <length>", "<old size> <new size>"), or null. */
export function rangeNumbers(r: BinlogRecord): [number, number] | null {
  const m = /^(\d+) (\d+)$/.exec(r.extra ?? '');
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function lacksNumbers(r: BinlogRecord): SkipPlan {
  return skip(`binlog record ${r.op} ${r.name} lacks its two numbers (${JSON.stringify(r.extra ?? '')}); not synced`);
}
