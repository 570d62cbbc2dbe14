// The memory store lists directories as the Git store does: the same entries in the same order (a directory's
// etag aside: the memory store has no trees), its head id as the commit and the only ref, and live paging.
import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { startApi, type ApiResponse } from '../fixtures/api-server.js';

interface Listing {
  path: string;
  commit: string | null;
  entries: Array<{ name: string; path: string; type: string; etag?: string; mode: string; size?: number }>;
  truncated: boolean;
  next: string | null;
}
const json = (res: ApiResponse): Listing => JSON.parse(res.body.toString()) as Listing;

const FILES = ['d/a.json', 'd/a-b.txt', 'd/a/inner.txt', 'd/a.b/c', 'd/z', 'd/é.txt', 'top.txt', 'd/a/deeper/x'];

t.test('same listing as the Git store, order and ids included', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('same', { seed: [FILES.map((path) => ({ path, content: `<${path}>` }))] });
  const git = await startApi(t, { repoUrl: repo.url });
  const mem = await startApi(t, { backend: 'memory' });
  for (const path of FILES) t.equal((await mem.request('POST', '/' + path.split('/').map(encodeURIComponent).join('/'), `<${path}>`)).status, 201);
  for (const path of FILES) await git.request('GET', '/' + path.split('/').map(encodeURIComponent).join('/')); // sizes known
  const strip = (l: Listing) => l.entries.map((e) => (e.type === 'dir' ? { ...e, etag: undefined } : e));
  for (const q of ['/', '/d/', '/d/a/', '/d/?recursive=true', '/?recursive=true']) {
    const g = json(await git.request('GET', q));
    const m = await mem.request('GET', q);
    t.equal(m.status, 200);
    t.equal(m.headers['content-type'], 'application/json');
    const ml = json(m);
    t.same(JSON.parse(JSON.stringify(strip(ml))), JSON.parse(JSON.stringify(strip(g))), `${q}: the same entries`);
    t.equal(ml.path, g.path);
    t.match(ml.commit, /^[0-9a-f]{40}$/);
    t.equal(m.headers['x-commit'], ml.commit);
  }
});

t.test('memory: codes, refs, and paging', async (t) => {
  const mem = await startApi(t, { backend: 'memory' });
  const empty = json(await mem.request('GET', '/'));
  t.same(empty.entries, [], 'an empty store has an empty root');
  for (let i = 0; i < 5; i++) await mem.request('POST', `/p/f${i}`, `${i}`);
  t.equal((await mem.request('GET', '/nope/')).status, 404);
  t.equal((await mem.request('GET', '/p/f1/')).status, 404, 'a file asked as a directory');
  t.equal((await mem.request('DELETE', '/p/')).status, 405);
  const p1 = json(await mem.request('GET', '/p/?limit=2'));
  t.same(p1.entries.map((e) => e.name), ['f0', 'f1']);
  t.equal(p1.truncated, true);
  t.equal((await mem.request('GET', `/p/?ref=${p1.commit}`)).status, 200, 'the head id is a ref');
  t.equal((await mem.request('GET', `/p/f0?ref=${p1.commit}`)).headers['cache-control'], 'public, max-age=31536000, immutable');
  await mem.request('DELETE', '/p/f2');
  await mem.request('POST', '/p/f10', 'x');
  const p2 = json(await mem.request('GET', `/p/?limit=2&cursor=${p1.next}`));
  t.same(p2.entries.map((e) => e.name), ['f10', 'f3'], 'continues after the last name, in the current state');
  const p3 = json(await mem.request('GET', `/p/?limit=2&cursor=${p2.next}`));
  t.same(p3.entries.map((e) => e.name), ['f4']);
  t.equal(p3.next, null);
  const old = await mem.request('GET', `/p/f0?ref=${p1.commit}`);
  t.equal(old.status, 404, 'an old head id is not kept');
  t.match(JSON.parse(old.body.toString()).error, p1.commit!);
  t.equal((await mem.request('GET', '/p/?cursor=nope!')).status, 400);
});
