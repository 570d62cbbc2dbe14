// Faults of the git host, end to end: the API in front of the fault proxy in front of a real git server.
// For each fault: an answer within the deadline (502/503/504 with a JSON error naming the cause) or a
// successful retry, never an acknowledged write the remote does not hold and never a write applied twice,
// `git fsck --strict` clean, and the next requests served without restarting anything.
import t, { type Test } from 'tap';
import { startApi, type Api, type ApiResponse } from '../fixtures/api-server.js';
import { startFaultProxy, type FaultProxy, type FaultService } from '../fixtures/fault-proxy.js';
import { startFixtureServer, type FixtureServer } from '../fixtures/git-server.js';
import { commitFiles, fsck, gitText, readTreeFiles, revParse } from '../fixtures/repo.js';
import { GitStore, type GitStoreOptions } from '../src/store/git-store.js';

// The subtests are independent (each has its own server, proxy and API) and mostly wait: run a few at once.
t.jobs = 3;

const TIMEOUT_MS = 500;
/** What the API is configured with here: reads get twice the timeout, writes the server's 10 s floor. */
const READ_DEADLINE_MS = 2 * TIMEOUT_MS;
const WRITE_DEADLINE_MS = 10_000;
/** Slack for "answered, not hung": generous, as the brief allows. */
const SLACK_MS = 5_000;

interface Rig {
  git: FixtureServer;
  repo: { dir: string; url: string };
  proxy: FaultProxy;
  api: Api;
  /** Commits on main. */
  commits(): Promise<number>;
  files(): Promise<Record<string, string>>;
  /** Starts counting requests through the proxy from here. */
  mark(): void;
  /** Requests of one service (and method, POST by default) the proxy saw since mark(). */
  seen(service: FaultService, method?: string): number;
}

async function rig(t: Test, name: string, opts: { env?: Record<string, string>; store?: Partial<GitStoreOptions> } = {}): Promise<Rig> {
  const git = await startFixtureServer(t);
  const repo = await git.createRepo(name, { seed: [[{ path: 'seed.txt', content: 'seed' }, { path: 'dir/old.txt', content: 'old' }]] });
  const proxy = await startFaultProxy(git.url, t);
  const repoUrl = `${proxy.url}/${name}.git`;
  const env = { GIT_TIMEOUT_MS: String(TIMEOUT_MS), ...opts.env };
  let overrides = {};
  // Options the server's config does not expose (e.g. a write deadline under its 10 s floor): a store built
  // as src/api/git-backend.ts builds it, with those options on top.
  if (opts.store !== undefined) {
    const timeout = Number(env.GIT_TIMEOUT_MS);
    const store = new GitStore({
      remote: { url: repoUrl, headersTimeoutMs: timeout, bodyTimeoutMs: timeout, connectTimeoutMs: timeout },
      branch: 'main',
      author: { name: 'gitrest', email: 'gitrest@localhost' },
      maxBodyBytes: 1 << 20,
      ...opts.store,
    });
    t.teardown(() => store.close());
    overrides = { store };
  }
  const api = await startApi(t, { repoUrl, env, overrides });
  let from = 0;
  return {
    git,
    repo,
    proxy,
    api,
    commits: async () => Number(await gitText(['rev-list', '--count', 'main'], { cwd: repo.dir })),
    files: async () => Object.fromEntries([...(await readTreeFiles(repo.dir, 'main'))].map(([p, b]) => [p, b.toString()])),
    mark() {
      from = proxy.log.length;
    },
    seen: (service, method = 'POST') => proxy.log.slice(from).filter((e) => e.service === service && e.method === method).length,
  };
}

/** A request that must be answered (not hang) within `bound` ms. */
async function timed(t: Test, bound: number, send: () => Promise<ApiResponse>): Promise<ApiResponse> {
  const started = performance.now();
  const res = await send();
  const took = performance.now() - started;
  t.ok(took < bound, `answered within ${bound} ms`);
  return res;
}

