// The soak run as a chart: request latencies and the server's resident memory over time (see svg-chart.ts).

import { formatDuration } from './args.js';
import { MiB } from './markdown.js';
import { METHODS, type Method, type SoakResult } from './soak-result.js';
import type { ChartSpec, Series } from './svg-chart.js';

const METHOD_COLORS: Readonly<Record<Method, string>> = {
  POST: '#1f77b4', GET: '#2ca02c', PUT: '#ff7f0e', DELETE: '#9467bd',
};

export function chartSpec(r: SoakResult): ChartSpec {
  const p = r.params;
  const latency: Series[] = METHODS.map((m) => ({
    name: `${m} (${r.summary.methods[m].requests})`,
    style: 'dots',
    color: METHOD_COLORS[m],
    points: r.requests.filter((q) => q.method === m && q.ok).map((q) => ({ x: q.t / 1000, y: q.ms })),
  }));
  const failures = r.requests.filter((q) => !q.ok);
  if (failures.length > 0) {
    latency.push({
      name: `errors (${failures.length})`, style: 'crosses', color: '#d62728',
      points: failures.map((q) => ({ x: q.t / 1000, y: q.ms })),
    });
  }
  const panels: ChartSpec['panels'][number][] = [
    { title: 'Request latency (until the whole response was read)', yLabel: 'latency (ms)', series: latency },
  ];
  if (r.serverSamples.length > 0) {
    panels.push({
      title: 'Server resident memory',
      yLabel: 'RSS (MiB)',
      series: [{
        name: 'RSS', style: 'line', color: '#17becf',
        points: r.serverSamples.map((s) => ({ x: s.t / 1000, y: s.rssBytes / MiB })),
      }],
    });
  }
  return {
    title: `gitrest soak: ${p.cycles === undefined
      ? `${p.repetitionsPerMinute} cycles/min for ${formatDuration(p.durationMs)}`
      : `${p.cycles} cycles back to back`}, ${p.fileSizeKiB} KiB ${p.content} files, concurrency ${p.concurrency}`,
    subtitle: `${p.server ?? 'server'} at ${p.url}; started ${r.startedAt}; ${r.cycles.started} cycles, ` +
      `${r.summary.requests} requests, ${r.summary.errors} errors${r.stoppedEarly ? '; stopped early' : ''}`,
    xMax: r.elapsedMs / 1000,
    panels,
  };
}
