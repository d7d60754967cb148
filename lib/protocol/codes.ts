// Command codes (PROTOCOL.md §1.2). Every response carries RESP.

export const CMD = {
  // storage-served
  REPORT_SERVER_ID: 9,
  UPLOAD_FILE: 11,
  DELETE_FILE: 12,
  SET_METADATA: 13,
  DOWNLOAD_FILE: 14,
  GET_METADATA: 15,
  SYNC_CREATE_FILE: 16,
  SYNC_DELETE_FILE: 17,
  SYNC_UPDATE_FILE: 18,
  SYNC_CREATE_LINK: 19,
  CREATE_LINK: 20,
  UPLOAD_SLAVE_FILE: 21,
  QUERY_FILE_INFO: 22,
  UPLOAD_APPENDER_FILE: 23,
  APPEND_FILE: 24,
  SYNC_APPEND_FILE: 25,
  FETCH_ONE_PATH_BINLOG: 26,
  TRUNK_ALLOC_SPACE: 27,
  TRUNK_ALLOC_CONFIRM: 28,
  TRUNK_FREE_SPACE: 29,
  TRUNK_SYNC_BINLOG: 30,
  TRUNK_GET_BINLOG_SIZE: 31,
  TRUNK_DELETE_BINLOG_MARKS: 32,
  TRUNK_TRUNCATE_BINLOG_FILE: 33,
  MODIFY_FILE: 34,
  SYNC_MODIFY_FILE: 35,
  TRUNCATE_FILE: 36,
  SYNC_TRUNCATE_FILE: 37,
  REGENERATE_APPENDER_FILENAME: 38,
  SYNC_RENAME_FILE: 40,
  // tracker-served
  TRACKER_JOIN_LEADER: 58,
  STORAGE_CHANGE_STATUS: 59,
  STORAGE_GET_MY_IP: 60,
  TRACKER_GET_SYS_FILES_START: 61,
  TRACKER_GET_SYS_FILES_END: 62,
  TRACKER_GET_ONE_SYS_FILE: 63,
  TRACKER_GET_STATUS: 64,
  TRACKER_PING_LEADER: 65,
  TRACKER_NOTIFY_NEXT_LEADER: 66,
  TRACKER_COMMIT_NEXT_LEADER: 67,
  TRACKER_NOTIFY_RESELECT_LEADER: 68,
  STORAGE_FETCH_STORAGE_IDS: 69,
  STORAGE_GET_SERVER_ID: 70,
  STORAGE_GET_STATUS: 71,
  STORAGE_FETCH_TRUNK_FID: 72,
  STORAGE_REPORT_TRUNK_FID: 73,
  STORAGE_REPORT_TRUNK_FREE: 74,
  STORAGE_PARAMETER_REQ: 75,
  STORAGE_REPORT_STATUS: 76,
  STORAGE_CHANGELOG_REQ: 77,
  STORAGE_REPORT_IP_CHANGED: 78,
  STORAGE_SYNC_DEST_QUERY: 79,
  STORAGE_JOIN: 81,
  QUIT: 82,
  STORAGE_BEAT: 83,
  STORAGE_REPORT_DISK_USAGE: 84,
  STORAGE_REPLICA_CHG: 85,
  STORAGE_SYNC_SRC_REQ: 86,
  STORAGE_SYNC_DEST_REQ: 87,
  STORAGE_SYNC_NOTIFY: 88,
  STORAGE_SYNC_REPORT: 89,
  SERVER_LIST_ONE_GROUP: 90,
  SERVER_LIST_ALL_GROUPS: 91,
  SERVER_LIST_STORAGE: 92,
  SERVER_DELETE_STORAGE: 93,
  SERVER_SET_TRUNK_SERVER: 94,
  SERVER_GET_LEADER: 95,
  SERVER_TRACKER_CLUSTER_STAT: 96,
  SERVER_STORAGE_CLUSTER_STAT: 97,
  SERVER_STORAGE_VOLUMN_STAT: 98,
  RESP: 100,
  SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE: 101,
  SERVICE_QUERY_FETCH_ONE: 102,
  SERVICE_QUERY_UPDATE: 103,
  SERVICE_QUERY_STORE_WITH_GROUP_ONE: 104,
  SERVICE_QUERY_FETCH_ALL: 105,
  SERVICE_QUERY_STORE_WITHOUT_GROUP_ALL: 106,
  SERVICE_QUERY_STORE_WITH_GROUP_ALL: 107,
  SERVER_DELETE_GROUP: 108,
  STORAGE_GET_GROUP_NAME: 109,
  ACTIVE_TEST: 111,
  /**
   * fdfs extension (issue: batch tooling): list the live files of a group from a storage's
   * binlog. FastDFS does not use this code, so C clients are unaffected.
   */
  FDFS_LIST_FILES: 120,
  /**
   * fdfs extension (issue 5, replication): a sync source tells a peer up to which second it holds
   * every file of the source (lib/storage/sync/codec.ts). Sent only to peers that accept it.
   */
  FDFS_SYNC_WATERMARK: 121,
  /**
   * fdfs extension (issue 5, monitoring): a storage's outgoing replication state, one entry per
   * peer — records and bytes of its binlog not yet pushed to it (lib/protocol/sync-status.ts).
   * Used by `fdfs list`; a C storage answers EINVAL (unknown command), read as "not available".
   */
  FDFS_SYNC_STATUS: 122,
} as const;

export type CommandName = keyof typeof CMD;

const NAMES = new Map<number, CommandName>(
  Object.entries(CMD).map(([n, c]) => [c, n as CommandName]),
);

export function commandName(code: number): string {
  return NAMES.get(code) ?? `CMD_${code}`;
}

/** Storage status values (§4.0). */
export const STORAGE_STATUS = {
  INIT: 0,
  WAIT_SYNC: 1,
  SYNCING: 2,
  IP_CHANGED: 3,
  DELETED: 4,
  OFFLINE: 5,
  ONLINE: 6,
  ACTIVE: 7,
  RECOVERY: 9,
  NONE: 99,
} as const;

export type StorageStatusName = keyof typeof STORAGE_STATUS;

const STATUS_NAMES = new Map<number, StorageStatusName>(
  Object.entries(STORAGE_STATUS).map(([n, c]) => [c, n as StorageStatusName]),
);

export function storageStatusName(code: number): string {
  return STATUS_NAMES.get(code) ?? `STATUS_${code}`;
}

/** Field sizes shared by every packet (§0). */
export const GROUP_NAME_LEN = 16;
export const STORAGE_ID_LEN = 16;
export const IP46_LEN = 46;
export const EXT_NAME_LEN = 6;
export const PREFIX_LEN = 16;
export const VERSION_LEN = 8;
export const HEADER_LEN = 10;
/** Largest remote file name the C code accepts (buffers of 128 bytes, §2.2). */
export const MAX_FILENAME_LEN = 127;

/** Version string we report in JOIN, LIST_STORAGE and cluster stats. */
export const FDFS_VERSION = '6.16.1';
