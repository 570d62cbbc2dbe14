// The API benchmark's result as Markdown tables, as BENCHMARKS.md shows them. Pure.

import { METHODS, type BenchResult } from './bench-result.js';
import { markdownTable, mibCell, sizeLabel, type Cell } from './markdown.js';
import { percentile } from './stats.js';

function p50(values: readonly number[]): number {
  return values.length === 0 ? NaN : percentile([...values].sort((a, b) => a - b), 50);
}

/** "1" when every sample made the same number of requests, else "min–max". */
export function roundTripCell(values: readonly number[]): Cell {
  if (values.length === 0) return 'n/a';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? lo : `${lo}–${hi}`;
}

function ms(x: number): Cell {
  return Number.isFinite(x) ? Math.round(x * 100) / 100 : 'n/a';
}

function ratio(a: number, b: number): Cell {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? Math.round((a / b) * 100) / 100 : 'n/a';
}

function cpuCell(seconds: number | undefined): Cell {
  return seconds === undefined ? 'n/a' : Math.round(seconds * 100) / 100;
}

/** What the phases cost the server: peak RSS and CPU seconds, both from /proc. */
function phaseRows(r: BenchResult): Cell[][] {
  return [
    ...r.writers.map((w): Cell[] => [`writers: ${w.writers} concurrent, POST 1 KiB`, mibCell(w.peakRssBytes), cpuCell(w.cpuSeconds)]),
    ...r.sizes.map((s): Cell[] => [`operations at ${sizeLabel(s.size)}`, mibCell(s.peakRssBytes), cpuCell(s.cpuSeconds)]),
    ...r.repos.map((x): Cell[] => [`GET/PUT 1 KiB, ${x.files}-file repository`, mibCell(x.peakRssBytes), cpuCell(x.cpuSeconds)]),
  ];
}

const PHASES_HEADER = ['phase', 'peak RSS MiB', 'server CPU s'];

/**
 * The report for a server given by --url: the same operations and writers, without what needs our own git
 * server behind it (round trips, the floor, the repository-size phase).
 */
function formatUrlReport(r: BenchResult): string {
  const latency = r.sizes.flatMap((s) => METHODS.map((m): Cell[] => [sizeLabel(s.size), m, s.reps, ms(p50(s.ours[m].ms))]));
  const writers = r.writers.map((w): Cell[] => [
    w.writers, Math.round(w.seconds * 10) / 10, w.ok, w.errors, Math.round((w.ok / w.seconds) * 10) / 10,
    ms(p50(w.ms)), mibCell(w.peakRssBytes), cpuCell(w.cpuSeconds),
  ]);
  return [
    `## Benchmark of the server at ${r.url ?? '?'}`,
    '',
    ...r.setup.map((line) => `- ${line}`),
    '',
    'Skipped against a server given by --url: the floor (the same operations as raw Git requests against the git ' +
      'server behind the API) and the round-trip counts, since this tool neither runs nor sees that server\'s ' +
      'storage, which need not be Git; and the repository-size phase, which imports files into that storage.',
    '',
    '### Latency per operation (p50)',
    '',
    'Per repetition, in this order: POST a new file, GET it, PUT new bytes, DELETE it.',
    '',
    markdownTable(['size', 'op', 'reps', 'p50 ms'], latency),
    '',
    '### Concurrent writers',
    '',
    'Each writer POSTs 1 KiB bodies to distinct new paths, one request at a time, until the time is up.',
    '',
    markdownTable(['writers', 'seconds', 'writes', 'errors', 'writes/s', 'p50 ms', 'peak RSS MiB', 'server CPU s'], writers),
    '',
    '### Server peak RSS and CPU per phase',
    '',
    'VmHWM of the process given by --pid, reset at the start of each phase when /proc allows it, and its CPU time ' +
      '(with finished children) during the phase; n/a without --pid.',
    '',
    markdownTable(PHASES_HEADER, phaseRows(r)),
    '',
    `Total run time: ${r.seconds.toFixed(1)} s.`,
    '',
  ].join('\n');
}

