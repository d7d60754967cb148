// --exclude patterns of `fdfs put` (path.matchesGlob is not in Node 20, so a small matcher of
// our own). Paths are relative and use '/' whatever the platform.
//
//   *        any run of characters except '/'
//   **       any run of characters including '/' (as a whole segment: `a/**/b`, `**/x`, `x/**`)
//   ?        one character except '/'
//   [abc]    one of; `[!abc]` / `[^abc]` none of; ranges `[a-z]`
//   {a,b}    alternatives (no nesting)
//   \x       a literal x
//
// A pattern without '/' matches the last segment anywhere in the tree (like .gitignore: `*.tmp`,
// `node_modules`); a pattern with '/' matches the whole relative path (a leading '/' is ignored).

export interface GlobMatcher {
  /** True when the relative path (or, for slash-free patterns, its last segment) matches. */
  matches(relPath: string): boolean;
  readonly pattern: string;
}

function escapeRe(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

function compile(glob: string): string {
  let re = '';
  let i = 0;
  let inBraces = false;
  while (i < glob.length) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) {
      re += escapeRe(glob[i + 1]!);
      i += 2;
      continue;
    }
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        const atEnd = i + 2 === glob.length || glob[i + 2] === '/';
        if (atStart && atEnd) {
          if (i + 2 === glob.length) {
            re += '.*';
            i += 2;
          } else {
            // `**/` matches zero or more whole segments.
            re += '(?:[^/]*/)*';
            i += 3;
          }
          continue;
        }
        re += '[^/]*';
        i += 2;
        continue;
      }
      re += '[^/]*';
      i++;
      continue;
    }
    if (c === '?') { re += '[^/]'; i++; continue; }
    if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) { re += '\\['; i++; continue; }
      let body = glob.slice(i + 1, close);
      let neg = false;
      if (body[0] === '!' || body[0] === '^') { neg = true; body = body.slice(1); }
      body = body.replace(/[\\\]^]/g, (m) => `\\${m}`);
      re += neg ? `(?!/)[^${body}]` : `[${body}]`;
      i = close + 1;
      continue;
    }
    if (c === '{' && !inBraces && glob.indexOf('}', i) > 0) { re += '(?:'; inBraces = true; i++; continue; }
    if (c === ',' && inBraces) { re += '|'; i++; continue; }
    if (c === '}' && inBraces) { re += ')'; inBraces = false; i++; continue; }
    re += escapeRe(c);
    i++;
  }
  if (inBraces) throw new SyntaxError(`unclosed '{' in pattern ${JSON.stringify(glob)}`);
  return re;
}

export function compileGlob(pattern: string): GlobMatcher {
  let p = pattern;
  if (p.startsWith('./')) p = p.slice(2);
  const rooted = p.startsWith('/');
  // A trailing '/' (`build/`) does not anchor the pattern; a leading one does.
  const body = p.replace(/^\/+/, '').replace(/\/+$/, '');
  const re = new RegExp(`^${compile(body)}$`, 's');
  if (rooted || (body.includes('/') && !/^\*\*\/[^/]*$/.test(body))) {
    return { pattern, matches: (rel) => re.test(rel) };
  }
  // Slash-free (or `**/name`): the last segment, anywhere.
  const seg = /^\*\*\//.test(body) ? new RegExp(`^${compile(body.slice(3))}$`, 's') : re;
  return {
    pattern,
    matches: (rel) => {
      const slash = rel.lastIndexOf('/');
      return seg.test(slash < 0 ? rel : rel.slice(slash + 1));
    },
  };
}

/** Several patterns; matches when any does. */
export function compileGlobs(patterns: readonly string[]): (relPath: string) => boolean {
  const ms = patterns.filter((p) => p !== '').map(compileGlob);
  if (ms.length === 0) return () => false;
  return (rel) => ms.some((m) => m.matches(rel));
}