function expectError(t: Test, res: ApiResponse, status: number, cause: RegExp): void {
  t.equal(res.status, status, `answered ${status}`);
  t.match(String(res.headers['content-type']), /^application\/json/);
  const body = JSON.parse(res.body.toString()) as { error: string; detail?: string };
  t.match(`${body.error}: ${body.detail ?? ''}`, cause, `the error names the cause (${body.error}: ${body.detail})`);
}

/** The repository is sound and the API serves reads and writes again, without any restart. */
async function recovers(t: Test, r: Rig, path: string): Promise<void> {
  r.proxy.clear();
  await fsck(r.repo.dir);
  const read = await r.api.request('GET', '/seed.txt');
  t.equal(read.status, 200, 'reads work again');
  t.equal(read.body.toString(), 'seed');
  const before = await r.commits();
  t.equal((await r.api.request('POST', path, `after ${path}`)).status, 201, 'writes work again');
  t.equal((await r.api.request('GET', path)).body.toString(), `after ${path}`);
  t.equal(await r.commits(), before + 1, 'one commit for the write');
  await fsck(r.repo.dir);
}

t.test('refused connections', async (t) => {
  const r = await rig(t, 'refuse');
  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'refuse' }, times: Infinity });
  r.mark();
  const read = await timed(t, READ_DEADLINE_MS + SLACK_MS, () => r.api.request('GET', '/seed.txt'));
  expectError(t, read, 503, /connection to the git host failed/);
  t.ok(r.seen('upload-pack') > 1, 'the read was retried');
  t.ok(r.seen('upload-pack') <= 5, 'within its attempts');

  // Everything refused: the write cannot even learn the tip.
  r.proxy.inject({ fault: { kind: 'refuse' }, times: Infinity });
  const write = await timed(t, WRITE_DEADLINE_MS + SLACK_MS, () => r.api.request('POST', '/new.txt', 'new'));
  expectError(t, write, 503, /connection to the git host failed/);
  t.equal(await r.commits(), 1, 'nothing was written');

  // A push refused once is retried: one commit.
  r.proxy.clear();
  t.equal((await r.api.request('GET', '/seed.txt')).status, 200);
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'refuse' }, times: 1 });
  r.mark();
  t.equal((await r.api.request('POST', '/new.txt', 'new')).status, 201);
  t.equal(r.seen('receive-pack'), 2, 'pushed again after the refusal');
  t.equal(await r.commits(), 2, 'exactly one commit');
  t.same((await r.files())['new.txt'], 'new');
  const metrics = (await r.api.request('GET', '/metrics')).body.toString();
  t.match(metrics, /request_count\{method="POST",status="success",retry="true"\} 1/, 'the retry is counted');
  await recovers(t, r, '/after-refuse.txt');
});

t.test('dropped connections: the host reads the request and never answers', async (t) => {
  const r = await rig(t, 'drop');
  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'drop' }, times: Infinity });
  r.mark();
  const read = await timed(t, READ_DEADLINE_MS + SLACK_MS, () => r.api.request('GET', '/seed.txt'));
  expectError(t, read, 504, /did not answer/);
  t.ok(r.seen('upload-pack') <= 2, 'no retry past the read deadline');

  r.proxy.clear();
  t.equal((await r.api.request('GET', '/seed.txt')).status, 200);
  // The push is swallowed: it timed out, the branch shows it did not land, it is pushed again.
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'drop' }, times: 1 });
  r.mark();
  t.equal((await r.api.request('PUT', '/dir/old.txt', 'changed')).status, 204);
  t.equal(r.seen('receive-pack'), 2);
  t.equal(await r.commits(), 2, 'exactly one commit');
  t.equal((await r.files())['dir/old.txt'], 'changed');
  // The write after a timeout is not stuck behind it (the earlier server's failure).
  for (let i = 0; i < 3; i++) t.equal((await r.api.request('POST', `/more/${i}.txt`, String(i))).status, 201);
  await recovers(t, r, '/after-drop.txt');
});

