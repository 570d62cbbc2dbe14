// Several server processes (`node dist/api/server.js`) writing to one repository at once. Every response is
// recorded, then the final `git clone` is checked against them exactly, despite overlapping paths:
//  - the history after the seed is one linear chain, and each commit in it is exactly one write: its message
//    names the method and path, and it changes exactly that path, in the way the method says (A / M / D);
//  - every acknowledged write is one of those commits (so an ancestor of the tip), no two acknowledgements
//    share a commit, and in its commit the path holds exactly the bytes sent (or is absent after a DELETE);
//  - a commit nobody acknowledged is allowed only for a request that failed, with that request's very bytes;
//  - replaying the history in order from the seed, every write's precondition holds (POST on an absent path,
//    PUT/DELETE on a present one), and the replay ends at exactly the files in the tip;
//  - refusals are only 409 (POST) and 404 (PUT/DELETE), there are no 5xx, and `git fsck --strict` is clean.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Agent, request } from 'undici';
import { startFixtureServer } from '../fixtures/git-server.js';
import { fsck, git, gitText, readTreeFiles, revParse } from '../fixtures/repo.js';
import { startServerProcess, type ServerProcess } from '../fixtures/server-process.js';

type Method = 'POST' | 'PUT' | 'DELETE';

/** One request and what became of it. */
interface Attempt {
  method: Method;
  path: string;
  body?: Buffer;
  replica: number;
  status?: number;
  /** X-Commit of a 2xx answer. */
  commit?: string;
  /** Connection-level failure (no status). */
  error?: string;
}

const OK: Record<Method, number> = { POST: 201, PUT: 204, DELETE: 204 };
const REFUSED: Record<Method, number> = { POST: 409, PUT: 404, DELETE: 404 };
const CHANGE: Record<Method, string> = { POST: 'A', PUT: 'M', DELETE: 'D' };

const acked = (a: Attempt): boolean => a.status !== undefined && a.status >= 200 && a.status < 300;
const failed = (a: Attempt): boolean => a.status === undefined || a.status >= 500;

async function send(agent: Agent, replica: ServerProcess, index: number, a: Omit<Attempt, 'replica'>): Promise<Attempt> {
  const out: Attempt = { ...a, replica: index };
  try {
    const res = await request(`${replica.url}/${a.path}`, {
      dispatcher: agent,
      method: a.method,
      ...(a.body === undefined ? {} : { body: a.body }),
    });
    const text = await res.body.text();
    out.status = res.statusCode;
    const commit = res.headers['x-commit'];
    if (typeof commit === 'string') out.commit = commit;
    if (a.method === 'POST' && res.statusCode === 201) {
      const json = JSON.parse(text) as { path?: string; commit?: string };
      if (json.path !== a.path || json.commit !== out.commit) out.error = `201 body disagrees with the request: ${text}`;
    }
  } catch (err) {
    out.error = String(err);
  }
  return out;
}

/** Sum of every `retry_count` series in a replica's /metrics. */
async function retryCount(agent: Agent, replica: ServerProcess): Promise<number> {
  const res = await request(`${replica.url}/metrics`, { dispatcher: agent });
  const text = await res.body.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^retry_count(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m) sum += Number(m[1]);
  }
  return sum;
}

/** `git cat-file --batch` for `rev:path` names, in order: the bytes, or null when the name is missing. */
async function catFiles(repo: string, names: string[]): Promise<Array<Buffer | null>> {
  if (names.length === 0) return [];
  const out = await git(['cat-file', '--batch'], { cwd: repo, input: names.join('\n') + '\n' });
  const result: Array<Buffer | null> = [];
  let pos = 0;
  for (const name of names) {
    const lf = out.indexOf(0x0a, pos);
    if (lf < 0) throw new Error(`cat-file output ends before ${name}`);
    const head = out.toString('utf8', pos, lf);
    if (head.endsWith(' missing')) {
      result.push(null);
      pos = lf + 1;
      continue;
    }
    const [, type, size] = head.split(' ');
    const start = lf + 1;
    // A tree (say, for a commit that changed nothing) is not a file: count it as absent.
    result.push(type === 'blob' ? out.subarray(start, start + Number(size)) : null);
    pos = start + Number(size) + 1;
  }
  return result;
}

