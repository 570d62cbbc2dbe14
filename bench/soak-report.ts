// The soak run in the terminal: the progress line while it runs and the report at the end. Pure.

import { MiB } from './markdown.js';
import { METHODS, type Progress, type SoakResult } from './soak-result.js';
import { formatClock } from './svg-chart.js';

/** The end-of-run report for the terminal. */
export function formatReport(r: SoakResult): string {
  const lines: string[] = [];
  const fmt = (v: number | null): string => (v === null ? '-' : v.toFixed(1));
  const row = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(8) : c.padStart(10))).join('');
  lines.push(row(['method', 'requests', 'errors', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms']));
  for (const m of METHODS) {
    const s = r.summary.methods[m];
    lines.push(row([m, String(s.requests), String(s.errors), fmt(s.p50), fmt(s.p95), fmt(s.p99), fmt(s.max)]));
  }
  const c = r.cycles;
  if (r.params.warmupCycles > 0) lines.push(`warm-up: ${r.params.warmupCycles} cycles before these, not counted`);
  lines.push(`cycles: ${c.planned} planned, ${c.started} started, ${c.completed} completed, ${c.failed} failed, ` +
    `${c.skipped} skipped${r.stoppedEarly ? ' (stopped early)' : ''}`);
  lines.push(`requests: ${r.summary.requests}, errors: ${r.summary.errors}`);
  const firstErrors = r.requests.filter((q) => !q.ok).slice(0, 5);
  for (const q of firstErrors) lines.push(`  error at ${formatClock(q.t / 1000)} (cycle ${q.cycle}): ${q.error ?? ''}`);
  if (r.summary.errors > firstErrors.length) lines.push(`  … ${r.summary.errors - firstErrors.length} more in result.json`);
  const sv = r.summary.server;
  if (sv !== undefined) {
    const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;
    const growth = sv.rssGrowthAfterFirstMinutePct;
    lines.push(`server RSS: start ${mib(sv.rssStartBytes)}, peak ${mib(sv.rssPeakBytes)}, end ${mib(sv.rssEndBytes)}, ` +
      `growth after the first minute ${growth === null ? 'n/a (run under a minute)' : `${growth >= 0 ? '+' : ''}${growth.toFixed(1)}%`}`);
    lines.push(`server CPU: ${sv.cpuSeconds.toFixed(2)} s (+ ${sv.childCpuSeconds.toFixed(2)} s in finished subprocesses)` +
      (sv.cpuSecondsPerCycle === null ? '' : `, ${sv.cpuSecondsPerCycle.toFixed(3)} s per completed cycle`));
    if (sv.rssHighWaterBytes !== undefined) {
      lines.push(`server peak RSS (VmHWM since ${sv.rssHighWaterSince === 'first sample' ? 'the first sample' : 'the process started'}): ` +
        mib(sv.rssHighWaterBytes));
    }
  }
  if (r.samplingError !== undefined) lines.push(r.samplingError);
  return lines.join('\n');
}

/** One progress line: elapsed, cycles, errors, latest latencies, RSS. */
export function formatProgress(p: Progress): string {
  const lat = METHODS.map((m) => `${m} ${p.last[m] === undefined ? '-' : `${Math.round(p.last[m] as number)}ms`}`);
  const rss = p.rssBytes === undefined ? '' : ` | RSS ${(p.rssBytes / MiB).toFixed(1)} MiB`;
  const skipped = p.cyclesSkipped > 0 ? `, ${p.cyclesSkipped} skipped` : '';
  return `[${formatClock(p.elapsedMs / 1000)}] cycles ${p.cyclesCompleted}/${p.cyclesStarted}${skipped} | ` +
    `errors ${p.errors} | ${lat.join(' ')}${rss}`;
}
