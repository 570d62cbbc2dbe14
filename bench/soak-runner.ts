// The soak run: cycles of POST, GET, PUT, DELETE with random files, started on a fixed schedule (or a fixed
// number of them back to back, after untimed warm-up cycles), against a server at a URL; latencies and (for a
// local process) its memory and CPU are recorded. The CLI is soak.ts.

import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { formatDuration } from './args.js';
import { soakBody, type SoakContent } from './data.js';
import { peakRss, readProcSample, resetPeakRss } from './proc.js';
import { chartSpec } from './soak-chart.js';
import {
  METHODS, type Method, type MethodSummary, type Progress, type RequestSample, type ServerSample, type SoakResult,
  summarizeServer, requestsPerCycle,
} from './soak-result.js';
import { summarize } from './stats.js';
import { renderChart } from './svg-chart.js';
import { sleep, within } from './wait.js';

const EXPECTED_STATUS: Readonly<Record<Method, number>> = { POST: 201, GET: 200, PUT: 204, DELETE: 204 };

export interface SoakOptions {
  /** Base URL of the server, without a trailing slash. */
  url: string;
  /** Cycles started per minute. */
  repetitions: number;
  durationMs: number;
  fileSizeKiB: number;
  /** What the files hold. Default random bytes. */
  content?: SoakContent;
  /** GET the file back after its PUT (then a cycle is 7 requests, else 6). Default true. */
  putReadback?: boolean;
  /** Run exactly this many cycles one after another instead of the schedule (repetitions, duration unused). */
  cycles?: number;
  /** Cycles run one after another before the measured ones, recorded nowhere; one that fails ends the run. */
  warmupCycles?: number;
  /** Cycles allowed in flight; a cycle due while this many run is skipped (and counted). Default 1. */
  concurrency?: number;
  /** Bound on each request. Default 60 s. */
  requestTimeoutMs?: number;
  /** How long to wait for running cycles once the duration is over; then they are cancelled. Default 60 s. */
  drainTimeoutMs?: number;
  /** A local process to sample RSS and CPU of, from /proc. */
  serverPid?: number;
  /** How the server was provided, for the report, e.g. "own server, backend git". */
  serverLabel?: string;
  /** Where to write result.json and chart.svg; nothing is written when undefined. */
  outDir?: string;
  /** Stops starting cycles; running ones still finish (bounded by drainTimeoutMs). */
  stopSignal?: AbortSignal;
  /** Cancels running requests too. */
  cancelSignal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Period of process samples and progress ticks. Default 1 s. */
  sampleIntervalMs?: number;
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const extension = opts.content === 'alnum' ? '.txt' : '.bin';
  const contentType = opts.content === 'alnum' ? 'text/plain' : 'application/octet-stream';
  const concurrency = opts.concurrency ?? 1;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
  const drainTimeoutMs = opts.drainTimeoutMs ?? 60_000;
  const intervalMs = 60_000 / opts.repetitions;
  const planned = opts.cycles ?? Math.max(1, Math.ceil(opts.durationMs / intervalMs - 1e-9));
  const content = opts.content ?? 'random';
  const putReadback = opts.putReadback ?? true;
  const warmupCycles = opts.warmupCycles ?? 0;
  const baseUrl = opts.url.replace(/\/+$/, '');

  const startedAt = new Date();
  const t0 = performance.now();
  const elapsed = (): number => performance.now() - t0;
  const cancel = new AbortController();
  const onCancel = (): void => cancel.abort();
  opts.cancelSignal?.addEventListener('abort', onCancel, { once: true });
  if (opts.cancelSignal?.aborted) cancel.abort();
  const agent = new Agent();

  const requests: RequestSample[] = [];
  /** The warm-up's requests: kept apart so that no statistic counts them. */
  const warmup: RequestSample[] = [];
  const serverSamples: ServerSample[] = [];
  const last: Partial<Record<Method, number>> = {};
  let errors = 0;
  let started = 0;
  let completed = 0;
  let failed = 0;
  let skipped = 0;
  let samplingError: string | undefined;

