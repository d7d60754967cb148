/**
 * Applies a schema (schema.ts) to the entries of a conf file plus command-line overrides.
 * Shared by the tracker, storage and client loaders, which add their own derived fields and
 * cross-key rules on top.
 *
 * Precedence: override > file > default. Within a file a single-valued key given twice takes the
 * last value (with a warning); a repeatable key keeps every occurrence, and an override replaces
 * the whole list.
 */
import { ConfigError, ValueError } from './errors.ts';
import { parseConfFile, type ConfEntry } from './parser.ts';
import type { Schema } from './schema.ts';

/** Options of loadTrackerConfig / loadStorageConfig / loadClientConfig. */
export interface LoadOptions {
  /** Conf file to read. Without it the config is made of defaults and overrides only. */
  file?: string;
  /**
   * Values from the command line, by FastDFS key name. Strings are parsed like conf-file text;
   * typed values (numbers, booleans, {hour, minute}, {hosts, port}, arrays for repeatable keys)
   * are validated the same way. Entries whose value is undefined are skipped.
   */
  overrides?: Record<string, unknown>;
}

/** Where the effective value of a key came from. */
export interface Origin {
  source: 'file' | 'override' | 'default';
  file?: string;
  line?: number;
  /** The value as written (or as passed on the command line, or the formatted default). */
  text: string;
}

/** A file entry or override whose key the schema does not list but the caller handles (store_pathN). */
export interface DynamicItem {
  key: string;
  value: unknown;
  origin: Origin;
}

/** Label of command-line overrides in messages. */
export const OVERRIDE_LABEL = 'command line';

export class LoadedSchema {
  readonly values: Record<string, unknown> = {};
  readonly origins = new Map<string, Origin>();
  readonly warnings: string[] = [];
  readonly dynamic: DynamicItem[] = [];

  constructor(
    /** Name of the conf file kind, for messages when no file was read: 'tracker.conf'. */
    readonly confName: string,
    readonly file: string | undefined,
  ) {}

  /** "storage.conf:12", "command line", or the file / conf name for defaults. */
  where(origin: Origin | undefined): string {
    if (origin?.source === 'override') return OVERRIDE_LABEL;
    if (origin?.source === 'file') return `${origin.file}:${origin.line}`;
    return this.file ?? `${this.confName} (defaults)`;
  }

  /** A ConfigError about `key`'s effective value: "storage.conf:12: key = value: message". */
  errorAt(key: string, message: string, origin: Origin | undefined = this.origins.get(key)): ConfigError {
    const text = origin?.text ?? '';
    return new ConfigError(`${this.where(origin)}: ${key} = ${text}: ${message}`, {
      file: origin?.file,
      line: origin?.line,
      key,
      value: text,
    });
  }

  /** A warning about `key`'s effective value, in the same format. */
  warnAt(key: string, message: string, origin: Origin | undefined = this.origins.get(key)): void {
    this.warnings.push(`${this.where(origin)}: ${key} = ${origin?.text ?? ''}: ${message}`);
  }
}

/** How a command-line value is shown in messages. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}

/**
 * Reads `opts.file` (if any) and applies `schema`. Throws ConfigError for unreadable files, invalid
 * values, too many occurrences and missing required keys; unknown keys become warnings.
 */
