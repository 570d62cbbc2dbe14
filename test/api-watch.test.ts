// The change feed, GET /_watch, against the fixture git server: every writer's commits in order, each once;
// resuming; prefixes; 410, 503, 501; one poll per interval however many watch (counted at the server);
// shutdown ends the streams.
import t from 'tap';
import { request } from 'undici';
import { startFixtureServer } from '../fixtures/git-server.js';
import { commitFiles, gitText } from '../fixtures/repo.js';
import { startApi, type Api } from '../fixtures/api-server.js';
import { createLogger } from '../src/api/logger.js';

interface Event {
  id: string;
  event: string;
  data: { commit: string; parent: string | null; author: { name: string; email: string; date: string };
    message: string; changes: Array<{ path: string; change: string; etag: string | null }> };
}

/** Waits are bounded: a missing event fails the test instead of hanging it. */
const WAIT_MS = 15_000;

/** A small SSE reader: events and comments as they arrive, and whether the stream ended. */
async function watch(api: Api, query = '', headers: Record<string, string> = {}) {
  const res = await request(`${api.url}/_watch${query}`, { headers });
  const events: Event[] = [];
  const comments: string[] = [];
  let ended: 'clean' | 'error' | undefined;
  let wake: () => void = () => {};
  const changed = () => wake();
  let text = '';
  const pump = (async () => {
    try {
      for await (const chunk of res.body) {
        text += (chunk as Buffer).toString('utf8');
        let cut: number;
        while ((cut = text.indexOf('\n\n')) !== -1) {
          const block = text.slice(0, cut);
          text = text.slice(cut + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else {
              const colon = line.indexOf(':');
              fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
            }
          }
          if (fields.data !== undefined) events.push({ id: fields.id!, event: fields.event!, data: JSON.parse(fields.data) });
          changed();
        }
      }
      ended = 'clean';
    } catch {
      ended = 'error';
    }
    changed();
  })();
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    const deadline = Date.now() + WAIT_MS;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  };
  return {
    status: res.statusCode, headers: res.headers, events, comments, res,
    get ended() { return ended; },
    ids: () => events.map((e) => e.id),
    waitFor: (n: number) => until(`${n} events`, () => events.length >= n || ended !== undefined),
    until,
    body: async () => { await pump; return text; },
    close: async () => { res.body.destroy(); await pump; },
  };
}

/** Resolves after the fixture server has seen `n` more ls-refs (upload-pack) requests for `repo`: n polls. */
async function polls(server: Awaited<ReturnType<typeof startFixtureServer>>, repo: string, n: number): Promise<void> {
  const start = server.counts(repo)['upload-pack'];
  const deadline = Date.now() + WAIT_MS;
  while (server.counts(repo)['upload-pack'] < start + n) {
    if (Date.now() > deadline) throw new Error('timed out waiting for polls');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const FAST = { WATCH_POLL_MS: '50' };

t.test('a watcher sees our write, a foreign push and another replica, in order, each once', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('feed', { seed: [[{ path: 'seed.txt', content: 's' }]] });
  const a = await startApi(t, { repoUrl: repo.url, env: FAST });
  const b = await startApi(t, { repoUrl: repo.url, env: FAST });
  const w = await watch(a);
  t.equal(w.status, 200);
  t.match(w.headers['content-type'], /^text\/event-stream/);
  t.equal(w.headers['cache-control'], 'no-store');
  const seedTip = await gitText(['rev-parse', 'main'], { cwd: repo.dir });
  t.match(w.comments[0] ?? '', seedTip, 'starts after the current tip');

  const own = await a.request('PUT', '/seed.txt', 'mine');
  t.equal(own.status, 204);
  const foreign = await commitFiles(repo.dir, [{ path: 'dir/f.txt', content: 'theirs' }], 'foreign push');
  const replica = await b.request('POST', '/r.txt', 'replica');
  t.equal(replica.status, 201);
  await w.waitFor(3);
  t.same(w.ids(), [own.headers['x-commit'], foreign, replica.headers['x-commit']], 'in branch order');
  t.same(w.events.map((e) => e.event), ['commit', 'commit', 'commit']);
  const [e1, e2, e3] = w.events.map((e) => e.data);
  t.same(e1!.changes, [{ path: 'seed.txt', change: 'modify', etag: own.headers.etag!.toString().replaceAll('"', '') }]);
  t.equal(e1!.parent, seedTip);
  t.equal(e1!.message, 'PUT seed.txt\n');
  t.match(e1!.author, { name: 'gitrest', email: 'gitrest@localhost', date: /^\d{4}-\d\d-\d\dT/ });
  t.same(e2!.changes, [{ path: 'dir/f.txt', change: 'create', etag: await gitText(['rev-parse', 'main:dir/f.txt'], { cwd: repo.dir }) }]);
  t.equal(e2!.message, 'foreign push\n');
  t.same(e3!.changes.map((c) => [c.path, c.change]), [['r.txt', 'create']]);
  await polls(server, 'feed', 4);
  t.equal(w.events.length, 3, 'nothing repeated over later polls');
  await w.close();
});

t.test('our own write arrives at once, without waiting for the next poll', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('own', { seed: [[{ path: 'x.txt', content: '0' }]] });
  // A poll every ten minutes: only the wake-up after our push can deliver within the test's wait.
  const api = await startApi(t, { repoUrl: repo.url, env: { WATCH_POLL_MS: '600000' } });
  const w = await watch(api);
  const put = await api.request('PUT', '/x.txt', '1');
  await w.waitFor(1);
  t.same(w.ids(), [put.headers['x-commit']]);
  await w.close();
});