export function formatBenchReport(r: BenchResult): string {
  if (r.url !== undefined) return formatUrlReport(r);
  const latency = r.sizes.flatMap((s) => METHODS.map((m): Cell[] => {
    const ours = p50(s.ours[m].ms);
    const floor = p50(s.floor[m].ms);
    return [sizeLabel(s.size), m, s.reps, roundTripCell(s.ours[m].roundTrips), ms(ours),
      roundTripCell(s.floor[m].roundTrips), ms(floor), ratio(ours, floor)];
  }));
  const writers = r.writers.map((w): Cell[] => [
    w.writers, Math.round(w.seconds * 10) / 10, w.ok, w.errors, Math.round((w.ok / w.seconds) * 10) / 10, w.pushes ?? 'n/a',
    ratio(w.ok, w.pushes ?? NaN), ratio(w.roundTrips ?? NaN, w.ok), ms(p50(w.ms)), mibCell(w.peakRssBytes),
  ]);
  const small = r.repos.find((x) => x.label === 'small');
  const repos = r.repos.flatMap((x) => (['GET', 'PUT'] as const).map((op): Cell[] => {
    const [s, f] = op === 'GET' ? [x.get, x.floorGet] : [x.put, x.floorPut];
    const [base, floorBase] = small === undefined ? [] : op === 'GET' ? [small.get, small.floorGet] : [small.put, small.floorPut];
    return [`${x.files} files / ${x.dirs} dirs`, op, s.ms.length, roundTripCell(s.roundTrips), ms(p50(s.ms)),
      base === undefined ? 'n/a' : ratio(p50(s.ms), p50(base.ms)), ms(p50(f.ms)),
      floorBase === undefined ? 'n/a' : ratio(p50(f.ms), p50(floorBase.ms)), ratio(p50(s.ms), p50(f.ms))];
  }));
  return [
    '## gitrest benchmark',
    '',
    ...r.setup.map((line) => `- ${line}`),
    '',
    '### Latency per operation (p50)',
    '',
    'Per repetition, in this order: POST a new file, GET it, PUT new bytes, DELETE it; then the floor: the same ' +
      'operations as raw Git requests with undici against the same server, on new bodies of the same kind and size ' +
      '(a write = one receive-pack POST with a ' +
      'pack built beforehand, holding what the API sends: blob, trees on the path, commit; a read = one ls-refs POST ' +
      'and one fetch POST of the blob by id). Round trips = HTTP requests the git server saw; ours/floor = ratio of ' +
      'the p50 latencies. The floor\'s packs are compressed before the clock starts, so for big bodies the ratio of a ' +
      'write includes the API\'s deflate time (see the zlib table). The API keeps small blobs it wrote in a cache, ' +
      'so its GET of a small file can need only the ls-refs round trip.',
    '',
    markdownTable(['size', 'op', 'reps', 'round trips', 'p50 ms', 'floor round trips', 'floor p50 ms', 'ours/floor'],
      latency),
    '',
    '### Concurrent writers',
    '',
    'Each writer POSTs 1 KiB bodies to distinct new paths, one request at a time, until the time is up. Concurrent ' +
      'writes are grouped into one push (one commit per write).',
    '',
    markdownTable(['writers', 'seconds', 'writes', 'errors', 'writes/s', 'pushes', 'writes/push',
      'round trips/write', 'p50 ms', 'peak RSS MiB'], writers),
    '',
    '### Repository size',
    '',
    'GET then PUT (1 KiB) of one file in each of the first directories (never read before) of a repository made ' +
      'with git fast-import, against one with 10 files in 10 directories; one fresh API process per repository, ' +
      'after one warm-up POST (of another path) that loads the branch tip and root tree. The floor: the same GETs ' +
      '(ls-refs, fetch of the directory\'s tree with tree:0, fetch of the blob by id) and PUTs (blob, directory ' +
      'tree, root tree, commit) as raw Git requests, the PUTs on a second branch started at the imported commit, so ' +
      'the git server checks them against the same history. When the floor grows with the repository as much as the ' +
      'API does, the growth is the git server\'s.',
    '',
    markdownTable(['repository', 'op', 'reps', 'round trips', 'p50 ms', 'vs 10 files', 'floor p50 ms',
      'floor vs 10 files', 'ours/floor'], repos),
    '',
    '### Server peak RSS and CPU per phase',
    '',
    'VmHWM of the process serving the API, from /proc/<pid>/status, reset (via /proc/<pid>/clear_refs) at the ' +
      'start of each phase, so each value is the highest RSS during that phase, starting from what the phase ' +
      'before left in the same process (the writers steps share one server, the operation sizes another, in the ' +
      'order listed; each repository-size phase has its own); server CPU s = its CPU time during the phase ' +
      '(with the API in the benchmark process, the benchmark\'s own).',
    '',
    markdownTable(PHASES_HEADER, phaseRows(r)),
    '',
    `Total run time: ${r.seconds.toFixed(1)} s.`,
    '',
  ].join('\n');
}
