// The soak test: a port of the earlier server's uptime test. Cycles of POST, GET, PUT, DELETE with random files,
// started on a fixed schedule; latencies and (for a server we started) its memory and CPU are recorded, summarized
// and drawn. `runSoak` is the core and takes a URL; `main` adds flags, an own server, Ctrl-C and the terminal.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { ArgsError, USAGE, formatDuration, parseSoakArgs, type BackendChoice } from './args.js';
import { readProcSample, type ProcSample } from './proc-stats.js';
import { growthPercent, summarize, type Summary } from './stats.js';
import { formatClock, renderChart, type ChartSpec, type Series } from './svg-chart.js';
import { isEntryPoint, runTool } from '../entry-point.js';
import { freePort } from './free-port.js';
import { SERVER_MALLOC_ENV, SERVER_NODE_FLAGS, startCommand } from '../api/launch.js';

export type Method = 'POST' | 'GET' | 'PUT' | 'DELETE';
export const METHODS: readonly Method[] = ['POST', 'GET', 'PUT', 'DELETE'];
/** Requests of each method in one complete cycle (the PUT is read back, hence three GETs). */
export const REQUESTS_PER_CYCLE: Readonly<Record<Method, number>> = { POST: 2, GET: 3, PUT: 1, DELETE: 1 };
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
}

export interface SoakResult {
  params: {
    url: string;
    repetitionsPerMinute: number;
    durationMs: number;
    fileSizeKiB: number;
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

export function summarizeServer(samples: readonly ServerSample[]): ServerSummary | undefined {
  const first = samples[0];
  const end = samples[samples.length - 1];
  if (first === undefined || end === undefined) return undefined;
  let peak = 0;
  for (const s of samples) peak = Math.max(peak, s.rssBytes);
  const afterMinute = samples.find((s) => s.t >= 60_000);
  return {
    samples: samples.length,
    rssStartBytes: first.rssBytes,
    rssPeakBytes: peak,
    rssEndBytes: end.rssBytes,
    rssAfterFirstMinuteBytes: afterMinute?.rssBytes ?? null,
    rssGrowthAfterFirstMinutePct: afterMinute === undefined ? null : growthPercent(afterMinute.rssBytes, end.rssBytes),
    cpuSeconds: end.cpuSeconds - first.cpuSeconds,
    childCpuSeconds: end.childCpuSeconds - first.childCpuSeconds,
  };
}

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
    title: `gitrest soak: ${p.repetitionsPerMinute} cycles/min for ${formatDuration(p.durationMs)}, ` +
      `${p.fileSizeKiB} KiB files, concurrency ${p.concurrency}`,
    subtitle: `${p.server ?? 'server'} at ${p.url}; started ${r.startedAt}; ${r.cycles.started} cycles, ` +
      `${r.summary.requests} requests, ${r.summary.errors} errors${r.stoppedEarly ? '; stopped early' : ''}`,
    xMax: r.elapsedMs / 1000,
    panels,
  };
}

const MiB = 1024 * 1024;

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
    lines.push(`server CPU: ${sv.cpuSeconds.toFixed(2)} s (+ ${sv.childCpuSeconds.toFixed(2)} s in finished subprocesses)`);
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

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (v: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(true), Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** True if `p` settles within `ms` (and before `signal` aborts). Leaves no timer behind either way. */
async function within(p: Promise<unknown>, ms: number, signal?: AbortSignal): Promise<boolean> {
  const giveUp = new AbortController();
  const onAbort = (): void => giveUp.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) giveUp.abort();
  try {
    return await Promise.race([p.then(() => true, () => true), sleep(ms, giveUp.signal).then(() => false)]);
  } finally {
    giveUp.abort();
    signal?.removeEventListener('abort', onAbort);
  }
}

// ---- The tool: an own server, Ctrl-C, the terminal. ----

interface OwnServer {
  url: string;
  pid: number;
  dataDir: string;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL if it does not exit in time. Removes the data directory unless `keepData`. */
  stop(keepData: boolean): Promise<void>;
}

