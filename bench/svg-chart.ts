// A self-contained SVG chart: stacked panels sharing a time axis, each with its own y axis, ticks, grid and
// legend. Pure: data in, markup out. Every piece of text is escaped.

export interface Point {
  /** Seconds since the start of the run. */
  x: number;
  y: number;
}

export interface Series {
  name: string;
  points: readonly Point[];
  style: 'dots' | 'line' | 'crosses';
  /** CSS colour; a palette colour by position when omitted. */
  color?: string;
}

export interface Panel {
  title: string;
  /** Label of the y axis, e.g. "latency (ms)". */
  yLabel: string;
  series: readonly Series[];
}

export interface ChartSpec {
  title: string;
  subtitle?: string;
  /** Right end of the time axis in seconds; the largest x of any point when omitted. */
  xMax?: number;
  panels: readonly Panel[];
}

const PALETTE = ['#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#d62728'];

const WIDTH = 1000;
const MARGIN_LEFT = 80;
const MARGIN_RIGHT = 170; // room for the legend
const HEADER = 70;
const PANEL_HEIGHT = 260;
const PANEL_GAP = 70; // panel title above, tick labels below
const FOOTER = 55; // tick labels and the axis label under the last panel

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
    // Characters XML 1.0 does not allow at all would make the file unreadable.
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');
}

