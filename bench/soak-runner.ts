// The soak run: cycles of POST, GET, PUT, DELETE with random files, started on a fixed schedule, against a
// server at a URL; latencies and (for a local process) its memory and CPU are recorded. The CLI is soak.ts.

import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { formatDuration } from './args.js';
import { readProcSample } from './proc.js';
import { chartSpec } from './soak-chart.js';
import {
  METHODS, type Method, type MethodSummary, type Progress, type RequestSample, type ServerSample, type SoakResult,
  summarizeServer,
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
  const concurrency = opts.concurrency ?? 1;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
  const drainTimeoutMs = opts.drainTimeoutMs ?? 60_000;
  const intervalMs = 60_000 / opts.repetitions;
  const planned = Math.max(1, Math.ceil(opts.durationMs / intervalMs - 1e-9));
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

  /** One request; true when it got the expected status (and, for a GET, exactly the expected bytes). */
  const call = async (cycle: number, method: Method, path: string, body?: Buffer, expect?: Buffer): Promise<boolean> => {
    const t = elapsed();
    const rec: RequestSample = { cycle, method, path, t: micro(t), ms: 0, status: null, ok: false };
    try {
      const res = await request(baseUrl + path, {
        method, dispatcher: agent,
        signal: AbortSignal.any([cancel.signal, AbortSignal.timeout(requestTimeoutMs)]),
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/octet-stream' } }),
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
    requests.push(rec);
    last[method] = rec.ms;
    if (!rec.ok) errors++;
    return rec.ok;
  };

  /** POST a and b, GET both, PUT new bytes into a and GET it back, DELETE b. Stops at the first failure. */
  const cycle = async (n: number): Promise<void> => {
    const size = opts.fileSizeKiB * 1024;
    const a = `/soak/${randomBytes(8).toString('hex')}.bin`;
    const b = `/soak/${randomBytes(8).toString('hex')}.bin`;
    const bodyA = randomBytes(size);
    const bodyB = randomBytes(size);
    const newA = randomBytes(size);
    const ok =
      (await call(n, 'POST', a, bodyA)) &&
      (await call(n, 'POST', b, bodyB)) &&
      (await call(n, 'GET', a, undefined, bodyA)) &&
      (await call(n, 'GET', b, undefined, bodyB)) &&
      (await call(n, 'PUT', a, newA)) &&
      (await call(n, 'GET', a, undefined, newA)) &&
      (await call(n, 'DELETE', b));
    if (ok) completed++;
    else failed++;
    progress('cycle');
  };

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

  const running = new Set<Promise<void>>();
  let stoppedEarly = false;
  try {
    for (let k = 0; k < planned; k++) {
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
    if (!stoppedEarly && !(await sleep(opts.durationMs - elapsed(), opts.stopSignal))) stoppedEarly = true;
    const drained = Promise.all(running);
    if (!(await within(drained, drainTimeoutMs, cancel.signal))) {
      cancel.abort();
      await drained;
    }
    await sample();
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
  const server = summarizeServer(serverSamples);
  if (server !== undefined) result.summary.server = server;
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
