/**
 * Reader for FastDFS's conf file format (libfastcommon ini_file_reader), as found in tracker.conf,
 * storage.conf, client.conf, http.conf:
 *
 *     # comment                 (only at the start of a line; `a = b # c` keeps "b # c" as the value)
 *     key = value               (spaces around `=` optional; key and value trimmed)
 *     tracker_server = a:22122  (a key may repeat; every occurrence is kept, in order)
 *     [section]                 (later keys belong to that section)
 *     #include other.conf       (path relative to the including file; `##include` is a comment)
 *
 * The reader only splits text into entries; what the keys mean is the schema's business (schema.ts).
 * Every entry records the file and line it came from, so every later error can point at it.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from './errors.ts';

/** One `key = value` line. */
export interface ConfEntry {
  key: string;
  value: string;
  /** The file, as given to the parser or joined from the including file's directory. */
  file: string;
  /** 1-based line number in `file`. */
  line: number;
  /** The `[section]` the entry is in; absent for the global part of the file. */
  section?: string;
}

export interface ParseOptions {
  /** Collects non-fatal remarks (a line that is not `key = value`, ...), each as `file:line: text`. */
  warnings?: string[];
}

const INCLUDE_RE = /^#include[ \t]+(.*)$/i;

/** Reads and parses a conf file, following `#include`s. Throws ConfigError. */
export function parseConfFile(path: string, opts: ParseOptions = {}): ConfEntry[] {
  return parseFile(path, opts, [], undefined);
}

/**
 * Parses conf text that came from `fileName` (used in messages, and as the base of relative
 * `#include` paths). Throws ConfigError.
 */
export function parseConfText(text: string, fileName: string, opts: ParseOptions = {}): ConfEntry[] {
  return parseText(text, fileName, opts, [identity(fileName)], undefined);
}

/** Same file ⇔ same real path (falls back to the absolute path for files that do not exist). */
function identity(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

function readText(file: string, where: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as { code?: string; message: string };
    throw new ConfigError(`${where}: cannot read ${file}: ${e.code ?? e.message}`, { file });
  }
}

function parseFile(file: string, opts: ParseOptions, stack: string[], section: string | undefined): ConfEntry[] {
  const text = readText(file, file);
  return parseText(text, file, opts, [...stack, identity(file)], section);
}

function parseText(
  text: string,
  file: string,
  opts: ParseOptions,
  stack: string[],
  startSection: string | undefined,
): ConfEntry[] {
  const entries: ConfEntry[] = [];
  let section = startSection;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    if (raw.startsWith('#')) {
      const inc = INCLUDE_RE.exec(raw);
      if (inc) entries.push(...include(inc[1]!.trim(), file, line, opts, stack, section));
      continue; // a comment, or a libfastcommon `#@function`-style directive we do not support
    }
    if (raw.startsWith('[') && raw.endsWith(']')) {
      const name = raw.slice(1, -1).trim();
      // `[]` is not a section name; go back to the global part.
      section = name === '' ? undefined : name;
      continue;
    }
    const eq = raw.indexOf('=');
    if (eq < 0) {
      opts.warnings?.push(`${file}:${line}: "${raw}" is not a "key = value" line (ignored)`);
      continue;
    }
    const key = raw.slice(0, eq).trim();
    if (key === '') {
      opts.warnings?.push(`${file}:${line}: "${raw}" has no key before "=" (ignored)`);
      continue;
    }
    const entry: ConfEntry = { key, value: raw.slice(eq + 1).trim(), file, line };
    if (section !== undefined) entry.section = section;
    entries.push(entry);
  }
  return entries;
}

function include(
  name: string,
  from: string,
  line: number,
  opts: ParseOptions,
  stack: string[],
  section: string | undefined,
): ConfEntry[] {
  const where = `${from}:${line}`;
  if (name === '') throw new ConfigError(`${where}: #include needs a file name`, { file: from, line });
  if (/^[a-z]+:\/\//i.test(name)) {
    // libfastcommon can #include an http:// URL; a config loader that fetches URLs is not wanted here.
    throw new ConfigError(`${where}: #include ${name}: only local files can be included`, { file: from, line });
  }
  const target = isAbsolute(name) ? name : join(dirname(from), name);
  const id = identity(target);
  if (stack.includes(id)) {
    throw new ConfigError(`${where}: #include ${name}: include cycle (${target} is already being read)`, {
      file: from,
      line,
    });
  }
  // The included file starts in the section active at the #include line; its own [section]
  // headers do not leak back into the including file.
  const text = readText(target, `${where}: #include ${name}`);
  return parseText(text, target, opts, [...stack, id], section);
}