t.test('answers delayed beyond the timeout', async (t) => {
  const r = await rig(t, 'delay', { store: { writeDeadlineMs: 2_000 } });
  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'delay', ms: 3 * TIMEOUT_MS }, times: Infinity });
  const read = await timed(t, READ_DEADLINE_MS + SLACK_MS, () => r.api.request('GET', '/seed.txt'));
  expectError(t, read, 504, /did not answer/);

  r.proxy.clear();
  t.equal((await r.api.request('GET', '/seed.txt')).status, 200);
  // Every push times out: the write fails within its deadline, and nothing lands.
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'delay', ms: 3 * TIMEOUT_MS }, times: Infinity });
  const write = await timed(t, 2_000 + SLACK_MS, () => r.api.request('DELETE', '/dir/old.txt'));
  expectError(t, write, 504, /did not answer in time/);
  t.equal(await r.commits(), 1, 'nothing was written');
  t.equal((await r.files())['dir/old.txt'], 'old');

  // One push times out: retried once the branch shows it did not land.
  r.proxy.clear();
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'delay', ms: 3 * TIMEOUT_MS }, times: 1 });
  t.equal((await r.api.request('DELETE', '/dir/old.txt')).status, 204);
  t.equal(await r.commits(), 2, 'exactly one commit');
  t.notOk('dir/old.txt' in (await r.files()));
  await recovers(t, r, '/after-delay.txt');
});

t.test('HTTP 500, 503 and 429 with Retry-After', async (t) => {
  const r = await rig(t, 'status');
  // A 503 that passes: retried.
  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'status', status: 503, retryAfter: '0' }, times: 2 });
  r.mark();
  const ok = await r.api.request('GET', '/seed.txt');
  t.equal(ok.status, 200);
  t.equal(ok.body.toString(), 'seed');
  t.ok(r.seen('upload-pack') >= 3, 'two 503s, then the answer');
  const metrics = (await r.api.request('GET', '/metrics')).body.toString();
  t.match(metrics, /request_count\{method="GET",status="success",retry="true"\} 1/, 'the read retry is counted');
  t.match(metrics, /retry_count\{method="GET",status="success"\} [1-9]/, 'and its retries');

  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'status', status: 500 }, times: Infinity });
  expectError(t, await timed(t, READ_DEADLINE_MS + SLACK_MS, () => r.api.request('GET', '/seed.txt')), 502, /failed to answer.*HTTP 500/);
  r.proxy.clear();
  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'status', status: 503 }, times: Infinity });
  expectError(t, await timed(t, READ_DEADLINE_MS + SLACK_MS, () => r.api.request('GET', '/seed.txt')), 503, /unavailable.*HTTP 503/);

  // Asked to come back after the deadline: no point waiting, answered at once.
  r.proxy.clear();
  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'status', status: 429, retryAfter: '120' }, times: Infinity });
  r.mark();
  const limited = await timed(t, READ_DEADLINE_MS + SLACK_MS, () => r.api.request('GET', '/seed.txt'));
  expectError(t, limited, 503, /rate limiting.*retry after 120 s/);
  t.equal(r.seen('upload-pack'), 1, 'not retried: the wait would pass the deadline');

  // A push rate-limited once: Retry-After is honored, then it lands.
  r.proxy.clear();
  t.equal((await r.api.request('GET', '/seed.txt')).status, 200);
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'status', status: 429, retryAfter: '1' }, times: 1 });
  r.mark();
  t.equal((await r.api.request('POST', '/a.txt', 'a')).status, 201);
  t.equal(r.seen('receive-pack'), 2);
  t.equal(await r.commits(), 2);

  // A 500 on a push may come from a gateway that passed it on: read back (it did not land), then retried.
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'status', status: 500 }, times: 1 });
  r.mark();
  t.equal((await r.api.request('PUT', '/a.txt', 'b')).status, 204);
  t.equal(r.seen('receive-pack'), 2);
  t.ok(r.seen('upload-pack') >= 1, 'the branch was read back');
  t.equal(await r.commits(), 3, 'exactly one commit');

  // Every push answered 503: the write fails with the cause, nothing lands.
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'status', status: 503, retryAfter: '0' }, times: Infinity });
  expectError(t, await timed(t, WRITE_DEADLINE_MS + SLACK_MS, () => r.api.request('POST', '/b.txt', 'b')), 503, /unavailable.*HTTP 503/);
  t.equal(await r.commits(), 3, 'nothing was written');
  await recovers(t, r, '/after-status.txt');
});

