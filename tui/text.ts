// Fixed-width cells for one-line rows. Ink wraps or truncates whole Text nodes; table columns
// need exact widths so that rows line up whatever the content.

/** `text` cut or padded to exactly `width` cells ("…" marks a cut). ASCII-width assumed. */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  if (text.length > width) return width === 1 ? '…' : `${text.slice(0, width - 1)}…`;
  return align === 'left' ? text.padEnd(width) : text.padStart(width);
}
