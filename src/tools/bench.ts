// End-to-end benchmark of the API against a local git server, with the raw Git requests as a floor.
//
//   node dist/tools/bench.js [--quick] [--sizes 1k,1m,10m,100m] [--out BENCH.md] ...   (--help for all flags)
//
// One run: a temp directory of bare repositories served by the real `git http-backend` (startHttpBackend, in
// this process, so its request counters give the round trips), and the API as child processes
// (`node dist/api/server.js`, one per repository: the server serves one repository) so that the server's peak
// RSS can be read from /proc/<pid>/status (VmHWM, reset at the start of each phase); --in-process runs the API in
// this process instead, for quick checks. Requests are sequential except in the concurrent-writers phase, so that
// the counter delta around a request is that request's.
// Markdown goes to stdout (and --out); progress goes to stderr.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { DEFAULT_MAX_BODY_BYTES } from '../api/config.js';
import { startCommand } from '../api/launch.js';
import { ensureBareRepo } from '../embedded/default-repo.js';
import { startHttpBackend, type BackendCounts, type HttpBackendServer } from '../embedded/http-backend.js';
import { ArgsError, formatDuration, parseDuration, parseFlags } from './args.js';
import { benchData, DATA_DESCRIPTIONS, DATA_KINDS, type DataKind } from './bench-data.js';
import { FloorBranch, RawGit } from './bench-floor.js';
import { MiB, markdownTable, mibCell, parseSize, sizeLabel, type Cell } from './bench-markdown.js';
import { peakRss, resetPeakRss } from './bench-proc.js';
import { directories, disableAutoGc, fileContent, filePath, importFiles, type RepoShape } from './bench-repos.js';
import { startApiInProcess, startApiProcess, type ApiProcess } from './bench-server.js';
import { percentile } from './stats.js';
import { hashObject } from '../pack/oid.js';
import { isEntryPoint, runTool } from '../entry-point.js';

export type Method = 'POST' | 'GET' | 'PUT' | 'DELETE';
export const METHODS: readonly Method[] = ['POST', 'GET', 'PUT', 'DELETE'];
const BRANCH = 'main';
const FLOOR_REF = 'refs/heads/floor';
/** Bound on requests per writer in the concurrent phase, whatever the duration. */
const MAX_WRITES_PER_WRITER = 100_000;
/** Files read and rewritten in the repository-size phase: as many as the small repository has. */
const SMALL_REPO: RepoShape = { files: 10, perDir: 1 };
const BIG_PER_DIR = 100;
/** One repository, and one API server, per kind of phase. */
const REPOS = ['writers', 'ops', 'small', 'big'] as const;

export interface BenchArgs {
  help: boolean;
  sizes: number[];
  /** Repetitions per size; undefined = scaled to the size (see repsFor). */
  reps?: number;
  writers: number[];
  writersDurationMs: number;
  bigFiles: number;
  out?: string;
  keep: boolean;
  /** Run the API in this process (quick checks; the peak RSS is then the benchmark's own). */
  inProcess: boolean;
  /** What the bodies hold. */
  data: DataKind;
}

export const USAGE = `Usage: node dist/tools/bench.js [flags]

Runs the API (node dist/api/server.js) against a local git http-backend and prints Markdown tables: round
trips and p50 latency per operation and size with the raw Git requests as a floor, writes/s with concurrent
writers, GET/PUT on a big repository against a small one, and the server's peak RSS per phase.

  --quick                  sizes 1 KiB and 1 MiB only, 2 s per writers step
  --sizes LIST             body sizes, e.g. 1k,1m,10m,100m (default)
  --reps N                 repetitions per size (default: 20 up to 64 KiB, 10 up to 1 MiB, 5 up to 10 MiB, else 2)
  --writers LIST           concurrent writers, e.g. 1,8,32 (default)
  --writers-duration D     how long each writers step runs, e.g. 5s (default)
  --big-files N            files in the big repository, 100 per directory (default 100000)
  --out FILE               also write the Markdown to FILE
  --keep                   keep the temp directory (repositories and server logs)
  --data KIND              bodies: mixed (default: half random, half text), random, or text
  --in-process             run the API inside the benchmark process instead of node dist/api/server.js
                           (for quick checks: the peak RSS is then the benchmark's own)
  -h, --help               show this help
`;

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const values = parseFlags(argv, {
    quick: { type: 'boolean' },
    sizes: { type: 'string' },
    reps: { type: 'string' },
    writers: { type: 'string' },
    'writers-duration': { type: 'string' },
    'big-files': { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'boolean' },
    'in-process': { type: 'boolean' },
    data: { type: 'string' },
  });
  const str = (name: string) => values[name] as string | undefined;
  const quick = values.quick === true;
  const args: BenchArgs = {
    help: values.help === true,
    sizes: list('--sizes', str('sizes') ?? (quick ? '1k,1m' : '1k,1m,10m,100m'), parseSize),
    writers: list('--writers', str('writers') ?? '1,8,32', (s) => wholeNumber(s, 1, 1024)),
    writersDurationMs: duration('--writers-duration', str('writers-duration') ?? (quick ? '2s' : '5s')),
    bigFiles: numberFlag('--big-files', str('big-files') ?? '100000', 10, 1_000_000),
    keep: values.keep === true,
    inProcess: values['in-process'] === true,
    data: dataKind(str('data')),
  };
  const reps = str('reps');
  if (reps !== undefined) args.reps = numberFlag('--reps', reps, 1, 1000);
  const out = str('out');
  if (out !== undefined) {
    if (out.trim() === '') throw new ArgsError('--out needs a file name');
    args.out = out;
  }
  return args;
}

