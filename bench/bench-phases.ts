// The phases of the API benchmark: concurrent writers, operations by body size, and the repository-size phase
// with its floor of raw Git requests. Requests are sequential except in the writers phase, so that the git
// server's counter delta around a request is that request's. Against a server given by URL (bench-url.ts) there
// is no git server of ours: the writers and size phases then run without round trips and without the floor.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import type { BackendCounts, HttpBackendServer } from '../src/embedded/http-backend.js';
import { hashObject } from '../src/pack/oid.js';
import {
  emptySamples, perMethod, type Method, type RepoResult, type Samples, type SizeResult, type WritersResult,
} from './bench-result.js';
import { benchData, type DataKind } from './data.js';
import { FloorBranch, RawGit } from './floor.js';
import { sizeLabel } from './markdown.js';
import { peakRss, readProcSample, resetPeakRss } from './proc.js';
import { directories, fileContent, filePath, type RepoShape } from './repos.js';
import type { ApiProcess } from './server-process.js';

export const BRANCH = 'main';
export const FLOOR_REF = 'refs/heads/floor';
/** Bound on requests per writer in the concurrent phase, whatever the duration. */
const MAX_WRITES_PER_WRITER = 100_000;

interface Response {
  status: number;
  body: Buffer;
}

export async function call(agent: Agent, method: Method, url: string, body?: Buffer): Promise<Response> {
  const res = await request(url, { method, dispatcher: agent, ...(body === undefined ? {} : { body }) });
  const parts: Buffer[] = [];
  for await (const part of res.body) parts.push(part as Buffer);
  return { status: res.statusCode, body: Buffer.concat(parts) };
}

/** Runs `fn`, recording its duration and the git requests it caused (sequential use only; none without counts). */
async function sample<T>(into: Samples, counts: (() => BackendCounts) | undefined, fn: () => Promise<T>): Promise<T> {
  const before = counts?.().total;
  const start = performance.now();
  const value = await fn();
  into.ms.push(performance.now() - start);
  if (counts !== undefined && before !== undefined) into.roundTrips.push(counts().total - before);
  return value;
}

export function expectStatus(what: string, res: Response, status: number): void {
  if (res.status !== status) {
    throw new Error(`${what}: HTTP ${res.status}, expected ${status}: ${res.body.subarray(0, 300).toString()}`);
  }
}

export interface Ctx {
  data: DataKind;
  /** The temp directory holding `<repo>.git`. */
  root: string;
  agent: Agent;
  /** Our git server; undefined against a server given by URL, whose storage we cannot see. */
  backend?: HttpBackendServer;
  /** Put before every path the phases write, e.g. "bench-<time>/" on a server that may hold earlier runs. */
  prefix: string;
  progress: (line: string) => void;
}

/** CPU seconds (own and finished children) and the reset peak RSS of a server, from /proc, around a phase. */
export async function startProcWatch(pid: number | undefined): Promise<() => Promise<{ peakRssBytes?: number; cpuSeconds?: number }>> {
  if (pid === undefined) return async () => ({});
  await resetPeakRss(pid);
  const cpu = async (): Promise<number | undefined> => {
    try {
      const s = await readProcSample(pid);
      return s.cpuSeconds + s.childCpuSeconds;
    } catch {
      return undefined;
    }
  };
  const before = await cpu();
  return async () => {
    const after = await cpu();
    return {
      ...rss(await peakRss(pid)),
      ...(before === undefined || after === undefined ? {} : { cpuSeconds: after - before }),
    };
  };
}

export async function writersPhase(ctx: Ctx, server: ApiProcess, repo: string, writers: number,
  durationMs: number): Promise<WritersResult> {
  const watch = await startProcWatch(server.pid);
  const before = ctx.backend?.counts(repo);
  const ms: number[] = [];
  let ok = 0;
  let errors = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    for (let n = 0; n < MAX_WRITES_PER_WRITER && performance.now() < deadline; n++) {
      const t = performance.now();
      try {
        const res = await call(ctx.agent, 'POST', `${server.url}/${ctx.prefix}writers/c${writers}/w${w}/n${n}`,
          benchData(ctx.data, 1024, n));
        if (res.status === 201) ok++;
        else errors++;
      } catch {
        errors++;
      }
      ms.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  const after = ctx.backend?.counts(repo);
  return {
    writers, seconds, ok, errors, ms,
    ...(before === undefined || after === undefined ? {} : {
      pushes: after['receive-pack'] - before['receive-pack'],
      roundTrips: after.total - before.total,
    }),
    ...(await watch()),
  };
}

function rss(bytes: number | undefined): { peakRssBytes?: number } {
  return bytes === undefined ? {} : { peakRssBytes: bytes };
}

/** The size phase; without `raw` and `floor` (a server given by URL) only the API's side of it. */
export async function sizePhase(ctx: Ctx, server: ApiProcess, repo: string, raw: RawGit | undefined,
  floor: FloorBranch | undefined, size: number, reps: number): Promise<SizeResult> {
  const watch = await startProcWatch(server.pid);
  const backend = ctx.backend;
  const counts = backend === undefined ? undefined : () => backend.counts(repo);
  const result: SizeResult = { size, reps, ours: perMethod(), floor: perMethod() };
  const label = sizeLabel(size).replace(' ', '');
  for (let rep = 0; rep < reps; rep++) {
    ctx.progress(`${sizeLabel(size)}: repetition ${rep + 1} of ${reps}`);
    const first = benchData(ctx.data, size, 2 * rep + 1);
    const second = benchData(ctx.data, size, 2 * rep + 2);
    const url = `${server.url}/${ctx.prefix}ops/${label}/r${rep}`;
    const { ours } = result;
    expectStatus('POST', await sample(ours.POST, counts, () => call(ctx.agent, 'POST', url, first)), 201);
    const got = await sample(ours.GET, counts, () => call(ctx.agent, 'GET', url));
    expectStatus('GET', got, 200);
    if (!got.body.equals(first)) throw new Error(`GET ${url} returned other bytes than were written`);
    expectStatus('PUT', await sample(ours.PUT, counts, () => call(ctx.agent, 'PUT', url, second)), 204);
    expectStatus('DELETE', await sample(ours.DELETE, counts, () => call(ctx.agent, 'DELETE', url)), 204);
    if (raw === undefined || floor === undefined) continue;

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
  return { ...result, ...(await watch()) };
}

export async function repoPhase(ctx: Ctx, server: ApiProcess, repo: string, shape: RepoShape, reps: number): Promise<RepoResult> {
  const backend = ctx.backend;
  if (backend === undefined) throw new Error('the repository phase needs our own git server');
  const counts = () => backend.counts(repo);
  const floor = await repoFloor(ctx, backend, repo, shape, reps);
  const watch = await startProcWatch(server.pid);
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
  return { ...result, ...(await watch()) };
}

/**
 * The repository phase's floor, as raw Git requests: a GET is ls-refs, the fetch of the directory's tree
 * (tree:0) and the fetch of the blob by id; a PUT goes to a branch started at the imported commit, so that
 * its pushes carry what the API's do (blob, directory tree, root tree of the same size, commit) and the server
 * checks them against the same history.
 */
async function repoFloor(ctx: Ctx, backend: HttpBackendServer, repo: string, shape: RepoShape, reps: number): Promise<{
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
  const raw = new RawGit(`${backend.url}/${repo}.git`, ctx.agent);
  const counts = () => backend.counts(repo);
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
