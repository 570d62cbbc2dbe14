// History of a file or a directory against the fixture git server: the commits `git log --first-parent -- path`
// names, newest first, with what changed; paging; ?ref=; and round trips bounded by the path's depth.
import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { commitFiles, gitText } from '../fixtures/repo.js';
import { startApi } from '../fixtures/api-server.js';

interface Page {
  path: string;
  commits: Array<{ commit: string; parent: string | null; author: { name: string; email: string; date: string };
    message: string; change: string; etag: string | null }>;
  next: string | null;
}

t.test('history: what changed the path, newest first, paged, at a ref, in bounded round trips', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('hist', { seed: [[{ path: 'a/b/f.txt', content: 'v1' }, { path: 'other.txt', content: 'o' }]] });
  for (let i = 0; i < 12; i++) {
    await commitFiles(repo.dir, [{ path: i % 3 === 0 ? 'a/b/f.txt' : `noise/${i}.txt`, content: `v${i + 2}` }], `change ${i}`);
  }
  await commitFiles(repo.dir, [], 'remove f', { deletes: ['a/b/f.txt'] });
  await commitFiles(repo.dir, [{ path: 'a/b/f.txt', content: 'again' }], 'recreate f');
  const api = await startApi(t, { repoUrl: repo.url });
  const log = (args: string[]) => gitText(['log', '--first-parent', '--format=%H', ...args], { cwd: repo.dir }).then((s) => s.split('\n'));
  const want = await log(['main', '--', 'a/b/f.txt']);

  await api.request('GET', '/other.txt'); // discovery and the tip's trees
  server.resetCounts();
  const res = await api.request('GET', '/a/b/f.txt?history');
  t.equal(res.status, 200);
  t.equal(res.headers['content-type'], 'application/json');
  // ls-refs (1), the commits (1), then one request per level of the path for all commits' trees (3).
  t.equal(server.counts('hist').total, 5, 'a history page: 5 round trips for a path 3 deep, whatever the commit count');
  const page = JSON.parse(res.body.toString()) as Page;
  t.equal(page.path, 'a/b/f.txt');
  t.same(page.commits.map((c) => c.commit), want, 'the commits git log names, newest first');
  t.same(page.commits.map((c) => c.change), ['create', 'delete', 'modify', 'modify', 'modify', 'modify', 'create']);
  t.equal(page.commits[0]!.etag, (await gitText(['rev-parse', 'main:a/b/f.txt'], { cwd: repo.dir })));
  t.equal(page.commits[1]!.etag, null, 'deleted');
  t.equal(page.commits[0]!.message, 'recreate f\n');
  t.equal(page.commits[0]!.parent, await gitText(['rev-parse', 'main~1'], { cwd: repo.dir }));
  t.equal(page.commits.at(-1)!.parent, null, 'the root commit');
  t.match(page.commits[0]!.author, { name: String, email: String, date: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/ });
  t.equal(page.next, null);

  server.resetCounts();
  await api.request('GET', '/a/b/f.txt?history');
  t.equal(server.counts('hist').total, 1, 'warm: the tip only');

  const paged: string[] = [];
  let next: string | null = null;
  do {
    const p: Page = JSON.parse((await api.request('GET', `/a/b/f.txt?history&limit=3${next === null ? '' : `&cursor=${next}`}`)).body.toString());
    t.ok(p.commits.length <= 3);
    paged.push(...p.commits.map((c) => c.commit));
    next = p.next;
  } while (next !== null);
  t.same(paged, want, 'paged: the same commits');

  const dir = JSON.parse((await api.request('GET', '/noise/?history')).body.toString()) as Page;
  t.same(dir.commits.map((c) => c.commit), await log(['main', '--', 'noise']), 'a directory: anything below it');
  t.equal(dir.path, 'noise/');
  const root = JSON.parse((await api.request('GET', '/?history&limit=1000')).body.toString()) as Page;
  t.same(root.commits.map((c) => c.commit), await log(['main']), 'the root: every commit');

  // Pinned: the same after later writes.
  const pinnedAt = want[0]!;
  const before = (await api.request('GET', `/a/b/f.txt?history&ref=${pinnedAt}`)).body.toString();
  t.equal((await api.request('PUT', '/a/b/f.txt', 'later')).status, 204);
  const after = await api.request('GET', `/a/b/f.txt?history&ref=${pinnedAt}`);
  t.equal(after.body.toString(), before, 'history pinned to a commit stays the same');
  t.equal(after.headers['cache-control'], 'public, max-age=31536000, immutable');
  t.equal((JSON.parse((await api.request('GET', '/a/b/f.txt?history')).body.toString()) as Page).commits[0]!.change, 'modify');

  for (const q of ['limit=0', 'limit=1001', 'cursor=zz', 'ref=nope']) {
    const r = await api.request('GET', `/a/b/f.txt?history&${q}`);
    t.equal(r.status, q === 'ref=nope' ? 404 : 400, `?history&${q}`);
  }
  t.equal((await api.request('GET', `/a/b/f.txt?history&ref=${'e'.repeat(40)}`)).status, 404, 'a commit the host lacks');
  t.same(JSON.parse((await api.request('GET', '/never.txt?history')).body.toString()).commits, [], 'never existed: no commits');
  const mem = await startApi(t, { backend: 'memory' });
  t.equal((await mem.request('GET', '/x?history')).status, 501, 'the memory store keeps no history');
});
