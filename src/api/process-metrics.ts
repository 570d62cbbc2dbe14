// The standard process collector's series (named and defined as the Prometheus client libraries do) and the Node
// runtime's (under prom-client's names, which Node dashboards expect). Process facts come from /proc where the
// platform has it; a series that cannot be measured here is left out of the exposition, never made up.
//
// The runtime's event-loop and GC observers are process-wide: they are started once, on first use, and shared
// by every registry in the process.

import { readdirSync, readFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, type Registry } from './exposition.js';

/** prom-client's buckets for GC pauses. */
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

interface Runtime {
  loopDelay: IntervalHistogram;
  /** GC pauses by kind since the runtime observers started; one histogram, registered in every registry. */
  gc: Histogram;
  /** The delay of the last setImmediate probe, in seconds (undefined until one finished). */
  lag?: number;
}

let runtime: Runtime | undefined;

function startRuntime(): Runtime {
  if (runtime !== undefined) return runtime;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const gc = new Histogram('nodejs_gc_duration_seconds',
    'Garbage collection duration by kind, one of major, minor, incremental or weakcb.', ['kind'], GC_BUCKETS);
  for (const kind of Object.values(GC_KINDS)) gc.touch({ kind });
  const r: Runtime = { loopDelay, gc };
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KINDS[(entry as { detail?: { kind?: number } }).detail?.kind ?? -1];
      if (kind !== undefined) gc.observe({ kind }, entry.duration / 1000);
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  runtime = r;
  return r;
}

/** Measures how long a setImmediate takes to run (prom-client's event-loop lag), for the next scrape. */
function probeLag(r: Runtime): void {
  const start = process.hrtime.bigint();
  setImmediate(() => {
    r.lag = Number(process.hrtime.bigint() - start) / 1e9;
  });
}

/** A /proc file's text, or undefined where there is no /proc (or it cannot be read). */
function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A "Name:   1234 kB" field of /proc/self/status, in bytes. */
export function statusBytes(status: string | undefined, field: string): number | undefined {
  const m = status === undefined ? null : new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return m === null ? undefined : Number(m[1]) * 1024;
}

/**
 * The soft limit of a /proc/self/limits row. "unlimited" is reported as the largest unsigned 64-bit value,
 * as the Go client does (the limit is known: there is none).
 */
export function softLimit(limits: string | undefined, row: string): number | undefined {
  const line = limits?.split('\n').find((l) => l.startsWith(row));
  const soft = line?.slice(row.length).trim().split(/\s+/)[0];
  if (soft === undefined) return undefined;
  if (soft === 'unlimited') return 18446744073709551615;
  return /^\d+$/.test(soft) ? Number(soft) : undefined;
}

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

/** Registers the process_* and nodejs_* families on `registry`. */
export function registerProcessMetrics(registry: Registry): void {
  const r = startRuntime();
  const startSeconds = Math.round((Date.now() / 1000 - process.uptime()) * 1000) / 1000;
  // One read of each /proc file per scrape, shared by the series that come from it.
  let status: string | undefined;
  let statusAt = -1;
  const procStatus = (): string | undefined => {
    const now = Date.now();
    if (now - statusAt > 100) {
      status = readProc('/proc/self/status');
      statusAt = now;
    }
    return status;
  };

  const cpu = (part: 'user' | 'system' | 'both') => () => {
    const u = process.cpuUsage();
    return (part === 'user' ? u.user : part === 'system' ? u.system : u.user + u.system) / 1e6;
  };
  registry.register(new Counter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.'))
    .readFrom({}, cpu('user'));
  registry.register(new Counter('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.'))
    .readFrom({}, cpu('system'));
  registry.register(new Counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.'))
    .readFrom({}, cpu('both'));
  registry.register(new Gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.'))
    .set({}, startSeconds);
  registry.register(new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes.'))
    .set({}, () => statusBytes(procStatus(), 'VmRSS'));
  registry.register(new Gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.'))
    .set({}, () => statusBytes(procStatus(), 'VmSize'));
  registry.register(new Gauge('process_virtual_memory_max_bytes', 'Maximum amount of virtual memory available in bytes.'))
    .set({}, () => softLimit(readProc('/proc/self/limits'), 'Max address space'));
  registry.register(new Gauge('process_heap_bytes', 'Process heap size in bytes.'))
    .set({}, () => statusBytes(procStatus(), 'VmData'));
  registry.register(new Gauge('process_open_fds', 'Number of open file descriptors.')).set({}, openFds);
  registry.register(new Gauge('process_max_fds', 'Maximum number of open file descriptors.'))
    .set({}, () => softLimit(readProc('/proc/self/limits'), 'Max open files'));

  const [major, minor, patch] = process.versions.node.split('.');
  registry.register(new Gauge('nodejs_version_info', 'Node.js version info.', ['version', 'major', 'minor', 'patch']))
    .set({ version: process.version, major: major ?? '', minor: minor ?? '', patch: patch ?? '' }, 1);
  const memory = (field: 'heapTotal' | 'heapUsed' | 'external') => () => process.memoryUsage()[field];
  registry.register(new Gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.'))
    .set({}, memory('heapTotal'));
  registry.register(new Gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.'))
    .set({}, memory('heapUsed'));
  registry.register(new Gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.'))
    .set({}, memory('external'));
  const spaces: Array<[string, 'space_size' | 'space_used_size' | 'space_available_size', string]> = [
    ['nodejs_heap_space_size_total_bytes', 'space_size', 'Process heap space size total from Node.js in bytes.'],
    ['nodejs_heap_space_size_used_bytes', 'space_used_size', 'Process heap space size used from Node.js in bytes.'],
    ['nodejs_heap_space_size_available_bytes', 'space_available_size',
      'Process heap space size available from Node.js in bytes.'],
  ];
  for (const [name, field, help] of spaces) {
    const g = registry.register(new Gauge(name, help, ['space']));
    for (const s of getHeapSpaceStatistics()) {
      const space = s.space_name.replace(/_space$/, '');
      g.set({ space }, () => getHeapSpaceStatistics().find((x) => x.space_name === s.space_name)?.[field]);
    }
  }

  probeLag(r);
  registry.register(new Gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.')).set({}, () => {
    const lag = r.lag;
    probeLag(r);
    return lag;
  });
  const loop = r.loopDelay;
  const delay = (read: () => number) => () => (loop.count === 0 ? undefined : read() / 1e9);
  const stats: Array<[string, string, () => number]> = [
    ['min', 'The minimum recorded event loop delay.', () => loop.min],
    ['max', 'The maximum recorded event loop delay.', () => loop.max],
    ['mean', 'The mean of the recorded event loop delays.', () => loop.mean],
    ['stddev', 'The standard deviation of the recorded event loop delays.', () => loop.stddev],
    ['p50', 'The 50th percentile of the recorded event loop delays.', () => loop.percentile(50)],
    ['p90', 'The 90th percentile of the recorded event loop delays.', () => loop.percentile(90)],
    ['p99', 'The 99th percentile of the recorded event loop delays.', () => loop.percentile(99)],
  ];
  for (const [stat, help, read] of stats) {
    registry.register(new Gauge(`nodejs_eventloop_lag_${stat}_seconds`, help)).set({}, delay(read));
  }

  registry.register(r.gc);
}