interface HistoryCommit {
  oid: string;
  parents: string[];
  subject: string;
  changes: Array<{ status: string; path: string }>;
}

/** The commits after `seed` up to `tip`, oldest first, each with the paths it changed. */
async function history(repo: string, seed: string, tip: string): Promise<HistoryCommit[]> {
  const text = await gitText(['log', '--reverse', '--no-renames', '--name-status', '--format=@%H|%P|%s', `${seed}..${tip}`],
    { cwd: repo });
  const commits: HistoryCommit[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('@')) {
      const [oid, parents, ...subject] = line.slice(1).split('|');
      commits.push({ oid: oid!, parents: parents!.split(' ').filter(Boolean), subject: subject.join('|'), changes: [] });
    } else {
      const [status, path] = line.split('\t');
      commits.at(-1)!.changes.push({ status: status!, path: path! });
    }
  }
  return commits;
}

interface Verdict {
  commits: number;
  unacked: number;
}

/** Checks the final state of the repository against every recorded attempt (see the top of this file). */
async function verify(t: Test, repoUrl: string, bareDir: string, seed: string, attempts: Attempt[]): Promise<Verdict> {
  const cloneDir = await mkdtemp(join(tmpdir(), 'gitrest-replicas-clone-'));
  t.teardown(() => rm(cloneDir, { recursive: true, force: true }));
  await git(['clone', '--quiet', '--bare', repoUrl, cloneDir]);
  const tip = (await revParse(cloneDir, 'refs/heads/main'))!;
  t.equal(tip, await revParse(bareDir, 'refs/heads/main'), 'the clone has the remote tip');

  // Responses: only the statuses the contract allows, no 5xx, no connection failures.
  const bad = attempts.filter((a) => a.error !== undefined || (a.status !== OK[a.method] && a.status !== REFUSED[a.method]));
  t.same(bad.slice(0, 5), [], `every answer is ${'2xx'}, 409 for POST or 404 for PUT/DELETE (${bad.length} others)`);
  const ackedAttempts = attempts.filter(acked);
  t.ok(ackedAttempts.every((a) => a.commit !== undefined && /^[0-9a-f]{40}$/.test(a.commit)), 'every 2xx carries X-Commit');

  // The history: one linear chain from the seed, one commit per write.
  const commits = await history(cloneDir, seed, tip);
  let parent = seed;
  const chainBreaks = commits.filter((c) => {
    const ok = c.parents.length === 1 && c.parents[0] === parent;
    parent = c.oid;
    return !ok;
  });
  t.same(chainBreaks.map((c) => c.oid), [], 'linear history from the seed');
  const malformed = commits.filter((c) => {
    const m = /^(POST|PUT|DELETE) (.+)$/.exec(c.subject);
    return m === null || c.changes.length !== 1 || c.changes[0]!.path !== m[2] || c.changes[0]!.status !== CHANGE[m[1] as Method];
  });
  t.same(malformed.slice(0, 5), [], 'each commit changes exactly the path its message names, as its method says');

  // (a) + (c): acknowledgements ↔ commits. Membership in seed..tip of a linear chain is `merge-base --is-ancestor`.
  const byCommit = new Map<string, Attempt>();
  const doubles: string[] = [];
  for (const a of ackedAttempts) {
    if (byCommit.has(a.commit!)) doubles.push(a.commit!);
    byCommit.set(a.commit!, a);
  }
  t.same(doubles, [], 'no two acknowledgements name the same commit');
  const inHistory = new Set(commits.map((c) => c.oid));
  const lost = ackedAttempts.filter((a) => !inHistory.has(a.commit!));
  t.same(lost.slice(0, 5), [], `every acknowledged write is in the history (${lost.length} lost)`);
  const wrongCommit = commits.filter((c) => {
    const a = byCommit.get(c.oid);
    return a !== undefined && c.subject !== `${a.method} ${a.path}`;
  });
  t.same(wrongCommit.map((c) => c.oid), [], 'each acknowledged commit is the write that was acknowledged');

  // (b): the bytes in each commit, read in one batch; failed requests may account for unacknowledged commits.
  const contents = await catFiles(cloneDir, commits.map((c) => `${c.oid}:${c.changes[0]?.path ?? ''}`));
  const failures = attempts.filter(failed);
  const usedFailures = new Set<Attempt>();
  const wrongBytes: string[] = [];
  const unexplained: string[] = [];
  commits.forEach((c, i) => {
    const got = contents[i]!;
    const a = byCommit.get(c.oid);
    if (a !== undefined) {
      const ok = a.method === 'DELETE' ? got === null : got !== null && got.equals(a.body!);
      if (!ok) wrongBytes.push(`${c.oid} ${c.subject}`);
      return;
    }
    const explained = failures.find((f) => !usedFailures.has(f) && c.subject === `${f.method} ${f.path}` &&
      (f.method === 'DELETE' ? got === null : got !== null && got.equals(f.body!)));
    if (explained === undefined) unexplained.push(`${c.oid} ${c.subject}`);
    else usedFailures.add(explained);
  });
  t.same(wrongBytes.slice(0, 5), [], 'in its commit, each acknowledged path holds exactly the bytes sent (or is gone)');
  t.same(unexplained.slice(0, 5), [], 'every unacknowledged commit is one failed request, with its bytes');

  // (d): replay the history from the seed, checking each write's precondition; it must end at the tip's files.
  const model = await readTreeFiles(cloneDir, seed);
  const broken: string[] = [];
  commits.forEach((c, i) => {
    const [method, path] = [c.subject.slice(0, c.subject.indexOf(' ')), c.subject.slice(c.subject.indexOf(' ') + 1)];
    const present = model.has(path);
    if (method === 'POST' ? present : !present) broken.push(`${c.subject} in ${c.oid}`);
    const got = contents[i]!;
    if (got === null) model.delete(path);
    else model.set(path, got);
  });
  t.same(broken.slice(0, 5), [], 'replayed in order, every write met its precondition');
  const final = await readTreeFiles(cloneDir, tip);
  t.same(Object.fromEntries(final), Object.fromEntries(model), 'the tip holds exactly the replayed files');

  await fsck(bareDir);
  await fsck(cloneDir);
  t.pass('git fsck --strict is clean, remote and clone');
  return { commits: commits.length, unacked: unexplained.length + usedFailures.size };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN);
}