/** Ticks from 0 to at least `max` at a round step (1, 2 or 5 × 10^k), about `target` of them. */
export function niceTicks(max: number, target = 5): number[] {
  const top = max > 0 && Number.isFinite(max) ? max : 1;
  const raw = top / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  const n = Math.ceil(top / step - 1e-9);
  const ticks: number[] = [];
  for (let i = 0; i <= n; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** Ticks in seconds from 0 to at least `maxSeconds`, at steps a clock reader likes (10 s, 1 min, 5 min, …). */
export function timeTicks(maxSeconds: number): number[] {
  const top = maxSeconds > 0 && Number.isFinite(maxSeconds) ? maxSeconds : 1;
  const step = TIME_STEPS.find((s) => top / s <= 8) ?? Math.ceil(top / 8 / 86400) * 86400;
  const n = Math.ceil(top / step - 1e-9);
  const ticks: number[] = [];
  for (let i = 0; i <= n; i++) ticks.push(i * step);
  return ticks;
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatClock(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function renderChart(spec: ChartSpec): string {
  const plotW = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
  const panelTop = (i: number): number => HEADER + 25 + i * (PANEL_HEIGHT + PANEL_GAP);
  const height = panelTop(Math.max(spec.panels.length, 1) - 1) + PANEL_HEIGHT + FOOTER;
  const xTicks = timeTicks(spec.xMax ?? maxOf(spec.panels.flatMap((p) => p.series), (pt) => pt.x));
  const xAxisMax = xTicks[xTicks.length - 1] as number;
  const sx = (x: number): number => MARGIN_LEFT + (x / xAxisMax) * plotW;

  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
    `viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold">` +
    `${escapeXml(spec.title)}</text>`);
  if (spec.subtitle !== undefined) {
    out.push(`<text x="${WIDTH / 2}" y="50" text-anchor="middle" fill="#555555">${escapeXml(spec.subtitle)}</text>`);
  }

  spec.panels.forEach((panel, i) => {
    out.push(...renderPanel(panel, panelTop(i), plotW, xTicks, sx));
  });

  out.push(`<text x="${MARGIN_LEFT + plotW / 2}" y="${height - 12}" text-anchor="middle">elapsed (m:ss)</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function renderPanel(panel: Panel, top: number, plotW: number, xTicks: number[], sx: (x: number) => number): string[] {
  const bottom = top + PANEL_HEIGHT;
  const yTicks = niceTicks(maxOf(panel.series, (pt) => pt.y));
  const yAxisMax = yTicks[yTicks.length - 1] as number;
  const sy = (y: number): number => bottom - (y / yAxisMax) * PANEL_HEIGHT;
  const right = MARGIN_LEFT + plotW;

  const out: string[] = [`<g class="panel">`];
  out.push(`<text x="${MARGIN_LEFT}" y="${top - 10}" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`);

  // Grid and ticks.
  for (const t of yTicks) {
    const y = n(sy(t));
    out.push(`<line x1="${MARGIN_LEFT}" y1="${y}" x2="${right}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN_LEFT - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(String(t))}</text>`);
  }
  for (const t of xTicks) {
    const x = n(sx(t));
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#f0f0f0"/>`);
    out.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#333333"/>`);
    out.push(`<text x="${x}" y="${bottom + 18}" text-anchor="middle">${escapeXml(formatClock(t))}</text>`);
  }
  // Axes.
  out.push(`<line x1="${MARGIN_LEFT}" y1="${top}" x2="${MARGIN_LEFT}" y2="${bottom}" stroke="#333333"/>`);
  out.push(`<line x1="${MARGIN_LEFT}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333333"/>`);
  const midY = n(top + PANEL_HEIGHT / 2);
  out.push(`<text x="${MARGIN_LEFT - 55}" y="${midY}" text-anchor="middle" ` +
    `transform="rotate(-90 ${MARGIN_LEFT - 55} ${midY})">${escapeXml(panel.yLabel)}</text>`);

  panel.series.forEach((s, i) => {
    const color = escapeXml(s.color ?? (PALETTE[i % PALETTE.length] as string));
    out.push(`<g class="series" data-name="${escapeXml(s.name)}" fill="${color}" stroke="${color}">`);
    out.push(...renderSeries(s, sx, sy));
    out.push('</g>');
    // Legend entry, right of the plot.
    const ly = top + 10 + i * 20;
    const lx = right + 20;
    out.push(legendSwatch(s.style, lx, ly, color));
    out.push(`<text x="${lx + 18}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  out.push('</g>');
  return out;
}

function renderSeries(s: Series, sx: (x: number) => number, sy: (y: number) => number): string[] {
  const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (pts.length === 0) return [];
  switch (s.style) {
    case 'dots':
      return pts.map((p) => `<circle cx="${n(sx(p.x))}" cy="${n(sy(p.y))}" r="2.5" stroke="none"/>`);
    case 'line': {
      const sorted = [...pts].sort((a, b) => a.x - b.x);
      return [`<polyline fill="none" stroke-width="1.5" points="${sorted.map((p) => `${n(sx(p.x))},${n(sy(p.y))}`).join(' ')}"/>`];
    }
    case 'crosses': {
      const d = pts.map((p) => {
        const x = sx(p.x);
        const y = sy(p.y);
        return `M${n(x - 4)} ${n(y - 4)}L${n(x + 4)} ${n(y + 4)}M${n(x - 4)} ${n(y + 4)}L${n(x + 4)} ${n(y - 4)}`;
      });
      return [`<path fill="none" stroke-width="2" d="${d.join('')}"/>`];
    }
  }
}

function legendSwatch(style: Series['style'], x: number, y: number, color: string): string {
  switch (style) {
    case 'dots':
      return `<circle cx="${x + 6}" cy="${y}" r="4" fill="${color}"/>`;
    case 'line':
      return `<line x1="${x}" y1="${y}" x2="${x + 12}" y2="${y}" stroke="${color}" stroke-width="2"/>`;
    case 'crosses':
      return `<path d="M${x + 2} ${y - 4}L${x + 10} ${y + 4}M${x + 2} ${y + 4}L${x + 10} ${y - 4}" stroke="${color}" stroke-width="2"/>`;
  }
}

/** The largest coordinate of any finite point, or 0. A loop, not Math.max(...): runs can have many points. */
function maxOf(series: readonly Series[], coord: (p: Point) => number): number {
  let max = 0;
  for (const s of series) {
    for (const p of s.points) {
      const v = coord(p);
      if (Number.isFinite(v) && v > max) max = v;
    }
  }
  return max;
}

/** Coordinates with one decimal keep the file small. */
function n(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}