t.test('a response cut midway', async (t) => {
  const r = await rig(t, 'cut-response');
  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'cut-response', afterBytes: 30 }, times: 1 });
  r.mark();
  const ok = await r.api.request('GET', '/seed.txt');
  t.equal(r.seen('upload-pack'), 4, 'the cut ls-refs, then ls-refs, commit and root, blob');
  t.equal(ok.status, 200, 'retried');
  t.equal(ok.body.toString(), 'seed');
  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'cut-response', afterBytes: 30 }, times: Infinity });
  expectError(t, await timed(t, READ_DEADLINE_MS + SLACK_MS, () => r.api.request('GET', '/seed.txt')), 503, /connection to the git host failed/);

  // The push landed but its answer was cut: acknowledged once, not pushed again.
  r.proxy.clear();
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'cut-response', afterBytes: 5 }, times: 1 });
  r.mark();
  t.equal((await r.api.request('POST', '/landed.txt', 'landed')).status, 201);
  t.equal(r.seen('receive-pack'), 1, 'pushed once');
  t.equal(await r.commits(), 2, 'exactly one commit');
  t.equal((await r.files())['landed.txt'], 'landed');
  await recovers(t, r, '/after-cut.txt');
});

t.test('a request body cut midway', async (t) => {
  const r = await rig(t, 'cut-request');
  t.equal((await r.api.request('GET', '/seed.txt')).status, 200);
  const body = 'x'.repeat(20_000);
  // The push is cut: it cannot have landed; retried, one commit.
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'cut-request', afterBytes: 200 }, times: 1 });
  r.mark();
  t.equal((await r.api.request('POST', '/big.txt', body)).status, 201);
  t.equal(r.seen('receive-pack'), 2, 'pushed again');
  t.equal(await r.commits(), 2, 'exactly one commit');
  t.equal((await r.files())['big.txt'], body);
  await fsck(r.repo.dir);

  // Every push cut: the write fails, nothing lands.
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'cut-request', afterBytes: 200 }, times: Infinity });
  expectError(t, await timed(t, WRITE_DEADLINE_MS + SLACK_MS, () => r.api.request('PUT', '/big.txt', 'y'.repeat(20_000))), 502, /HTTP 502/);
  t.equal(await r.commits(), 2, 'nothing was written');
  t.equal((await r.files())['big.txt'], body);
  await recovers(t, r, '/after-cut-request.txt');
});

t.test('corrupt pack bytes', async (t) => {
  const r = await rig(t, 'corrupt');
  // Cold read: ls-refs and the commit with its root pass, the blob's pack is damaged once.
  r.proxy.inject({ match: { service: 'upload-pack', method: 'POST' }, fault: { kind: 'delay', ms: 0 }, times: 2 });
  r.proxy.inject({ match: { service: 'upload-pack', method: 'POST' }, fault: { kind: 'corrupt-response', atByte: 40 }, times: 1 });
  r.mark();
  const ok = await r.api.request('GET', '/seed.txt');
  t.equal(ok.status, 200, 'retried');
  t.equal(ok.body.toString(), 'seed');
  t.equal(r.proxy.log.filter((e) => e.fault === 'corrupt-response').length, 1, 'the damaged answer was seen');
  // ls-refs, commit and root, the damaged blob; then again ls-refs and the blob (the root is cached).
  t.equal(r.seen('upload-pack'), 5, 'the read was retried');

  r.proxy.inject({ match: { service: 'upload-pack', method: 'POST' }, fault: { kind: 'delay', ms: 0 }, times: 1 });
  r.proxy.inject({ match: { service: 'upload-pack', method: 'POST' }, fault: { kind: 'corrupt-response', atByte: 40 }, times: Infinity });
  expectError(t, await timed(t, READ_DEADLINE_MS + SLACK_MS, () => r.api.request('GET', '/dir/old.txt')), 502, /could not read/);

  // The push's answer is damaged after it landed: read back, acknowledged once.
  r.proxy.clear();
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'corrupt-response', atByte: 6 }, times: 1 });
  r.mark();
  t.equal((await r.api.request('PUT', '/dir/old.txt', 'new')).status, 204);
  t.equal(r.seen('receive-pack'), 1, 'pushed once');
  t.equal(await r.commits(), 2, 'exactly one commit');
  t.equal((await r.files())['dir/old.txt'], 'new');
  await recovers(t, r, '/after-corrupt.txt');
});

