// The soak core end to end: against the real API in-process (memory backend), and against small stand-ins that
// corrupt or withhold responses, to show that such failures are counted.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../src/api/config.js';
import { startServer } from '../src/api/server.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { main } from '../bench/soak.js';
import { formatProgress, formatReport } from '../bench/soak-report.js';
import { alnumBytes, soakBody } from '../bench/data.js';
import { METHODS, REQUESTS_PER_CYCLE, requestsPerCycle, type Progress, type SoakResult } from '../bench/soak-result.js';
import { runSoak } from '../bench/soak-runner.js';

t.test('3 s at 120 cycles/min against the API with the memory backend', async (t) => {
  const store = new MemoryStore();
  const api = await startServer(loadConfig({ BACKEND_TYPE: 'memory', LOG_LEVEL: 'silent' }),
    { store, host: '127.0.0.1', port: 0 });
  t.teardown(() => api.close());
  const out = await mkdtemp(join(tmpdir(), 'soak-test-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));

  const events: Progress[] = [];
  const r = await runSoak({
    url: api.url, repetitions: 120, durationMs: 3000, fileSizeKiB: 4, outDir: out,
    serverPid: process.pid, // the API runs in this process: sample ourselves
    onProgress: (p) => events.push(p),
  });

  // A cycle every 0.5 s for 3 s; one that comes due while the previous still runs is skipped, never queued.
  t.equal(r.cycles.planned, 6);
  t.equal(r.cycles.started + r.cycles.skipped, 6);
  t.ok(r.cycles.started >= 1);
  t.equal(r.cycles.completed, r.cycles.started);
  t.equal(r.cycles.failed, 0);
  t.equal(r.summary.errors, 0);
  t.equal(r.stoppedEarly, false);
  const n = r.cycles.completed;
  for (const m of METHODS) {
    const s = r.summary.methods[m];
    t.equal(s.requests, REQUESTS_PER_CYCLE[m] * n, `${m}: ${REQUESTS_PER_CYCLE[m]} per cycle`);
    t.equal(s.errors, 0);
    t.equal(s.count, s.requests, `${m}: every latency counted`);
    t.ok(s.p50 !== null && s.p95 !== null && s.p99 !== null && s.max !== null && s.p50 <= s.p95 && s.p99 <= s.max);
  }
  t.same({ POST: 2, GET: 3, PUT: 1, DELETE: 1 }, REQUESTS_PER_CYCLE);
  t.equal(r.summary.requests, 7 * n);
  t.equal(r.requests.length, 7 * n);
  t.equal(events.filter((e) => e.event === 'cycle').length, n, 'a progress event per cycle');

  // What the server holds: one commit per write; the first file of each cycle stays (with the PUT bytes), the
  // second is gone.
  t.equal(store.commitCount, 4 * n);
  const kept = r.requests.filter((q) => q.method === 'PUT').map((q) => q.path);
  const deleted = r.requests.filter((q) => q.method === 'DELETE').map((q) => q.path);
  t.same(store.paths(), kept.map((p) => p.slice(1)).sort());
  for (const p of kept) {
    const res = await fetch(api.url + p);
    t.equal((await res.arrayBuffer()).byteLength, 4096, `${p} holds 4 KiB`);
  }
  for (const p of deleted) t.equal((await fetch(api.url + p)).status, 404, `${p} was deleted`);

  // Process samples: one before the first cycle and one after the last, at least.
  t.ok(r.serverSamples.length >= 2);
  t.ok(r.summary.server !== undefined && r.summary.server.rssPeakBytes >= r.summary.server.rssStartBytes);
  t.equal(r.summary.server?.rssGrowthAfterFirstMinutePct, null, 'no growth figure for a run under a minute');

  const json = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as SoakResult;
  t.same(json, JSON.parse(JSON.stringify(r)), 'result.json holds the whole result');
  const svg = await readFile(join(out, 'chart.svg'), 'utf8');
  t.match(svg, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg /);
  t.ok(svg.trimEnd().endsWith('</svg>'));
  for (const m of METHODS) t.ok(svg.includes(`>${m} (${REQUESTS_PER_CYCLE[m] * n})</text>`), `legend for ${m}`);
  t.ok(svg.includes('Server resident memory'));
  t.ok(svg.includes('120 cycles/min for 3s, 4 KiB random files, concurrency 1'));

  const report = formatReport(r);
  t.match(report, new RegExp(`^POST\\s+${2 * n}\\s+0\\s`, 'm'));
  t.match(report, new RegExp(`^GET\\s+${3 * n}\\s+0\\s`, 'm'));
  t.match(report, /server RSS: start [\d.]+ MiB, peak [\d.]+ MiB, end [\d.]+ MiB, growth after the first minute n\/a/);
});

t.test('alnum content is random letters and digits; random content is any bytes', async (t) => {
  for (const size of [0, 1, 61, 4096, 1024 * 1024 + 3]) {
    const b = alnumBytes(size);
    t.equal(b.length, size, `${size} bytes`);
    t.ok(/^[A-Za-z0-9]*$/.test(b.toString('latin1')), `${size} bytes, all alnum`);
  }
  const big = alnumBytes(256 * 1024).toString('latin1');
  t.equal(new Set(big).size, 62, 'every one of the 62 characters occurs');
  t.not(alnumBytes(64).toString(), alnumBytes(64).toString(), 'new bytes each time');
  t.ok(/^[A-Za-z0-9]+$/.test(soakBody('alnum', 1000).toString('latin1')));
  const random = soakBody('random', 64 * 1024);
  t.equal(random.length, 64 * 1024);
  t.ok(new Set(random).size > 62, 'random content is not limited to alnum');
});

t.test('--cycles after --warmup with the PUT not read back: exactly POST POST GET GET PUT DELETE', async (t) => {
  const store = new MemoryStore();
  const api = await startServer(loadConfig({ BACKEND_TYPE: 'memory', LOG_LEVEL: 'silent' }),
    { store, host: '127.0.0.1', port: 0 });
  t.teardown(() => api.close());
  const r = await runSoak({
    url: api.url, repetitions: 1, durationMs: 3_600_000, fileSizeKiB: 2, content: 'alnum', putReadback: false,
    cycles: 3, warmupCycles: 2, serverPid: process.pid,
  });
  t.same(r.cycles, { planned: 3, started: 3, completed: 3, failed: 0, skipped: 0 });
  t.equal(r.stoppedEarly, false, 'the hour-long schedule is not waited for');
  t.same(r.params.requestsPerCycle, { POST: 2, GET: 2, PUT: 1, DELETE: 1 });
  t.same(requestsPerCycle(true), REQUESTS_PER_CYCLE);
  t.match(r.params, { content: 'alnum', putReadback: false, warmupCycles: 2, cycles: 3 });
  for (const m of METHODS) t.equal(r.summary.methods[m].requests, r.params.requestsPerCycle[m] * 3, `${m} per cycle`);
  t.equal(r.requests.length, 18, 'the warm-up is not among the requests');
  t.same(r.requests.slice(0, 6).map((q) => q.method), ['POST', 'POST', 'GET', 'GET', 'PUT', 'DELETE']);
  t.ok(r.requests.every((q) => q.cycle >= 1 && q.cycle <= 3 && q.path.endsWith('.txt')));
  t.equal(store.commitCount, 4 * (3 + 2), 'the warm-up cycles did write');

  // The files that stay (the PUT one of each cycle, warm-up included) hold 2 KiB of letters and digits.
  t.equal(store.paths().length, 5);
  for (const p of store.paths()) {
    const text = await (await fetch(`${api.url}/${p}`)).text();
    t.equal(text.length, 2048);
    t.ok(/^[A-Za-z0-9]+$/.test(text), `${p} is alnum`);
  }

  const sv = r.summary.server;
  t.ok(sv !== undefined && sv.rssHighWaterBytes !== undefined && sv.rssHighWaterBytes >= sv.rssPeakBytes,
    'VmHWM is at least the sampled peak');
  t.ok(sv?.cpuSecondsPerCycle !== null && sv?.cpuSecondsPerCycle !== undefined && sv.cpuSecondsPerCycle >= 0);
  const report = formatReport(r);
  t.match(report, /^warm-up: 2 cycles before these, not counted$/m);
  t.match(report, /s per completed cycle/);
  t.match(report, /^server peak RSS \(VmHWM since /m);
});

/** A stand-in API that stores POSTs but answers GETs wrongly: with one byte flipped, or never. */
async function standIn(get: 'corrupt' | 'hang'): Promise<{ url: string; server: Server }> {
  const files = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      if (req.method === 'POST') {
        if (files.has(path)) res.writeHead(409).end();
        else {
          files.set(path, Buffer.concat(chunks));
          res.writeHead(201).end();
        }
      } else if (req.method === 'GET') {
        const f = files.get(path);
        if (get === 'hang') return; // no answer at all
        if (f === undefined) res.writeHead(404).end();
        else res.writeHead(200).end(Buffer.concat([Buffer.from([(f[0] as number) ^ 1]), f.subarray(1)]));
      } else {
        res.writeHead(405).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

t.test('a GET with different bytes is an error; Ctrl-C (stopSignal) ends the run early', async (t) => {
  const { url, server } = await standIn('corrupt');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const stop = new AbortController();
  const r = await runSoak({
    url, repetitions: 120, durationMs: 60_000, fileSizeKiB: 1, stopSignal: stop.signal,
    onProgress: (p) => {
      if (p.event === 'cycle' && p.cyclesStarted >= 2) stop.abort();
    },
  });
  t.equal(r.stoppedEarly, true);
  t.equal(r.cycles.planned, 120);
  t.equal(r.cycles.started, 2, 'no cycle can start while the second runs, and none after the stop');
  t.equal(r.cycles.failed, 2);
  t.equal(r.cycles.completed, 0);
  // Each cycle stops at its first failure: two POSTs, one GET.
  t.equal(r.summary.methods.POST.requests, 4);
  t.equal(r.summary.methods.POST.errors, 0);
  t.equal(r.summary.methods.GET.requests, 2);
  t.equal(r.summary.methods.GET.errors, 2);
  t.equal(r.summary.methods.GET.count, 0);
  t.equal(r.summary.methods.GET.p50, null);
  t.equal(r.summary.methods.PUT.requests, 0);
  t.equal(r.summary.errors, 2);
  const failures = r.requests.filter((q) => !q.ok);
  t.equal(failures.length, 2);
  for (const f of failures) {
    t.equal(f.status, 200);
    t.match(f.error, /^GET \/soak\/[0-9a-f]{16}\.bin: body differs from what was written \(got 1024 bytes, expected 1024\)$/);
  }
  t.match(formatReport(r), /error at 0:0\d \(cycle 1\): GET .* body differs/);
});

t.test('a warm-up cycle that fails ends the run before any measurement', async (t) => {
  const { url, server } = await standIn('corrupt');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await t.rejects(runSoak({ url, repetitions: 1, durationMs: 60_000, fileSizeKiB: 1, cycles: 8, warmupCycles: 2 }),
    /^warm-up cycle 1 of 2 failed: GET \/soak\/[0-9a-f]{16}\.bin: body differs/);
});

t.test('a request that never gets an answer times out; a cycle still running at the end is cancelled', async (t) => {
  const { url, server } = await standIn('hang');
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const stop = new AbortController();
  const timedOut = await runSoak({
    url, repetitions: 120, durationMs: 60_000, fileSizeKiB: 1, requestTimeoutMs: 200, stopSignal: stop.signal,
    onProgress: (p) => p.event === 'cycle' && stop.abort(),
  });
  t.equal(timedOut.cycles.started, 1);
  t.equal(timedOut.summary.errors, 1);
  t.match(timedOut.requests.find((q) => !q.ok), { method: 'GET', status: null, error: /: timed out after 200ms$/ });

  // A single cycle is due (duration shorter than the interval); its GET hangs past the end of the drain time.
  const cancelled = await runSoak({ url, repetitions: 120, durationMs: 100, fileSizeKiB: 1, drainTimeoutMs: 200 });
  t.equal(cancelled.cycles.planned, 1);
  t.equal(cancelled.stoppedEarly, false);
  t.equal(cancelled.cycles.failed, 1);
  t.match(cancelled.requests.find((q) => !q.ok), { method: 'GET', error: /: cancelled at the end of the run$/ });
});

t.test('progress line', async (t) => {
  t.equal(formatProgress({
    event: 'tick', elapsedMs: 83_400, cyclesStarted: 6, cyclesCompleted: 5, cyclesSkipped: 1, errors: 2,
    last: { POST: 12.4, GET: 3.6 }, rssBytes: 85 * 1024 * 1024,
  }), '[1:23] cycles 5/6, 1 skipped | errors 2 | POST 12ms GET 4ms PUT - DELETE - | RSS 85.0 MiB');
});

t.test('the tool refuses bad flags with exit code 2', async (t) => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(['--duration', '10']);
  } finally {
    process.stderr.write = write;
  }
  t.equal(code, 2);
  t.match(written.join(''), /^soak: --duration: bad duration "10"; use a number with a unit/);
});