export function loadSchema(
  schema: Schema,
  confName: string,
  opts: LoadOptions,
  isDynamicKey: (key: string) => boolean = () => false,
): LoadedSchema {
  const out = new LoadedSchema(confName, opts.file);
  const entries: ConfEntry[] = opts.file === undefined ? [] : parseConfFile(opts.file, { warnings: out.warnings });
  const lists = new Map<string, { items: unknown[]; origins: Origin[] }>();

  for (const e of entries) {
    const origin: Origin = { source: 'file', file: e.file, line: e.line, text: e.value };
    if (e.section !== undefined) {
      out.warnings.push(`${e.file}:${e.line}: [${e.section}] ${e.key}: keys inside a [section] are not read from ${confName} (ignored)`);
      continue;
    }
    const def = Object.hasOwn(schema, e.key) ? schema[e.key]! : undefined;
    if (def === undefined) {
      if (isDynamicKey(e.key)) out.dynamic.push({ key: e.key, value: e.value, origin });
      else out.warnings.push(`${e.file}:${e.line}: unknown key "${e.key}"${suggest(e.key, schema)} (ignored)`);
      continue;
    }
    if (def.kind === 'ignored') continue;
    const value = parseOrThrow(out, e.key, origin, () => def.type.parse(e.value));
    if (def.kind === 'list') {
      const l = lists.get(e.key) ?? { items: [], origins: [] };
      l.items.push(value);
      l.origins.push(origin);
      lists.set(e.key, l);
      continue;
    }
    const previous = out.origins.get(e.key);
    if (previous !== undefined) {
      const first = previous.file === e.file ? `line ${previous.line}` : `${previous.file}:${previous.line}`;
      out.warnings.push(`${e.file}:${e.line}: ${e.key} is set again (first at ${first}); the last value is used`);
    }
    out.values[e.key] = value;
    out.origins.set(e.key, origin);
  }

  for (const [key, raw] of Object.entries(opts.overrides ?? {})) {
    if (raw === undefined) continue;
    const def = Object.hasOwn(schema, key) ? schema[key]! : undefined;
    const origin: Origin = { source: 'override', text: showValue(raw) };
    if (def === undefined) {
      if (isDynamicKey(key)) out.dynamic.push({ key, value: raw, origin });
      else out.warnings.push(`${OVERRIDE_LABEL}: unknown key "${key}"${suggest(key, schema)} (ignored)`);
      continue;
    }
    if (def.kind === 'ignored') continue;
    if (def.kind === 'list') {
      const items = Array.isArray(raw) ? raw : [raw];
      const origins = items.map((item): Origin => ({ source: 'override', text: showValue(item) }));
      const values = items.map((item, i) => parseOrThrow(out, key, origins[i]!, () => def.type.accept(item)));
      lists.set(key, { items: values, origins });
      continue;
    }
    out.values[key] = parseOrThrow(out, key, origin, () => def.type.accept(raw));
    out.origins.set(key, origin);
  }

  for (const [key, def] of Object.entries(schema)) {
    if (def.kind === 'ignored') continue;
    if (def.kind === 'list') {
      const l = lists.get(key);
      if (l !== undefined && def.max !== undefined && l.items.length > def.max) {
        throw out.errorAt(key, `at most ${def.max} ${key} entries are allowed`, l.origins[def.max]);
      }
      if (l === undefined || l.items.length === 0) {
        if (def.required) throw missing(out, key, def.doc);
        out.values[key] = structuredClone([...def.default]);
        out.origins.set(key, { source: 'default', text: def.default.map((v) => def.type.format(v)).join(', ') });
      } else {
        out.values[key] = l.items;
        out.origins.set(key, l.origins[0]!);
      }
      continue;
    }
    if (out.origins.has(key)) continue;
    if (def.required) throw missing(out, key, def.doc);
    if (def.default !== undefined) {
      out.values[key] = structuredClone(def.default);
      out.origins.set(key, { source: 'default', text: def.type.format(def.default) });
    }
    // else: a derived default, filled in by the caller
  }
  return out;
}

function parseOrThrow<T>(out: LoadedSchema, key: string, origin: Origin, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ValueError) throw out.errorAt(key, err.message, origin);
    throw err;
  }
}

function missing(out: LoadedSchema, key: string, doc: string): ConfigError {
  const where = out.file ?? `${out.confName} (no conf file given)`;
  return new ConfigError(`${where}: missing required key ${key} (${doc})`, { file: out.file, key });
}

/** ' (did you mean "heart_beat_interval"?)' for near misses. */
function suggest(key: string, schema: Schema): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of Object.keys(schema)) {
    const d = distance(key.toLowerCase(), candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