async function startReplicas(t: Test, repoUrl: string, n: number): Promise<ServerProcess[]> {
  const env = { BACKEND_TYPE: 'git', GIT_REPO_URL: repoUrl, LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '5000' };
  return Promise.all(Array.from({ length: n }, () => startServerProcess(t, { env })));
}

async function stopAll(t: Test, replicas: ServerProcess[]): Promise<void> {
  const exits = await Promise.all(replicas.map((r) => r.stop('SIGTERM')));
  t.same(exits, replicas.map(() => ({ code: 0, signal: null })), 'every replica exits 0 on SIGTERM');
  for (const r of replicas) {
    t.same(r.badLines(), [], 'stdout holds only JSON log lines');
    t.same(r.logs().filter((l) => l.level === 'error'), [], 'no error was logged');
  }
}

t.test('two server processes writing to one repository concurrently: nothing lost', async (t) => {
  const fixture = await startFixtureServer(t);
  const repo = await fixture.createRepo('two', { seed: [[{ path: 'seed.txt', content: 'seed\n' }]] });
  const seed = (await revParse(repo.dir, 'refs/heads/main'))!;
  const replicas = await startReplicas(t, repo.url, 2);
  const agent = new Agent();
  t.teardown(() => agent.close());

  // 2 × 6 concurrent writers, each POSTing 4 files of its own: 48 distinct paths.
  const attempts = (await Promise.all(Array.from({ length: 12 }, async (_, w) => {
    const mine: Attempt[] = [];
    for (let i = 0; i < 4; i++) {
      const body = randomBytes(64 + ((w * 7 + i * 13) % 900));
      mine.push(await send(agent, replicas[w % 2]!, w % 2, { method: 'POST', path: `w${w}/f${i}.bin`, body }));
    }
    return mine;
  }))).flat();
  t.same(attempts.map((a) => a.status), attempts.map(() => 201), 'every POST answered 201');
  await stopAll(t, replicas);

  const verdict = await verify(t, repo.url, repo.dir, seed, attempts);
  t.equal(verdict.commits, 48, 'exactly one commit per write');
  const files = await readTreeFiles(repo.dir, 'main');
  t.equal(files.size, 49, 'all 48 files and the seed file are at the tip');
  for (const a of attempts) t.same(files.get(a.path), a.body, `${a.path} has its bytes`);
});

