// Markdown output of the benchmark tools. Pure.

export type Cell = string | number;

/** A GitHub-flavoured Markdown table; numeric columns (by the first row) are right-aligned. */
export function markdownTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const text = (c: Cell | undefined) => (typeof c === 'number' ? formatNumber(c) : (c ?? ''));
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${numeric.map((n) => (n ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${header.map((_, i) => text(r[i])).join(' | ')} |`),
  ];
  return lines.join('\n');
}

/** 3 significant-ish digits: 0.123, 1.23, 12.3, 123, 1234. Non-finite numbers become "n/a". */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

export const MiB = 1024 * 1024;

/** Bytes as MiB with one decimal, or "n/a" when unknown. */
export function mibCell(bytes: number | undefined): Cell {
  return bytes === undefined ? 'n/a' : Math.round((bytes / MiB) * 10) / 10;
}

/** 1024 → "1 KiB", 1048576 → "1 MiB", 104857600 → "100 MiB". */
export function sizeLabel(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** "1k", "1KiB", "10m", "100MiB", "512" (bytes) → bytes; undefined when not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib)?$/i.exec(text.trim());
  if (m === null) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase();
  const n = Number(m[1]) * (unit.startsWith('m') ? MiB : unit.startsWith('k') ? 1024 : 1);
  return n > 0 && Number.isSafeInteger(n) ? n : undefined;
}