t.test('a Git host outage delays events but loses none', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('outage', { seed: [[{ path: 'x.txt', content: '0' }]] });
  const lines: string[] = [];
  const logger = createLogger({ level: 'warn', write: (line) => lines.push(line) });
  const api = await startApi(t, { repoUrl: repo.url, env: FAST, overrides: { logger } });
  const w = await watch(api);
  await server.stop();
  const during = await commitFiles(repo.dir, [{ path: 'y.txt', content: '1' }], 'while the host was down');
  const warned = () => lines.filter((l) => l.includes('change feed: cannot read the branch')).length;
  await w.until('a failed poll to be logged', () => warned() > 0);
  await new Promise((r) => setTimeout(r, 300)); // room for several more failed polls, 50 ms apart
  t.equal(w.events.length, 0);
  await server.restart();
  await w.waitFor(1);
  t.same(w.ids(), [during]);
  t.equal(w.ended, undefined, 'the stream stayed open');
  t.equal(warned(), 1, 'one warning for the outage, not one per failed poll');
  await w.close();
});

t.test('resume with Last-Event-ID or since misses nothing and repeats nothing', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('resume', { seed: [[{ path: 'a.txt', content: '0' }]] });
  const api = await startApi(t, { repoUrl: repo.url, env: FAST });
  const w1 = await watch(api);
  for (let i = 1; i <= 2; i++) t.equal((await api.request('PUT', '/a.txt', `v${i}`)).status, 204);
  await w1.waitFor(2);
  const last = w1.ids().at(-1)!;
  await w1.close();
  // While nobody listens: our writes and a foreign one.
  await api.request('PUT', '/a.txt', 'v3');
  await commitFiles(repo.dir, [{ path: 'b.txt', content: 'x' }], 'foreign');
  await api.request('DELETE', '/a.txt');
  const w2 = await watch(api, '', { 'Last-Event-ID': last });
  t.equal(w2.status, 200);
  await w2.waitFor(3);
  await api.request('POST', '/c.txt', 'live');
  await w2.waitFor(4);
  const all = (await gitText(['log', '--first-parent', '--reverse', '--format=%H', 'main'], { cwd: repo.dir })).split('\n');
  t.same([...w1.ids(), ...w2.ids()], all.slice(1), 'every commit after the seed, once, in order');
  t.same(w2.events[2]!.data.changes, [{ path: 'a.txt', change: 'delete', etag: null }]);

  const w3 = await watch(api, `?since=${all[1]}`);
  await w3.waitFor(all.length - 2);
  t.same(w3.ids(), all.slice(2), '?since= replays the same');
  await w3.close();
  await w2.close();
});

t.test('?prefix= keeps only commits touching the prefix, and only those changes', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('prefix', { seed: [[{ path: 'x.txt', content: '0' }]] });
  const api = await startApi(t, { repoUrl: repo.url, env: FAST });
  const users = await watch(api, '?prefix=users/');
  const all = await watch(api);
  const c1 = (await api.request('POST', '/users/a.json', '1')).headers['x-commit'];
  await api.request('POST', '/other/b.json', '2');
  const c3 = await commitFiles(repo.dir, [{ path: 'users/deep/c.json', content: '3' }, { path: 'other/d.json', content: '4' }], 'both');
  await all.waitFor(3);
  await users.waitFor(2);
  await polls(server, 'prefix', 2);
  t.same(users.ids(), [c1, c3]);
  t.same(users.events[1]!.data.changes.map((c) => c.path), ['users/deep/c.json'], 'only the changes under the prefix');
  t.same(all.events[2]!.data.changes.map((c) => c.path), ['other/d.json', 'users/deep/c.json'], 'unfiltered: both');
  await users.close();
  await all.close();
});