  let finished = false; // no progress after the run: a late tick would land below the report
  const progress = (event: Progress['event']): void => {
    if (opts.onProgress === undefined || finished) return;
    const p: Progress = {
      event, elapsedMs: elapsed(), cyclesStarted: started, cyclesCompleted: completed, cyclesSkipped: skipped,
      errors, last: { ...last },
    };
    const rss = serverSamples[serverSamples.length - 1]?.rssBytes;
    if (rss !== undefined) p.rssBytes = rss;
    opts.onProgress(p);
  };

  const sample = async (): Promise<void> => {
    if (opts.serverPid === undefined || samplingError !== undefined) return;
    const t = micro(elapsed());
    try {
      serverSamples.push({ t, ...(await readProcSample(opts.serverPid)) });
    } catch (err) {
      samplingError = `sampling process ${opts.serverPid} stopped: ${(err as Error).message}`;
    }
  };

  /**
   * One request; true when it got the expected status (and, for a GET, exactly the expected bytes). A cycle
   * number of 0 or below is a warm-up cycle's.
   */
  const call = async (cycle: number, method: Method, path: string, body?: Buffer, expect?: Buffer): Promise<boolean> => {
    const t = elapsed();
    const rec: RequestSample = { cycle, method, path, t: micro(t), ms: 0, status: null, ok: false };
    try {
      const res = await request(baseUrl + path, {
        method, dispatcher: agent,
        signal: AbortSignal.any([cancel.signal, AbortSignal.timeout(requestTimeoutMs)]),
        ...(body === undefined ? {} : { body, headers: { 'content-type': contentType } }),
      });
      const data = Buffer.from(await res.body.arrayBuffer());
      rec.status = res.statusCode;
      if (res.statusCode !== EXPECTED_STATUS[method]) {
        rec.error = `${method} ${path}: expected ${EXPECTED_STATUS[method]}, got ${res.statusCode}` +
          (data.length > 0 ? `: ${data.subarray(0, 300).toString('utf8').trim()}` : '');
      } else if (expect !== undefined && !data.equals(expect)) {
        rec.error = `${method} ${path}: body differs from what was written (got ${data.length} bytes, ` +
          `expected ${expect.length})`;
      } else {
        rec.ok = true;
      }
    } catch (err) {
      rec.error = `${method} ${path}: ${failureText(err, cancel.signal, requestTimeoutMs)}`;
    }
    rec.ms = micro(elapsed() - t);
    if (cycle <= 0) {
      warmup.push(rec);
      return rec.ok;
    }
    requests.push(rec);
    last[method] = rec.ms;
    if (!rec.ok) errors++;
    return rec.ok;
  };

  /**
   * POST a and b, GET both, PUT new bytes into a (and GET it back, unless putReadback is off), DELETE b. Stops
   * at the first failure. Each body is made just before it is sent, and dropped once it has been compared.
   */
  const cycle = async (n: number): Promise<boolean> => {
    const size = opts.fileSizeKiB * 1024;
    const a = `/soak/${randomBytes(8).toString('hex')}${extension}`;
    const b = `/soak/${randomBytes(8).toString('hex')}${extension}`;
    let body: Buffer | undefined = soakBody(content, size);
    const ok = await (async () => {
      if (!(await call(n, 'POST', a, body))) return false;
      const bodyA = body;
      body = soakBody(content, size);
      if (!(await call(n, 'POST', b, body))) return false;
      const bodyB = body;
      if (!(await call(n, 'GET', a, undefined, bodyA))) return false;
      body = undefined;
      if (!(await call(n, 'GET', b, undefined, bodyB))) return false;
      body = soakBody(content, size);
      if (!(await call(n, 'PUT', a, body))) return false;
      if (putReadback && !(await call(n, 'GET', a, undefined, body))) return false;
      body = undefined;
      return call(n, 'DELETE', b);
    })();
    if (n > 0) {
      if (ok) completed++;
      else failed++;
      progress('cycle');
    }
    return ok;
  };

  // The warm-up, before the first sample, so that neither the process figures nor the latencies include it.
  for (let k = 0; k < warmupCycles; k++) {
    if (opts.stopSignal?.aborted) break;
    if (!(await cycle(-k))) {
      opts.cancelSignal?.removeEventListener('abort', onCancel);
      cancel.abort();
      await agent.close();
      const why = warmup.find((q) => !q.ok)?.error ?? 'a request failed';
      throw new Error(`warm-up cycle ${k + 1} of ${warmupCycles} failed: ${why}`);
    }
  }
  // The highest RSS from here on, however briefly it lasted between two samples (when /proc allows the reset).
  const highWaterReset = opts.serverPid !== undefined && await resetPeakRss(opts.serverPid);
  await sample();
  let sampling = false;
  const ticker = setInterval(() => {
    if (sampling) return; // a slow /proc read must not pile up
    sampling = true;
    void sample().finally(() => {
      sampling = false;
      progress('tick');
    });
  }, opts.sampleIntervalMs ?? 1000);

