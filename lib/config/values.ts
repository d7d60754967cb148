/**
 * Value syntaxes of FastDFS conf files, and the typed "value types" the schema tables are built
 * from. Pure functions: no fs, no sockets.
 *
 * The parsers are deliberately stricter than libfastcommon's (which uses atoi/strtol and treats
 * every unknown boolean word as false): a value FastDFS would silently misread is an error here,
 * with a message saying what is allowed.
 */
import { isIP, isIPv6 } from 'node:net';
import { ValueError } from './errors.ts';

export { ValueError } from './errors.ts';

// ---------------------------------------------------------------------------------------------
// Plain parsers
// ---------------------------------------------------------------------------------------------

const INT_RE = /^[+-]?\d+$/;

function describeIntRange(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `an integer between ${min} and ${max}`;
  if (min !== undefined) return `an integer ≥ ${min}`;
  if (max !== undefined) return `an integer ≤ ${max}`;
  return 'an integer';
}

/** Decimal integer, optionally bounded. Throws ValueError "expected an integer ≥ 1" etc. */
export function parseInteger(text: string, min?: number, max?: number): number {
  const t = text.trim();
  const n = INT_RE.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || (min !== undefined && n < min) || (max !== undefined && n > max)) {
    throw new ValueError(`expected ${describeIntRange(min, max)}`);
  }
  return n;
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);
const BOOL_ALLOWED = 'true or false (also yes/no, on/off, 1/0)';

/** FastDFS booleans: true/false, yes/no, on/off, 1/0, case-insensitive. */
export function parseBool(text: string): boolean {
  const t = text.trim().toLowerCase();
  if (TRUE_WORDS.has(t)) return true;
  if (FALSE_WORDS.has(t)) return false;
  throw new ValueError(`expected ${BOOL_ALLOWED}`);
}

const UNIT: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const BYTES_RE = /^(\d+)\s*(?:([KMGT])B?|B)?$/i;
const BYTES_ALLOWED = 'a size such as 256KB, 64MB or 1G (K/M/G/T, B optional; plain number = bytes)';

/**
 * Byte sizes as libfastcommon's parse_bytes() reads them: a number with an optional K/M/G/T unit
 * (powers of 1024, case-insensitive, a trailing B allowed: `256KB`, `64m`, `1G`); no unit = bytes.
 */
export function parseBytes(text: string): number {
  const m = BYTES_RE.exec(text.trim());
  const n = m ? Number(m[1]) * UNIT[(m[2] ?? '').toUpperCase()]! : NaN;
  if (!Number.isSafeInteger(n)) throw new ValueError(`expected ${BYTES_ALLOWED}`);
  return n;
}