t.test('truncated answers', async (t) => {
  const r = await rig(t, 'truncate');
  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'truncate-response', afterBytes: 30 }, times: 1 });
  r.mark();
  t.equal((await r.api.request('GET', '/seed.txt')).status, 200, 'retried');
  t.equal(r.seen('upload-pack'), 4, 'the truncated ls-refs, then ls-refs, commit and root, blob');
  r.proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'truncate-response', afterBytes: 30 }, times: Infinity });
  expectError(t, await timed(t, READ_DEADLINE_MS + SLACK_MS, () => r.api.request('GET', '/seed.txt')), 502, /could not read/);

  r.proxy.clear();
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'truncate-response', afterBytes: 5 }, times: 1 });
  r.mark();
  t.equal((await r.api.request('DELETE', '/dir/old.txt')).status, 204);
  t.equal(r.seen('receive-pack'), 1, 'pushed once');
  t.equal(await r.commits(), 2, 'exactly one commit');
  t.same(Object.keys(await r.files()), ['seed.txt']);
  await recovers(t, r, '/after-truncate.txt');
});

t.test('the answer to a push is lost after it landed', async (t) => {
  const r = await rig(t, 'answer-lost');
  r.mark();
  for (const [method, path, status] of [['POST', '/lost.txt', 201], ['PUT', '/lost.txt', 204], ['DELETE', '/lost.txt', 204]] as const) {
    r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'answer-lost' }, times: 1 });
    const res = await r.api.request(method, path, method === 'DELETE' ? undefined : `${method} body`);
    t.equal(res.status, status, `${method}: acknowledged once`);
    t.equal(res.headers['x-commit'], await revParse(r.repo.dir, 'main'), 'with the commit that landed');
  }
  t.equal(r.seen('receive-pack'), 3, 'one push per write');
  t.equal(await r.commits(), 4, 'exactly one commit per write');
  t.same(Object.keys(await r.files()).sort(), ['dir/old.txt', 'seed.txt']);
  // An ls-refs answer lost: a read, retried.
  r.proxy.inject({ match: { service: 'upload-pack', method: 'POST' }, fault: { kind: 'answer-lost' }, times: 1 });
  t.equal((await r.api.request('GET', '/seed.txt')).status, 200);
  await recovers(t, r, '/after-lost.txt');
});