function dataKind(raw: string | undefined): DataKind {
  if (raw === undefined) return 'mixed';
  if (!(DATA_KINDS as readonly string[]).includes(raw)) {
    throw new ArgsError(`--data must be one of ${DATA_KINDS.join(', ')} (got ${JSON.stringify(raw)})`);
  }
  return raw as DataKind;
}

function wholeNumber(s: string, min: number, max: number): number | undefined {
  const n = /^\d+$/.test(s.trim()) ? Number(s) : NaN;
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

function numberFlag(flag: string, raw: string, min: number, max: number): number {
  const n = wholeNumber(raw, min, max);
  if (n === undefined) throw new ArgsError(`${flag} must be a whole number from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  return n;
}

function list(flag: string, raw: string, parse: (s: string) => number | undefined): number[] {
  const out = raw.split(',').map((s) => {
    const v = parse(s);
    if (v === undefined) throw new ArgsError(`${flag}: bad item ${JSON.stringify(s)} in ${JSON.stringify(raw)}`);
    return v;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

function duration(flag: string, raw: string): number {
  try {
    return parseDuration(raw);
  } catch (err) {
    throw new ArgsError(`${flag}: ${(err as Error).message}`);
  }
}

/** Repetitions for a body size: fewer for big bodies, so that every size costs about the same. */
export function repsFor(size: number, override?: number): number {
  if (override !== undefined) return override;
  if (size <= 64 * 1024) return 20;
  if (size <= MiB) return 10;
  if (size <= 10 * MiB) return 5;
  return 2;
}

// ---- results ----

export interface Samples {
  ms: number[];
  /** Git HTTP requests the operation caused, one entry per sample. */
  roundTrips: number[];
}

export interface SizeResult {
  size: number;
  reps: number;
  ours: Record<Method, Samples>;
  floor: Record<Method, Samples>;
  peakRssBytes?: number;
}

export interface WritersResult {
  writers: number;
  seconds: number;
  ok: number;
  errors: number;
  /** receive-pack POSTs seen by the git server. */
  pushes: number;
  roundTrips: number;
  ms: number[];
  peakRssBytes?: number;
}

export interface RepoResult {
  label: string;
  files: number;
  dirs: number;
  get: Samples;
  put: Samples;
  /** The same reads and writes as raw Git requests (writes on another branch from the same commit). */
  floorGet: Samples;
  floorPut: Samples;
  peakRssBytes?: number;
}

export interface BenchResult {
  sizes: SizeResult[];
  writers: WritersResult[];
  repos: RepoResult[];
  setup: string[];
  seconds: number;
}

const emptySamples = (): Samples => ({ ms: [], roundTrips: [] });
const perMethod = (): Record<Method, Samples> => ({
  POST: emptySamples(), GET: emptySamples(), PUT: emptySamples(), DELETE: emptySamples(),
});

// ---- I/O helpers ----

interface Response {
  status: number;
  body: Buffer;
}

async function call(agent: Agent, method: Method, url: string, body?: Buffer): Promise<Response> {
  const res = await request(url, { method, dispatcher: agent, ...(body === undefined ? {} : { body }) });
  const parts: Buffer[] = [];
  for await (const part of res.body) parts.push(part as Buffer);
  return { status: res.statusCode, body: Buffer.concat(parts) };
}

/** Runs `fn`, recording its duration and the git requests it caused (sequential use only). */
async function sample<T>(into: Samples, counts: () => BackendCounts, fn: () => Promise<T>): Promise<T> {
  const before = counts().total;
  const start = performance.now();
  const value = await fn();
  into.ms.push(performance.now() - start);
  into.roundTrips.push(counts().total - before);
  return value;
}

function expectStatus(what: string, res: Response, status: number): void {
  if (res.status !== status) {
    throw new Error(`${what}: HTTP ${res.status}, expected ${status}: ${res.body.subarray(0, 300).toString()}`);
  }
}

function toStderr(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

// ---- phases ----

interface Ctx {
  data: DataKind;
  /** The temp directory holding `<repo>.git`. */
  root: string;
  agent: Agent;
  backend: HttpBackendServer;
  progress: (line: string) => void;
}

async function writersPhase(ctx: Ctx, server: ApiProcess, repo: string, writers: number,
  durationMs: number): Promise<WritersResult> {
  await resetPeakRss(server.pid);
  const before = ctx.backend.counts(repo);
  const ms: number[] = [];
  let ok = 0;
  let errors = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    for (let n = 0; n < MAX_WRITES_PER_WRITER && performance.now() < deadline; n++) {
      const t = performance.now();
      try {
        const res = await call(ctx.agent, 'POST', `${server.url}/writers/c${writers}/w${w}/n${n}`, benchData(ctx.data, 1024, n));
        if (res.status === 201) ok++;
        else errors++;
      } catch {
        errors++;
      }
      ms.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  const after = ctx.backend.counts(repo);
  return {
    writers, seconds, ok, errors, ms,
    pushes: after['receive-pack'] - before['receive-pack'],
    roundTrips: after.total - before.total,
    ...rss(await peakRss(server.pid)),
  };
}

function rss(bytes: number | undefined): { peakRssBytes?: number } {
  return bytes === undefined ? {} : { peakRssBytes: bytes };
}

async function sizePhase(ctx: Ctx, server: ApiProcess, repo: string, raw: RawGit, floor: FloorBranch,
  size: number, reps: number): Promise<SizeResult> {
  await resetPeakRss(server.pid);
  const counts = () => ctx.backend.counts(repo);
  const result: SizeResult = { size, reps, ours: perMethod(), floor: perMethod() };
  const label = sizeLabel(size).replace(' ', '');
  for (let rep = 0; rep < reps; rep++) {
    ctx.progress(`${sizeLabel(size)}: repetition ${rep + 1} of ${reps}`);
    const first = benchData(ctx.data, size, 2 * rep + 1);
    const second = benchData(ctx.data, size, 2 * rep + 2);
    const url = `${server.url}/ops/${label}/r${rep}`;
    const { ours } = result;
    expectStatus('POST', await sample(ours.POST, counts, () => call(ctx.agent, 'POST', url, first)), 201);
    const got = await sample(ours.GET, counts, () => call(ctx.agent, 'GET', url));
    expectStatus('GET', got, 200);
    if (!got.body.equals(first)) throw new Error(`GET ${url} returned other bytes than were written`);
    expectStatus('PUT', await sample(ours.PUT, counts, () => call(ctx.agent, 'PUT', url, second)), 204);
    expectStatus('DELETE', await sample(ours.DELETE, counts, () => call(ctx.agent, 'DELETE', url)), 204);

    // The same operations, raw; each pack is built before its clock starts. The bodies are new ones of the same
    // kind and size: bytes the repository already holds would spare git the work of storing them.
    const path = `floor/${label}/r${rep}`;
    const post = await floor.prepare(path, benchData(ctx.data, size, 2 * rep + 1001));
    await sample(result.floor.POST, counts, () => raw.receivePack(post.body, FLOOR_REF));
    post.done();
    const blob = post.blob as string;
    await sample(result.floor.GET, counts, async () => {
      if ((await raw.lsRef(FLOOR_REF)) === undefined) throw new Error(`${FLOOR_REF} is missing`);
      await raw.fetchObject(blob);
    });
    const put = await floor.prepare(path, benchData(ctx.data, size, 2 * rep + 1002));
    await sample(result.floor.PUT, counts, () => raw.receivePack(put.body, FLOOR_REF));
    put.done();
    const del = await floor.prepare(path, null);
    await sample(result.floor.DELETE, counts, () => raw.receivePack(del.body, FLOOR_REF));
    del.done();
  }
  return { ...result, ...rss(await peakRss(server.pid)) };
}

async function repoPhase(ctx: Ctx, server: ApiProcess, repo: string, shape: RepoShape, reps: number): Promise<RepoResult> {
  const counts = () => ctx.backend.counts(repo);
  const floor = await repoFloor(ctx, repo, shape, reps);
  await resetPeakRss(server.pid);
  // Learns the remote's capabilities and loads the branch tip and root tree, untimed; the files below are then
  // read from directories this process has not seen.
  expectStatus('POST (warm-up)', await call(ctx.agent, 'POST', `${server.url}/warm-up/file`, Buffer.from('warm-up\n')), 201);
  const result: RepoResult = {
    label: repo, files: shape.files, dirs: directories(shape),
    get: emptySamples(), put: emptySamples(), floorGet: emptySamples(), floorPut: emptySamples(),
  };
  // Each request of ours is followed by its floor, so that whatever else slows the machine weighs on both.
  for (let i = 0; i < reps; i++) {
    const res = await sample(result.get, counts, () => call(ctx.agent, 'GET', `${server.url}/${filePath(i, 0)}`));
    expectStatus(`GET ${filePath(i, 0)}`, res, 200);
    if (!res.body.equals(fileContent(i, 0))) throw new Error(`GET ${filePath(i, 0)} returned other bytes`);
    await floor.get(i, result.floorGet);
  }
  for (let i = 0; i < reps; i++) {
    const res = await sample(result.put, counts, () => call(ctx.agent, 'PUT', `${server.url}/${filePath(i, 0)}`, benchData(ctx.data, 1024, i)));
    expectStatus(`PUT ${filePath(i, 0)}`, res, 204);
    await floor.put(i, result.floorPut);
  }
  return { ...result, ...rss(await peakRss(server.pid)) };
}

/**
 * The repository phase's floor, as raw Git requests: a GET is ls-refs, the fetch of the directory's tree
 * (tree:0) and the fetch of the blob by id; a PUT goes to a branch started at the imported commit, so that
 * its pushes carry what the API's do (blob, directory tree, root tree of the same size, commit) and the server
 * checks them against the same history.
 */
async function repoFloor(ctx: Ctx, repo: string, shape: RepoShape, reps: number): Promise<{
  get(i: number, into: Samples): Promise<void>;
  put(i: number, into: Samples): Promise<void>;
}> {
  const repoDir = join(ctx.root, `${repo}.git`);
  const git = async (...argv: string[]): Promise<string> =>
    (await promisify(execFile)('git', ['--git-dir', repoDir, ...argv], { maxBuffer: 1 << 20 })).stdout.trim();
  const imported = await git('rev-list', '--max-parents=0', BRANCH); // fast-import's one commit
  const files = new Map<string, string>();
  for (let d = 0; d < directories(shape); d++) {
    for (let f = 0; f < Math.min(shape.perDir, shape.files - d * shape.perDir); f++) {
      files.set(filePath(d, f), hashObject('blob', fileContent(d, f)));
    }
  }
  const branch = new FloorBranch(FLOOR_REF);
  if (branch.adopt(imported, files) !== (await git('rev-parse', `${imported}^{tree}`))) {
    throw new Error(`${repo}: the floor's trees differ from the imported commit's`);
  }
  await git('update-ref', FLOOR_REF, imported);
  // The tree of every directory the phase reads, in one call.
  const dirs = Array.from({ length: reps }, (_, i) => filePath(i, 0).split('/')[0]!);
  const dirTrees = (await git('rev-parse', ...dirs.map((d) => `${imported}:${d}`))).split('\n');
  const raw = new RawGit(`${ctx.backend.url}/${repo}.git`, ctx.agent);
  const counts = () => ctx.backend.counts(repo);
  return {
    async get(i, into) {
      const path = filePath(i, 0);
      const dirTree = dirTrees[i]!;
      await sample(into, counts, async () => {
        if ((await raw.lsRef(FLOOR_REF)) === undefined) throw new Error(`${FLOOR_REF} is missing`);
        await raw.fetchObject(dirTree, 'tree:0');
        await raw.fetchObject(files.get(path)!);
      });
    },
    async put(i, into) {
      const push = await branch.prepare(filePath(i, 0), benchData(ctx.data, 1024, 1000 + i));
      await sample(into, counts, () => raw.receivePack(push.body, FLOOR_REF));
      push.done();
    },
  };
}

async function gitVersion(): Promise<string> {
  try {
    return (await promisify(execFile)('git', ['--version'])).stdout.trim();
  } catch {
    return 'git (version unknown)';
  }
}

export async function runBench(args: BenchArgs, progress: (line: string) => void = toStderr): Promise<BenchResult> {
  const t0 = performance.now();
  const root = await mkdtemp(join(tmpdir(), 'gitrest-bench-'));
  const servers: ApiProcess[] = [];
  let backend: HttpBackendServer | undefined;
  const agent = new Agent({ connections: 64, headersTimeout: 300_000, bodyTimeout: 300_000 });
  try {
    const bigShape: RepoShape = { files: args.bigFiles, perDir: BIG_PER_DIR };
    progress(`creating repositories in ${root} (big one: ${args.bigFiles} files)`);
    for (const name of REPOS) {
      await ensureBareRepo(join(root, `${name}.git`), BRANCH);
      await disableAutoGc(join(root, `${name}.git`));
    }
    await importFiles(join(root, 'small.git'), BRANCH, SMALL_REPO);
    const importStart = performance.now();
    await importFiles(join(root, 'big.git'), BRANCH, bigShape);
    const importSeconds = (performance.now() - importStart) / 1000;

    backend = await startHttpBackend({
      projectRoot: root,
      port: 0,
      // The machine's own git configuration stays out of the measurement.
      env: { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    });
    const maxSize = Math.max(...args.sizes);
    const env = {
      MAX_BODY_BYTES: String(Math.max(DEFAULT_MAX_BODY_BYTES, maxSize + MiB)),
      GIT_TIMEOUT_MS: '300000',
    };
    progress('starting the API processes');
    const start = (repo: string) => (args.inProcess ? startApiInProcess : startApiProcess)({
      repoUrl: `${backend!.url}/${repo}.git`, branch: BRANCH, logPath: join(root, `api-${repo}.log`), env,
    });
    // All settled before going on, so that `finally` stops every server that did start.
    const started = await Promise.allSettled(REPOS.map(start));
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const [writersApi, ops, small, big] = servers as [ApiProcess, ApiProcess, ApiProcess, ApiProcess];
    const ctx: Ctx = { data: args.data, root, agent, backend, progress };

    // Warm-up, untimed: the first requests learn the remote's capabilities and create the branches.
    for (const api of [writersApi, ops]) {
      expectStatus('POST /README', await call(agent, 'POST', `${api.url}/README`, Buffer.from('benchmark\n')), 201);
      expectStatus('GET /README', await call(agent, 'GET', `${api.url}/README`), 200);
    }
    const raw = new RawGit(`${backend.url}/ops.git`, agent);
    const floor = new FloorBranch(FLOOR_REF);
    const seed = await floor.prepare('README', Buffer.from('benchmark\n'));
    await raw.receivePack(seed.body, FLOOR_REF);
    seed.done();

    const writers: WritersResult[] = [];
    for (const n of args.writers) {
      progress(`${n} concurrent writers for ${formatDuration(args.writersDurationMs)}`);
      writers.push(await writersPhase(ctx, writersApi, 'writers', n, args.writersDurationMs));
    }
    // Before the large bodies, whose writes the kernel is still flushing to disk for a while after them.
    const repoReps = Math.min(args.reps ?? 10, directories(SMALL_REPO), directories(bigShape));
    progress('repository size');
    const repos = [
      await repoPhase(ctx, small, 'small', SMALL_REPO, repoReps),
      await repoPhase(ctx, big, 'big', bigShape, repoReps),
    ];

    const sizes: SizeResult[] = [];
    for (const size of args.sizes) sizes.push(await sizePhase(ctx, ops, 'ops', raw, floor, size, repsFor(size, args.reps)));

    const cpu = cpus();
    const setup = [
      `Node ${process.version}, ${await gitVersion()}, ${cpu[0]?.model ?? 'unknown CPU'} (${cpu.length} CPUs), all on 127.0.0.1.`,
      (args.inProcess
        ? 'API: in the benchmark process (--in-process), one server per repository (BACKEND_TYPE=git, log lines ' +
          'formatted and dropped); peak RSS figures are the whole benchmark process\'s'
        : `API: a child process per repository, started as \`npm start\` starts it (\`${startCommand()}\`; ` +
          'BACKEND_TYPE=git, LOG_LEVEL=info, log to ' +
          'a file)') +
        '; git server: the real `git http-backend` behind startHttpBackend (one CGI per request); client: undici ' +
        'with keep-alive.',
      `Bodies: ${DATA_DESCRIPTIONS[args.data]}.`,
      'Repositories: one per phase kind (writers, operations, small, big), each with its own API server; ' +
        'automatic gc off (gc.auto=0, receive.autogc=false) so that no background repack lands in a measurement; ' +
        'otherwise git defaults (small pushes are unpacked into loose objects).',
      `Big repository: ${bigShape.files} files in ${directories(bigShape)} directories, made with git fast-import in ` +
        `${importSeconds.toFixed(1)} s.`,
    ];
    return { sizes, writers, repos, setup, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await agent.close();
    await backend?.close();
    if (args.keep) progress(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}

// ---- report ----

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

export function formatBenchReport(r: BenchResult): string {
  const latency = r.sizes.flatMap((s) => METHODS.map((m): Cell[] => {
    const ours = p50(s.ours[m].ms);
    const floor = p50(s.floor[m].ms);
    return [sizeLabel(s.size), m, s.reps, roundTripCell(s.ours[m].roundTrips), ms(ours),
      roundTripCell(s.floor[m].roundTrips), ms(floor), ratio(ours, floor)];
  }));
  const writers = r.writers.map((w): Cell[] => [
    w.writers, Math.round(w.seconds * 10) / 10, w.ok, w.errors, Math.round((w.ok / w.seconds) * 10) / 10, w.pushes,
    ratio(w.ok, w.pushes), ratio(w.roundTrips, w.ok), ms(p50(w.ms)), mibCell(w.peakRssBytes),
  ]);
  const small = r.repos.find((x) => x.label === 'small');
  const repos = r.repos.flatMap((x) => (['GET', 'PUT'] as const).map((op): Cell[] => {
    const [s, f] = op === 'GET' ? [x.get, x.floorGet] : [x.put, x.floorPut];
    const [base, floorBase] = small === undefined ? [] : op === 'GET' ? [small.get, small.floorGet] : [small.put, small.floorPut];
    return [`${x.files} files / ${x.dirs} dirs`, op, s.ms.length, roundTripCell(s.roundTrips), ms(p50(s.ms)),
      base === undefined ? 'n/a' : ratio(p50(s.ms), p50(base.ms)), ms(p50(f.ms)),
      floorBase === undefined ? 'n/a' : ratio(p50(f.ms), p50(floorBase.ms)), ratio(p50(s.ms), p50(f.ms))];
  }));
  const phases: Cell[][] = [
    ...r.writers.map((w): Cell[] => [`writers: ${w.writers} concurrent, POST 1 KiB`, mibCell(w.peakRssBytes)]),
    ...r.sizes.map((s): Cell[] => [`operations at ${sizeLabel(s.size)}`, mibCell(s.peakRssBytes)]),
    ...r.repos.map((x): Cell[] => [`GET/PUT 1 KiB, ${x.files}-file repository`, mibCell(x.peakRssBytes)]),
  ];
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
    '### Server peak RSS per phase',
    '',
    'VmHWM of the process serving the API, from /proc/<pid>/status, reset (via /proc/<pid>/clear_refs) at the ' +
      'start of each phase, so each value is the highest RSS during that phase, starting from what the phase ' +
      'before left in the same process (the writers steps share one server, the operation sizes another, in the ' +
      'order listed; each repository-size phase has its own).',
    '',
    markdownTable(['phase', 'peak RSS MiB'], phases),
    '',
    `Total run time: ${r.seconds.toFixed(1)} s.`,
    '',
  ].join('\n');
}

export async function main(argv: readonly string[],
  write: (text: string) => void = (s) => void process.stdout.write(s),
  progress: (line: string) => void = toStderr): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseBenchArgs(argv);
  } catch (err) {
    if (!(err instanceof ArgsError)) throw err;
    process.stderr.write(`bench: ${err.message}\n`);
    return 2;
  }
  if (args.help) {
    write(USAGE);
    return 0;
  }
  const report = formatBenchReport(await runBench(args, progress));
  write(report);
  if (args.out !== undefined) {
    await writeFile(args.out, report);
    progress(`wrote ${args.out}`);
  }
  return 0;
}

if (isEntryPoint(import.meta.url)) runTool('bench', main);