  const running = new Set<Promise<boolean>>();
  let highWater: number | undefined;
  let stoppedEarly = false;
  try {
    for (let k = 0; opts.cycles !== undefined && k < planned; k++) {
      if (opts.stopSignal?.aborted) {
        stoppedEarly = true;
        break;
      }
      started++;
      await cycle(started); // a cancel ends its requests
    }
    for (let k = 0; opts.cycles === undefined && k < planned; k++) {
      if (!(await sleep(k * intervalMs - elapsed(), opts.stopSignal))) {
        stoppedEarly = true;
        break;
      }
      if (running.size >= concurrency) {
        skipped++;
        continue;
      }
      started++;
      const p = cycle(started).finally(() => running.delete(p));
      running.add(p);
    }
    // The run lasts the whole duration even when the last cycle ended early, so the samples cover it.
    if (opts.cycles === undefined && !stoppedEarly && !(await sleep(opts.durationMs - elapsed(), opts.stopSignal))) {
      stoppedEarly = true;
    }
    const drained = Promise.all(running);
    if (!(await within(drained, drainTimeoutMs, cancel.signal))) {
      cancel.abort();
      await drained;
    }
    await sample();
    if (opts.serverPid !== undefined) highWater = await peakRss(opts.serverPid);
  } finally {
    finished = true;
    clearInterval(ticker);
    opts.cancelSignal?.removeEventListener('abort', onCancel);
    cancel.abort(); // releases the listeners of the per-request signals
    await agent.close();
  }

  const methods = {} as Record<Method, MethodSummary>;
  for (const m of METHODS) {
    const mine = requests.filter((r) => r.method === m);
    methods[m] = {
      ...summarize(mine.filter((r) => r.ok).map((r) => r.ms)),
      requests: mine.length,
      errors: mine.filter((r) => !r.ok).length,
    };
  }
  const result: SoakResult = {
    params: {
      url: baseUrl,
      repetitionsPerMinute: opts.repetitions,
      durationMs: opts.durationMs,
      fileSizeKiB: opts.fileSizeKiB,
      content,
      putReadback,
      requestsPerCycle: requestsPerCycle(putReadback),
      warmupCycles,
      ...(opts.cycles === undefined ? {} : { cycles: opts.cycles }),
      concurrency,
      requestTimeoutMs,
      ...(opts.serverLabel === undefined ? {} : { server: opts.serverLabel }),
    },
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    elapsedMs: micro(elapsed()),
    stoppedEarly,
    cycles: { planned, started, completed, failed, skipped },
    summary: { requests: requests.length, errors, methods },
    requests,
    serverSamples,
  };
  const server = summarizeServer(serverSamples, completed);
  if (server !== undefined) {
    if (highWater !== undefined) {
      server.rssHighWaterBytes = highWater;
      server.rssHighWaterSince = highWaterReset ? 'first sample' : 'process start';
    }
    result.summary.server = server;
  }
  if (samplingError !== undefined) result.samplingError = samplingError;

  if (opts.outDir !== undefined) {
    await mkdir(opts.outDir, { recursive: true });
    await writeFile(join(opts.outDir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
    await writeFile(join(opts.outDir, 'chart.svg'), renderChart(chartSpec(result)));
  }
  return result;
}

function failureText(err: unknown, cancelSignal: AbortSignal, timeoutMs: number): string {
  if (cancelSignal.aborted) return 'cancelled at the end of the run';
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `timed out after ${formatDuration(timeoutMs)}`;
  const code = e?.code ?? e?.cause?.code;
  return `${e?.message ?? String(err)}${code !== undefined && !(e?.message ?? '').includes(code) ? ` (${code})` : ''}`;
}

/** Milliseconds rounded to microseconds: enough, and result.json stays readable. */
function micro(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