t.test('a lost answer, and others pushed on top before the branch was read back', async (t) => {
  // The read-back's ls-refs is held while three commits land over ours.
  const setup = async (t: Test, name: string, landedDepth: number) => {
    const r = await rig(t, name, { env: { GIT_TIMEOUT_MS: '5000' }, store: { landedDepth } });
    t.equal((await r.api.request('GET', '/seed.txt')).status, 200, 'warm: the write needs no ls-refs before its push');
    const before = await revParse(r.repo.dir, 'main');
    r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'answer-lost' }, times: 1 });
    r.proxy.inject({ match: { service: 'upload-pack', method: 'POST' }, fault: { kind: 'delay', ms: 3_000 }, times: 1 });
    const pending = r.api.request('POST', '/mine.txt', 'mine');
    let landed = before;
    for (let i = 0; i < 200 && landed === before; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      landed = await revParse(r.repo.dir, 'main');
    }
    t.not(landed, before, 'our push landed');
    for (let i = 0; i < 3; i++) await commitFiles(r.repo.dir, [{ path: `other-${i}.txt`, content: String(i) }], `other ${i}`);
    return { r, res: await pending, landed };
  };
  t.test('found within the walk: acknowledged', async (t) => {
    const { r, res, landed } = await setup(t, 'walk', 20);
    t.equal(res.status, 201);
    t.equal(res.headers['x-commit'], landed);
    t.equal(await revParse(r.repo.dir, 'main~3'), landed, 'ours, under the three others');
    t.equal(await r.commits(), 5, 'exactly one commit for the write');
    await recovers(t, r, '/after-walk.txt');
  });
  t.test('beyond the walk: in doubt, not acknowledged, not written twice', async (t) => {
    const { r, res } = await setup(t, 'walk-short', 2);
    expectError(t, res, 503, /did not confirm the write.*may or may not have been applied/);
    t.equal(await r.commits(), 5, 'exactly one commit for the write');
    t.equal((await r.api.request('GET', '/mine.txt')).body.toString(), 'mine', 'reading it back tells');
    await recovers(t, r, '/after-walk-short.txt');
  });
});

t.test('the git server stopped and restarted', async (t) => {
  const git = await startFixtureServer(t);
  const repo = await git.createRepo('restart', { seed: [[{ path: 'seed.txt', content: 'seed' }]] });
  const api = await startApi(t, { repoUrl: repo.url, env: { GIT_TIMEOUT_MS: String(TIMEOUT_MS) } });
  t.equal((await api.request('GET', '/seed.txt')).status, 200);
  t.equal((await api.request('POST', '/a.txt', 'a')).status, 201);

  await git.stop();
  expectError(t, await timed(t, READ_DEADLINE_MS + SLACK_MS, () => api.request('GET', '/seed.txt')), 503, /connection to the git host failed/);
  expectError(t, await timed(t, WRITE_DEADLINE_MS + SLACK_MS, () => api.request('POST', '/b.txt', 'b')), 503, /connection to the git host failed/);

  await git.restart();
  t.equal((await api.request('GET', '/a.txt')).body.toString(), 'a', 'reads work again');
  t.equal((await api.request('POST', '/b.txt', 'b')).status, 201, 'the failed write had not landed');
  t.equal(await gitText(['rev-list', '--count', 'main'], { cwd: repo.dir }), '3');
  await fsck(repo.dir);

  // Stopped while a push is on its way: the proxy answers 502, the branch cannot be read back, so the
  // write is in doubt; after the restart the branch tells it did not land, and the write goes through.
  const proxy = await startFaultProxy(git.url, t);
  const viaProxy = await startApi(t, { repoUrl: `${proxy.url}/restart.git`, env: { GIT_TIMEOUT_MS: '5000' } });
  t.equal((await viaProxy.request('GET', '/seed.txt')).status, 200);
  proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'delay', ms: 1_500 }, times: 1 });
  const pending = timed(t, WRITE_DEADLINE_MS + SLACK_MS, () => viaProxy.request('POST', '/c.txt', 'c'));
  const pushing = () => proxy.log.some((e) => e.service === 'receive-pack' && e.method === 'POST');
  for (let i = 0; i < 500 && !pushing(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(pushing(), 'the push is on its way');
  await git.stop();
  expectError(t, await pending, 502, /did not confirm the write/);
  await git.restart();
  t.equal((await viaProxy.request('GET', '/c.txt')).status, 404, 'it had not landed');
  t.equal((await viaProxy.request('POST', '/c.txt', 'c')).status, 201);
  t.same(Object.fromEntries([...(await readTreeFiles(repo.dir, 'main'))].map(([p, b]) => [p, b.toString()])),
    { 'seed.txt': 'seed', 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' });
  t.equal(await gitText(['rev-list', '--count', 'main'], { cwd: repo.dir }), '4');
  await fsck(repo.dir);
});