async function startOwnServer(backend: BackendChoice, logPath: string, signal: AbortSignal): Promise<OwnServer> {
  const script = fileURLToPath(new URL('../api/server.js', import.meta.url));
  if (!existsSync(script)) throw new Error(`${script} does not exist; run \`npm run build\` first, or pass --url`);
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'gitrest-soak-'));
  // Started as `npm start` starts it (launch.ts); malloc settings in our own environment win.
  const env: NodeJS.ProcessEnv = {
    ...SERVER_MALLOC_ENV, ...process.env, PORT: String(port), HOST: '127.0.0.1', BACKEND_TYPE: backend, DATA_DIR: dataDir,
  };
  delete env.GIT_REPO_URL; // the embedded default repository
  const log = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    // Its own process group, so that Ctrl-C in the terminal reaches only us: we stop the cycles first, then it.
    child = spawn(process.execPath, [...SERVER_NODE_FLAGS, script], { env, stdio: ['ignore', log, log], detached: true });
  } finally {
    closeSync(log);
  }
  let exited = false;
  // Should we die without stopping it (an uncaught error, process.exit), it must not outlive us.
  const killOnExit = (): void => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exitedP = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      process.off('exit', killOnExit);
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });
  const stop = async (keepData: boolean): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      if (!(await within(exitedP, 30_000))) {
        child.kill('SIGKILL');
        await exitedP;
      }
    }
    if (!keepData) await rm(dataDir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const server: OwnServer = {
    url, pid: child.pid ?? -1, dataDir, exited: exitedP, hasExited: () => exited, stop,
  };
  // Bounded wait for /healthz.
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (exited) {
      await stop(true);
      throw new Error(`the server exited during startup; last lines of ${logPath}:\n${tail(logPath, 15)}`);
    }
    if (signal.aborted) {
      await stop(false);
      throw new Error('interrupted while the server was starting');
    }
    if (performance.now() > deadline) {
      await stop(true);
      throw new Error(`the server did not answer ${url}/healthz within 60 s; see ${logPath}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return server;
    } catch {
      // not listening yet
    }
    await sleep(200, signal);
  }
}

function tail(path: string, n: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  let args;
  try {
    args = parseSoakArgs(argv);
  } catch (err) {
    if (!(err instanceof ArgsError)) throw err;
    process.stderr.write(`soak: ${err.message}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const outDir = args.outDir ?? join('soak-results', new Date().toISOString().replace(/[:.]/g, '-'));
  await mkdir(outDir, { recursive: true });

  const stop = new AbortController();
  const cancel = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('\nsoak: stopping; waiting for running cycles (Ctrl-C again to cancel them)\n');
      stop.abort();
    } else if (interrupts === 2) {
      process.stderr.write('\nsoak: cancelling running requests\n');
      cancel.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);

  let server: OwnServer | undefined;
  let stopping = false; // we are stopping the server ourselves
  let result: SoakResult | undefined;
  const tty = process.stdout.isTTY === true;
  let lineOpen = false;
  try {
    if (args.url === undefined) {
      const logPath = join(outDir, 'server.log');
      process.stdout.write(`starting the server as npm start does (${startCommand()}, backend ${args.backend}), log in ${logPath}\n`);
      try {
        server = await startOwnServer(args.backend, logPath, stop.signal);
      } catch (err) {
        process.stderr.write(`soak: ${(err as Error).message}\n`);
        return 1;
      }
      const s = server;
      void s.exited.then(() => {
        if (!stopping && !stop.signal.aborted) {
          process.stderr.write(`\nsoak: the server exited during the run; see ${logPath}\n`);
          stop.abort();
        }
      });
    }
    const url = args.url ?? (server as OwnServer).url;
    process.stdout.write(`soak: ${args.repetitions} cycles/min for ${formatDuration(args.durationMs)}, ` +
      `${args.fileSizeKiB} KiB files, concurrency ${args.concurrency}, against ${url}\n`);
    const opts: SoakOptions = {
      url,
      repetitions: args.repetitions,
      durationMs: args.durationMs,
      fileSizeKiB: args.fileSizeKiB,
      concurrency: args.concurrency,
      requestTimeoutMs: args.requestTimeoutMs,
      outDir,
      stopSignal: stop.signal,
      cancelSignal: cancel.signal,
      serverLabel: server === undefined ? 'external server' : `own server, backend ${args.backend}`,
      onProgress: (p) => {
        if (tty) {
          process.stdout.write(`\r${formatProgress(p)}\x1b[K`);
          lineOpen = true;
        } else if (p.event === 'cycle') {
          process.stdout.write(`${formatProgress(p)}\n`);
        }
      },
    };
    if (server !== undefined) opts.serverPid = server.pid;
    result = await runSoak(opts);
  } finally {
    if (lineOpen) process.stdout.write('\n');
    if (server !== undefined) {
      const keep = result === undefined || result.summary.errors > 0;
      stopping = true;
      await server.stop(keep);
      if (keep) process.stdout.write(`server data kept in ${server.dataDir}\n`);
    }
    process.off('SIGINT', onSigint);
  }
  process.stdout.write(`${formatReport(result)}\nwrote ${join(outDir, 'result.json')} and ${join(outDir, 'chart.svg')}\n`);
  return result.summary.errors > 0 ? 1 : 0;
}

if (isEntryPoint(import.meta.url)) runTool('soak', main, { exit: false });