/** 262144 → "256KB", 67108864 → "64MB", 1000 → "1000": the form used in conf files. */
export function formatBytes(n: number): string {
  for (const [suffix, unit] of [['TB', 1024 ** 4], ['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) {
    if (n !== 0 && n % unit === 0) return `${n / unit}${suffix}`;
  }
  return String(n);
}

/** A local time of day, as used by sync_start_time, compress_binlog_time, trunk_*_time_base. */
export interface TimeOfDay {
  hour: number;
  minute: number;
}

const TIME_RE = /^(\d{1,2}):(\d{1,2})$/;
const TIME_ALLOWED = 'a time of day HH:MM between 00:00 and 23:59';

export function parseTimeOfDay(text: string): TimeOfDay {
  const m = TIME_RE.exec(text.trim());
  const hour = m ? Number(m[1]) : NaN;
  const minute = m ? Number(m[2]) : NaN;
  if (!(hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59)) throw new ValueError(`expected ${TIME_ALLOWED}`);
  return { hour, minute };
}

/** {hour: 2, minute: 0} → "02:00" (the form PARAMETER_REQ sends, PROTOCOL.md §4.2). */
export function formatTimeOfDay(t: TimeOfDay): string {
  return `${String(t.hour).padStart(2, '0')}:${String(t.minute).padStart(2, '0')}`;
}

/**
 * reserved_storage_space (PROTOCOL.md §9.1, §8.1): either an absolute size, kept in whole MB as
 * the tracker does (`1024MB`, `10G`; a plain number is bytes), or a ratio of the total space
 * (`10%`, `20.5%`). `text` is the value as written.
 */
export type ReservedSpace =
  | { kind: 'mb'; mb: number; text: string }
  | { kind: 'ratio'; ratio: number; text: string };

const RESERVED_ALLOWED =
  'a size such as 1024MB or 10G (plain number = bytes), or a percentage above 0 and below 100 such as 10%';

export function parseReservedSpace(text: string): ReservedSpace {
  const t = text.trim();
  if (t.endsWith('%')) {
    const num = t.slice(0, -1).trim();
    const pct = /^\d+(\.\d+)?$/.test(num) ? Number(num) : NaN;
    // fdfs_parse_storage_reserved_space: "value must > 0 and < 100"
    if (!(pct > 0 && pct < 100)) throw new ValueError(`expected ${RESERVED_ALLOWED}`);
    return { kind: 'ratio', ratio: pct / 100, text: t };
  }
  let bytes: number;
  try {
    bytes = parseBytes(t);
  } catch {
    throw new ValueError(`expected ${RESERVED_ALLOWED}`);
  }
  return { kind: 'mb', mb: Math.floor(bytes / 1024 ** 2), text: t };
}

/**
 * The form the C tracker prints (fdfs_storage_reserved_space_to_string) and sends in
 * STORAGE_PARAMETER_REQ (§4.2): `1024MB` or `20.00%`.
 */
export function formatReservedSpace(r: ReservedSpace): string {
  return r.kind === 'mb' ? `${r.mb}MB` : `${(r.ratio * 100).toFixed(2)}%`;
}

/** One `tracker_server` (or storage_ids.conf address) entry: 1 or 2 hosts sharing one port. */
export interface HostPort {
  hosts: string[];
  port: number;
}

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;
const HOST_PORT_ALLOWED = 'expected host[,host2][:port] (IPv6 in brackets, e.g. [::1]:22122)';

/** FastDFS keeps at most two addresses per server (FDFS_MULTI_IP_MAX_COUNT). */
export const MULTI_IP_MAX = 2;

function parsePort(text: string): number {
  const t = text.trim();
  const n = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new ValueError(`port "${t}" is not an integer between 1 and 65535`);
  return n;
}

/**
 * Parses `host[,host2][:port]` as FastDFS conf files write servers (tracker_server, storage_ids.conf):
 *
 *     127.0.0.1:22122          → { hosts: ['127.0.0.1'], port: 22122 }
 *     tracker1                 → { hosts: ['tracker1'], port: defaultPort }
 *     10.0.0.1,122.2.3.4:22122 → two addresses of one server (inner, outer), one port
 *     [::1]:22122   [::1]      → IPv6 in brackets
 *     [fe80::1,2409::2]:22122  → the whole list in brackets when any address is IPv6 (§4.13)
 *
 * An unbracketed value whose comma-separated parts are all IPv6 addresses (`::1`) is taken as
 * addresses without a port: IPv6 needs brackets to carry a port. Host names are not resolved.
 * Throws ValueError.
 */
export function parseHostPort(text: string, defaultPort: number): HostPort {
  const t = text.trim();
  if (t === '') throw new ValueError(HOST_PORT_ALLOWED);
  let hostList: string;
  let port = defaultPort;
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    if (close < 0) throw new ValueError(`missing "]": ${HOST_PORT_ALLOWED}`);
    hostList = t.slice(1, close);
    const rest = t.slice(close + 1);
    if (rest.startsWith(':')) port = parsePort(rest.slice(1));
    else if (rest !== '') throw new ValueError(HOST_PORT_ALLOWED);
  } else if (!t.includes(':') || t.split(',').every((h) => isIPv6(h.trim()))) {
    hostList = t;
  } else {
    const colon = t.lastIndexOf(':');
    hostList = t.slice(0, colon);
    port = parsePort(t.slice(colon + 1));
  }
  const hosts = hostList.split(',').map((h) => h.trim());
  if (hosts.length > MULTI_IP_MAX) throw new ValueError(`at most ${MULTI_IP_MAX} addresses per server: ${HOST_PORT_ALLOWED}`);
  for (const h of hosts) {
    if (h === '') throw new ValueError(`empty host: ${HOST_PORT_ALLOWED}`);
    if (isIP(h) === 0 && !HOSTNAME_RE.test(h)) throw new ValueError(`invalid host "${h}": ${HOST_PORT_ALLOWED}`);
  }
  if (hosts.length === 2 && hosts[0] === hosts[1]) throw new ValueError(`the two addresses are the same: ${HOST_PORT_ALLOWED}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ValueError(`port ${port} is not an integer between 1 and 65535`);
  return { hosts, port };
}

/**
 * `host:port`, with IPv6 in brackets (`[::1]:22122`). Given two hosts, writes FastDFS's dual form
 * `ip1,ip2:port`, bracketing the whole list when any address is IPv6 (§4.13).
 */
export function formatHostPort(host: string | readonly string[], port: number): string {
  const hosts = typeof host === 'string' ? [host] : host;
  const list = hosts.join(',');
  return hosts.some((h) => h.includes(':')) ? `[${list}]:${port}` : `${list}:${port}`;
}

/** Group names: 1..16 characters of [A-Za-z0-9] (PROTOCOL.md §0, fdfs_validate_group_name). */
export function isValidGroupName(name: string): boolean {
  return /^[A-Za-z0-9]{1,16}$/.test(name);
}

/** Storage server ids: decimal 1..16777215 without leading zeros (§0). */
export function isValidStorageId(id: string): boolean {
  return /^[1-9]\d{0,7}$/.test(id) && Number(id) <= 16777215;
}

// ---------------------------------------------------------------------------------------------
// Value types: what the schema tables are made of
// ---------------------------------------------------------------------------------------------

/**
 * How one key's value is read. `parse` reads conf-file text; `accept` takes a command-line override
 * that may already be typed (number, boolean, object) or still a string; `format` writes the value
 * back in conf syntax (docs, sample files, messages). parse/accept throw ValueError.
 */
export interface ValueType<T> {
  /** Short type name for documentation: 'int', 'bool', 'bytes', 'time', ... */
  readonly name: string;
  /** What is allowed, phrased to follow "expected ": "an integer ≥ 1". */
  readonly allowed: string;
  parse(text: string): T;
  accept(value: unknown): T;
  format(value: T): string;
}

function fail(allowed: string): never {
  throw new ValueError(`expected ${allowed}`);
}

function acceptVia<T>(parse: (text: string) => T, allowed: string, typed: (value: unknown) => T | undefined) {
  return (value: unknown): T => {
    if (typeof value === 'string') return parse(value);
    const v = typed(value);
    if (v === undefined) fail(allowed);
    return v;
  };
}

/**
 * A value type whose only typed override is a number, read as its decimal text: an option yargs
 * parsed as a number must mean what the same digits mean in a conf file.
 */
function textType<T>(name: string, allowed: string, parse: (text: string) => T, format: (value: T) => string): ValueType<T> {
  return {
    name,
    allowed,
    parse,
    accept: acceptVia(parse, allowed, (v) => (typeof v === 'number' ? parse(String(v)) : undefined)),
    format,
  };
}

export interface IntOptions {
  min?: number;
  max?: number;
}

/** Decimal integer; seconds and milliseconds are ints too (the unit is in the key's doc). */
export function intType(opts: IntOptions = {}): ValueType<number> {
  const allowed = describeIntRange(opts.min, opts.max);
  return textType('int', allowed, (text) => parseInteger(text, opts.min, opts.max), String);
}

export function boolType(): ValueType<boolean> {
  return {
    name: 'bool',
    allowed: BOOL_ALLOWED,
    parse: parseBool,
    accept: acceptVia(parseBool, BOOL_ALLOWED, (v) =>
      typeof v === 'boolean' ? v : v === 0 || v === 1 ? v === 1 : undefined),
    format: String,
  };
}

export interface StringOptions {
  /** Allow the empty string (default true: FastDFS reads `key =` as ""). */
  allowEmpty?: boolean;
  /** Extra check of a non-empty value; return false to reject. */
  check?: (value: string) => boolean;
  /** What is allowed, when `check` or `allowEmpty: false` restrict it. */
  allowed?: string;
}

export function stringType(opts: StringOptions = {}): ValueType<string> {
  const allowed = opts.allowed ?? (opts.allowEmpty === false ? 'a non-empty value' : 'any text');
  const parse = (text: string): string => {
    const t = text.trim();
    if (t === '' ? opts.allowEmpty === false : opts.check !== undefined && !opts.check(t)) fail(allowed);
    return t;
  };
  return textType('string', allowed, parse, (v) => v);
}

export interface BytesOptions {
  min?: number;
  max?: number;
}

/** Byte size (`256KB`, `64MB`, `1G`, plain number = bytes); the value is a number of bytes. */
export function bytesType(opts: BytesOptions = {}): ValueType<number> {
  const range =
    opts.min !== undefined && opts.max !== undefined
      ? ` between ${formatBytes(opts.min)} and ${formatBytes(opts.max)}`
      : opts.min !== undefined
        ? ` ≥ ${formatBytes(opts.min)}`
        : opts.max !== undefined
          ? ` ≤ ${formatBytes(opts.max)}`
          : '';
  const allowed = `${BYTES_ALLOWED}${range}`;
  const check = (n: number): number => {
    if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) fail(allowed);
    return n;
  };
  const parse = (text: string): number => {
    try {
      return check(parseBytes(text));
    } catch {
      return fail(allowed);
    }
  };
  return {
    name: 'bytes',
    allowed,
    parse,
    accept: acceptVia(parse, allowed, (v) =>
      typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? check(v) : undefined),
    format: formatBytes,
  };
}

export function timeOfDayType(): ValueType<TimeOfDay> {
  return {
    name: 'time',
    allowed: TIME_ALLOWED,
    parse: parseTimeOfDay,
    accept: acceptVia(parseTimeOfDay, TIME_ALLOWED, (v) => {
      if (typeof v !== 'object' || v === null) return undefined;
      const { hour, minute } = v as Partial<TimeOfDay>;
      return typeof hour === 'number' && typeof minute === 'number'
        ? parseTimeOfDay(`${hour}:${minute}`)
        : undefined;
    }),
    format: formatTimeOfDay,
  };
}

/**
 * One of a fixed set of words, matched case-insensitively and returned in the canonical spelling.
 * `aliases` maps further accepted spellings (lower case) to a canonical value.
 */
export function enumType<const V extends string>(values: readonly V[], aliases: Readonly<Record<string, V>> = {}): ValueType<V> {
  const byLower = new Map<string, V>(values.map((v) => [v.toLowerCase(), v]));
  for (const [alias, v] of Object.entries(aliases)) byLower.set(alias.toLowerCase(), v);
  const allowed = `one of: ${values.join(', ')}`;
  const parse = (text: string): V => byLower.get(text.trim().toLowerCase()) ?? fail(allowed);
  return { name: 'enum', allowed, parse, accept: acceptVia(parse, allowed, () => undefined), format: (v) => v };
}

/** One of a few integer codes, e.g. store_lookup 0/1/2. `labels` documents each code. */
export function intEnumType<const V extends number>(values: readonly V[], labels: readonly string[] = []): ValueType<V> {
  const allowed = `one of: ${values.map((v, i) => (labels[i] ? `${v} (${labels[i]})` : String(v))).join(', ')}`;
  const parse = (text: string): V => {
    const t = text.trim();
    const n = INT_RE.test(t) ? Number(t) : NaN;
    return values.find((v) => v === n) ?? fail(allowed);
  };
  return textType('int', allowed, parse, String);
}

export function reservedSpaceType(): ValueType<ReservedSpace> {
  return {
    name: 'reserved',
    allowed: RESERVED_ALLOWED,
    parse: parseReservedSpace,
    accept: acceptVia(parseReservedSpace, RESERVED_ALLOWED, (v) => {
      if (typeof v === 'number') return parseReservedSpace(String(v));
      if (typeof v !== 'object' || v === null) return undefined;
      const r = v as Partial<{ kind: string; mb: number; ratio: number }>;
      if (r.kind === 'mb' && typeof r.mb === 'number') return parseReservedSpace(`${r.mb}MB`);
      if (r.kind === 'ratio' && typeof r.ratio === 'number') return parseReservedSpace(`${r.ratio * 100}%`);
      return undefined;
    }),
    format: (r) => r.text,
  };
}

/** `host[,host2][:port]` (see parseHostPort). */
export function hostPortType(defaultPort: number): ValueType<HostPort> {
  const parse = (text: string) => parseHostPort(text, defaultPort);
  return {
    name: 'host:port',
    allowed: `host[,host2][:port] (default port ${defaultPort}; IPv6 in brackets, e.g. [::1]:${defaultPort})`,
    parse,
    accept: acceptVia(parse, HOST_PORT_ALLOWED, (v) => {
      if (typeof v !== 'object' || v === null) return undefined;
      const { hosts, port } = v as Partial<HostPort>;
      if (!Array.isArray(hosts) || typeof port !== 'number') return undefined;
      return parse(formatHostPort(hosts as string[], port));
    }),
    format: (v) => formatHostPort(v.hosts, v.port),
  };
}

/** `auto`, `0` (= auto) or an integer in range; used by sync_max_threads. */
export function autoOrIntType(opts: { min: number; max: number }): ValueType<'auto' | number> {
  const allowed = `auto (or 0) or an integer between ${opts.min} and ${opts.max}`;
  const parse = (text: string): 'auto' | number => {
    const t = text.trim().toLowerCase();
    if (t === 'auto' || t === '0') return 'auto';
    try {
      return parseInteger(t, opts.min, opts.max);
    } catch {
      return fail(allowed);
    }
  };
  return textType('auto|int', allowed, parse, String);
}

/**
 * The port a daemon serves HTTP on, or null when HTTP is off: an `--http-port` option wins (0 =
 * any free port), else http.server_port (0 = off). One rule for the tracker and the storage.
 */
export function httpPortOf(option: number | undefined, confPort: number): number | null {
  if (option !== undefined) return option;
  return confPort ? confPort : null;
}