const REPLICAS = 3;
/** 32 writers per replica: enough contention that, with retries bounded by a count, writes used to give up. */
const WRITERS = 32 * REPLICAS;
const WRITE_MS = 8000;
const MAX_REQUESTS = 4000;
const PATHS = Array.from({ length: 16 }, (_, i) => `d${i % 3}/sub${i % 2}/f${i}.bin`);

t.test(`${REPLICAS} server processes, ${WRITERS} concurrent writers, mixed POST/PUT/DELETE on overlapping paths`, async (t) => {
  const fixture = await startFixtureServer(t);
  const repo = await fixture.createRepo('replicas', {
    seed: [[{ path: PATHS[0]!, content: 'seeded\n' }, { path: 'untouched/keep.txt', content: 'kept\n' }]],
  });
  const seed = (await revParse(repo.dir, 'refs/heads/main'))!;
  const replicas = await startReplicas(t, repo.url, REPLICAS);
  const agent = new Agent();
  t.teardown(() => agent.close());

  // Bounded both by time and by request count; bodies are unique (writer, sequence number, random bytes).
  const deadline = Date.now() + WRITE_MS;
  let issued = 0;
  const attempts: Attempt[] = [];
  const latencies: number[] = [];
  await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    for (let seq = 0; issued < MAX_REQUESTS && Date.now() < deadline; seq++) {
      issued++;
      const r = Math.random();
      const method: Method = r < 0.4 ? 'POST' : r < 0.75 ? 'PUT' : 'DELETE';
      const path = PATHS[Math.floor(Math.random() * PATHS.length)]!;
      const body = method === 'DELETE'
        ? undefined
        : Buffer.concat([Buffer.from(`w${w}#${seq}:`), randomBytes(Math.floor(Math.random() * 4096))]);
      const index = (w + seq) % REPLICAS;
      const started = performance.now();
      attempts.push(await send(agent, replicas[index]!, index, { method, path, ...(body === undefined ? {} : { body }) }));
      latencies.push(performance.now() - started);
    }
  }));
  const retries = (await Promise.all(replicas.map((r) => retryCount(agent, r)))).reduce((a, b) => a + b, 0);
  await stopAll(t, replicas);

  const count = (m: Method, pred: (a: Attempt) => boolean) => attempts.filter((a) => a.method === m && pred(a)).length;
  const verdict = await verify(t, repo.url, repo.dir, seed, attempts);
  t.comment(`requests ${attempts.length}; acknowledged POST ${count('POST', acked)}, PUT ${count('PUT', acked)}, ` +
    `DELETE ${count('DELETE', acked)}; 409 ${attempts.filter((a) => a.status === 409).length}, ` +
    `404 ${attempts.filter((a) => a.status === 404).length}; failed ${attempts.filter(failed).length}; ` +
    `commits ${verdict.commits} (unacknowledged ${verdict.unacked}); retries (retry_count) ${retries}; ` +
    `latency p50 ${percentile(latencies, 0.5)} ms, p99 ${percentile(latencies, 0.99)} ms`);
  t.equal(attempts.filter((a) => a.status === 503).length, 0, 'no write gave up (503) under contention');
  t.ok(attempts.filter(acked).length > 0, 'some writes went through');
  for (const m of ['POST', 'PUT', 'DELETE'] as const) t.ok(count(m, acked) > 0, `some ${m}s were acknowledged`);
  t.ok(new Set(attempts.filter(acked).map((a) => a.replica)).size === REPLICAS, 'every replica acknowledged writes');
  t.equal(verdict.commits, attempts.filter(acked).length + verdict.unacked, 'commits = acknowledged writes + failed-but-applied');
});
