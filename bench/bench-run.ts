// One run of the API benchmark: a temp directory of bare repositories served by the real `git http-backend`
// (startHttpBackend, in this process, so that its request counters give the round trips), and the API as child
// processes (`node dist/api/server.js`, one per repository: the server serves one repository) so that the
// server's peak RSS can be read from /proc/<pid>/status (VmHWM, reset at the start of each phase); `inProcess`
// runs the API in this process instead, for quick checks.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent } from 'undici';
import { DEFAULT_MAX_BODY_BYTES } from '../src/api/config.js';
import { ensureBareRepo } from '../src/embedded/default-repo.js';
import { startHttpBackend, type HttpBackendServer } from '../src/embedded/http-backend.js';
import { startCommand } from '../src/process/launch.js';
import { formatDuration } from './args.js';
import {
  BRANCH, FLOOR_REF, call, expectStatus, repoPhase, sizePhase, writersPhase, type Ctx,
} from './bench-phases.js';
import type { BenchResult, SizeResult, WritersResult } from './bench-result.js';
import { DATA_DESCRIPTIONS, type DataKind } from './data.js';
import { FloorBranch, RawGit } from './floor.js';
import { MiB } from './markdown.js';
import { directories, disableAutoGc, importFiles, type RepoShape } from './repos.js';
import { startApiInProcess, startApiProcess, type ApiProcess } from './server-process.js';
import { runBenchAgainstUrl } from './bench-url.js';

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
  /** A running server with the same REST contract to measure instead of our own (see bench-url.ts). */
  url?: string;
  /** Its process, for peak RSS and CPU from /proc. */
  pid?: number;
}

/** Repetitions for a body size: fewer for big bodies, so that every size costs about the same. */
export function repsFor(size: number, override?: number): number {
  if (override !== undefined) return override;
  if (size <= 64 * 1024) return 20;
  if (size <= MiB) return 10;
  if (size <= 10 * MiB) return 5;
  return 2;
}

export function toStderr(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

export async function gitVersion(): Promise<string> {
  try {
    return (await promisify(execFile)('git', ['--version'])).stdout.trim();
  } catch {
    return 'git (version unknown)';
  }
}

export async function runBench(args: BenchArgs, progress: (line: string) => void = toStderr): Promise<BenchResult> {
  if (args.url !== undefined) return runBenchAgainstUrl(args, args.url, progress);
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
    const ctx: Ctx = { data: args.data, root, agent, backend, prefix: '', progress };

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
