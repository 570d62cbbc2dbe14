// The soak run's result: what result.json holds, and the summaries computed from the samples. Pure.

import type { ProcSample } from './proc.js';
import { growthPercent, type Summary } from './stats.js';

export type Method = 'POST' | 'GET' | 'PUT' | 'DELETE';
export const METHODS: readonly Method[] = ['POST', 'GET', 'PUT', 'DELETE'];
/** Requests of each method in one complete cycle (the PUT is read back, hence three GETs). */
export const REQUESTS_PER_CYCLE: Readonly<Record<Method, number>> = { POST: 2, GET: 3, PUT: 1, DELETE: 1 };

/** Requests of each method in one complete cycle, with or without the GET after the PUT. */
export function requestsPerCycle(putReadback: boolean): Record<Method, number> {
  return { ...REQUESTS_PER_CYCLE, GET: putReadback ? 3 : 2 };
}

export interface Progress {
  /** "cycle" after each cycle ends; "tick" on every sampling period. */
  event: 'cycle' | 'tick';
  elapsedMs: number;
  cyclesStarted: number;
  cyclesCompleted: number;
  cyclesSkipped: number;
  errors: number;
  /** Latency in ms of the latest request of each method. */
  last: Partial<Record<Method, number>>;
  rssBytes?: number;
}

export interface RequestSample {
  cycle: number;
  method: Method;
  path: string;
  /** When the request was sent, in ms since the start of the run. */
  t: number;
  /** Until the whole response body was received (or the failure). */
  ms: number;
  status: number | null;
  ok: boolean;
  error?: string;
}

export interface ServerSample extends ProcSample {
  /** ms since the start of the run. */
  t: number;
}

/** `count` and the statistics cover successful requests; `requests` counts all that were sent. */
export interface MethodSummary extends Summary {
  requests: number;
  errors: number;
}

export interface ServerSummary {
  samples: number;
  rssStartBytes: number;
  rssPeakBytes: number;
  rssEndBytes: number;
  /** RSS at the first sample one minute or more into the run; null for shorter runs. */
  rssAfterFirstMinuteBytes: number | null;
  /** Growth from that sample to the end, in percent; null for runs under a minute. */
  rssGrowthAfterFirstMinutePct: number | null;
  /** CPU time the server used during the run. */
  cpuSeconds: number;
  /** CPU time of its subprocesses that ended during the run (e.g. `git http-backend`). */
  childCpuSeconds: number;
  /** (cpuSeconds + childCpuSeconds) / completed cycles; null when no cycle completed. */
  cpuSecondsPerCycle: number | null;
  /**
   * VmHWM at the end: the highest RSS however briefly it lasted, since the first sample when it could be reset
   * there (/proc/<pid>/clear_refs), else since the process started. Absent when it could not be read.
   */
  rssHighWaterBytes?: number;
  rssHighWaterSince?: 'first sample' | 'process start';
}

export interface SoakResult {
  params: {
    url: string;
    repetitionsPerMinute: number;
    durationMs: number;
    fileSizeKiB: number;
    content: 'random' | 'alnum';
    /** The PUT is read back by a GET. */
    putReadback: boolean;
    requestsPerCycle: Record<Method, number>;
    /** Untimed cycles before the measured ones. */
    warmupCycles: number;
    /** Set when a fixed number of cycles ran back to back instead of the schedule. */
    cycles?: number;
    concurrency: number;
    requestTimeoutMs: number;
    server?: string;
  };
  startedAt: string;
  endedAt: string;
  elapsedMs: number;
  /** Stopped (Ctrl-C, or our server exited) before the schedule ended. */
  stoppedEarly: boolean;
  cycles: {
    /** Cycles the schedule had room for. */
    planned: number;
    started: number;
    /** Every request of the cycle succeeded. */
    completed: number;
    failed: number;
    /** Due while `concurrency` cycles were still running. */
    skipped: number;
  };
  summary: {
    requests: number;
    errors: number;
    methods: Record<Method, MethodSummary>;
    server?: ServerSummary;
  };
  /** Why sampling the server stopped early, if it did. */
  samplingError?: string;
  requests: RequestSample[];
  serverSamples: ServerSample[];
}

export function summarizeServer(samples: readonly ServerSample[], completedCycles = 0): ServerSummary | undefined {
  const first = samples[0];
  const end = samples[samples.length - 1];
  if (first === undefined || end === undefined) return undefined;
  let peak = 0;
  for (const s of samples) peak = Math.max(peak, s.rssBytes);
  const afterMinute = samples.find((s) => s.t >= 60_000);
  const cpuSeconds = end.cpuSeconds - first.cpuSeconds;
  const childCpuSeconds = end.childCpuSeconds - first.childCpuSeconds;
  return {
    samples: samples.length,
    rssStartBytes: first.rssBytes,
    rssPeakBytes: peak,
    rssEndBytes: end.rssBytes,
    rssAfterFirstMinuteBytes: afterMinute?.rssBytes ?? null,
    rssGrowthAfterFirstMinutePct: afterMinute === undefined ? null : growthPercent(afterMinute.rssBytes, end.rssBytes),
    cpuSeconds,
    childCpuSeconds,
    cpuSecondsPerCycle: completedCycles > 0 ? (cpuSeconds + childCpuSeconds) / completedCycles : null,
  };
}