t.test('refusals: unknown since 410, bad since 400, memory 501, MAX_WATCHERS 503, read-only token may watch', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('refuse', { seed: [[{ path: 'x.txt', content: '0' }]] });
  const ro = 'r'.repeat(20);
  const api = await startApi(t, { repoUrl: repo.url, env: { ...FAST, MAX_WATCHERS: '2', API_TOKENS_RO: ro, API_TOKENS_RW: 'w'.repeat(20) } });
  const auth = { authorization: `Bearer ${ro}` };
  const gone = await api.request('GET', `/_watch?since=${'e'.repeat(40)}`, undefined, auth);
  t.equal(gone.status, 410);
  t.match(JSON.parse(gone.body.toString()), { error: /not on the branch/, detail: /since/ });
  t.equal((await api.request('GET', '/_watch', undefined, { ...auth, 'last-event-id': 'f'.repeat(40) })).status, 410, 'Last-Event-ID too');
  t.equal((await api.request('GET', '/_watch?since=abc', undefined, auth)).status, 400);
  t.equal((await api.request('GET', '/_watch')).status, 401, 'a token is needed');
  t.equal((await api.request('POST', '/_watch', '', auth)).status, 403, 'read-only: no POST (auth comes before routing)');
  t.equal((await api.request('OPTIONS', '/_watch', undefined, auth)).headers.allow, 'GET, HEAD, OPTIONS');
  const w1 = await watch(api, '', auth);
  const w2 = await watch(api, '', auth);
  t.same([w1.status, w2.status], [200, 200], 'a read-only token may watch');
  const over = await api.request('GET', '/_watch', undefined, auth);
  t.equal(over.status, 503);
  t.equal(over.headers['retry-after'], '5');
  await w1.close();
  let again = await watch(api, '', auth);
  for (let i = 0; again.status === 503 && i < 100; i++) {
    await again.close();
    await new Promise((r) => setTimeout(r, 20));
    again = await watch(api, '', auth);
  }
  t.equal(again.status, 200, 'a closed stream frees its slot');
  await again.close();
  await w2.close();

  const mem = await startApi(t, { backend: 'memory' });
  t.equal((await mem.request('GET', '/_watch')).status, 501);
});

t.test('100 watchers cost one poll per interval, not one per watcher', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('many', { seed: [[{ path: 'x.txt', content: '0' }]] });
  const pollMs = 100;
  const api = await startApi(t, { repoUrl: repo.url, env: { WATCH_POLL_MS: String(pollMs), MAX_WATCHERS: '100' } });
  const watchers = await Promise.all(Array.from({ length: 100 }, () => watch(api)));
  t.ok(watchers.every((w) => w.status === 200), '100 streams open');
  server.resetCounts();
  const started = performance.now();
  await polls(server, 'many', 5);
  const elapsed = performance.now() - started;
  const counts = server.counts('many');
  // Slowness can only make fewer polls: the bound holds however loaded the machine is.
  t.ok(counts['upload-pack'] <= Math.floor(elapsed / pollMs) + 2, `${counts['upload-pack']} polls in ${Math.round(elapsed)} ms`);
  t.equal(counts.total, counts['upload-pack'], 'each poll is one ls-refs; nothing else is asked');
  const commit = await commitFiles(repo.dir, [{ path: 'y.txt', content: '1' }], 'one for all');
  await Promise.all(watchers.map((w) => w.waitFor(1)));
  t.ok(watchers.every((w) => w.ids().length === 1 && w.ids()[0] === commit), 'every watcher got the commit once');
  await Promise.all(watchers.map((w) => w.close()));
});

t.test('a force push under a live stream ends it; resuming from the lost history is 410', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('rewrite', { seed: [[{ path: 'x.txt', content: '0' }]] });
  const api = await startApi(t, { repoUrl: repo.url, env: FAST });
  const w = await watch(api);
  const lost = (await api.request('PUT', '/x.txt', '1')).headers['x-commit'] as string;
  await w.waitFor(1);
  const tree = await gitText(['rev-parse', 'main^{tree}'], { cwd: repo.dir });
  const orphan = await gitText(['commit-tree', tree, '-m', 'rewritten'], { cwd: repo.dir });
  await gitText(['update-ref', 'refs/heads/main', orphan], { cwd: repo.dir });
  await w.until('the end of the stream', () => w.ended !== undefined);
  t.equal(w.ended, 'clean');
  t.same(w.ids(), [lost]);
  t.equal((await api.request('GET', '/_watch', undefined, { 'last-event-id': lost })).status, 410);
});

t.test('heartbeats, and shutdown ends every stream cleanly', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('stop', { seed: [[{ path: 'x.txt', content: '0' }]] });
  const api = await startApi(t, { repoUrl: repo.url, env: { ...FAST, WATCH_HEARTBEAT_MS: '50', SHUTDOWN_GRACE_MS: '600000' } });
  const ws = [await watch(api), await watch(api, '?prefix=x')];
  await ws[0]!.until('a heartbeat', () => ws[0]!.comments.includes('ping'));
  const head = await api.request('HEAD', '/_watch');
  t.equal(head.status, 200);
  t.equal(head.body.length, 0);
  // With a grace of ten minutes, close() returning at all shows it did not wait for the streams.
  await api.close();
  for (const w of ws) {
    await w.until('the end of the stream', () => w.ended !== undefined);
    t.equal(w.ended, 'clean', 'the response ended, not cut');
  }
});
