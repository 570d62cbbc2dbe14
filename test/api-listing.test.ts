// Directory listings and reads at a ref, end to end against the fixture git server: the JSON shape, Git's
// tree order and entry types, paging with a cursor tied to its commit, the codes, and the round trips.
import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { commitFiles, git, gitText } from '../fixtures/repo.js';
import { startApi, type ApiResponse } from '../fixtures/api-server.js';

interface Listing {
  path: string;
  commit: string | null;
  entries: Array<{ name: string; path: string; type: string; etag?: string; mode: string; size?: number }>;
  truncated: boolean;
  next: string | null;
}

const json = (res: ApiResponse): Listing => JSON.parse(res.body.toString()) as Listing;

t.test('a directory listing: shape, order, types, codes', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('ls', {
    seed: [[
      { path: 'dir/a.json', content: '{"a":1}\n' },
      { path: 'dir/a-b.txt', content: 'x' },
      { path: 'dir/a/inner.txt', content: 'in' },
      { path: 'dir/run.sh', content: '#!/bin/sh\n', mode: '100755' },
      { path: 'dir/link', content: 'a.json', mode: '120000' },
      { path: 'top.txt', content: 'top' },
    ]],
  });
  const api = await startApi(t, { repoUrl: repo.url });
  const tip = await gitText(['rev-parse', 'main'], { cwd: repo.dir });

  const res = await api.request('GET', '/dir/');
  t.equal(res.status, 200);
  t.equal(res.headers['content-type'], 'application/json');
  t.equal(res.headers['x-commit'], tip);
  const body = json(res);
  const lsTree = (await gitText(['ls-tree', 'main:dir'], { cwd: repo.dir })).split('\n').map((l) => {
    const [meta, name] = l.split('\t') as [string, string];
    const [mode, , oid] = meta.split(' ') as [string, string, string];
    return { name, mode: mode === '040000' ? '40000' : mode, oid };
  });
  t.same(body.entries.map((e) => e.name), lsTree.map((e) => e.name), "Git's tree order");
  t.same(body.entries.map((e) => e.etag), lsTree.map((e) => e.oid), 'etags are the object ids');
  t.same(body.entries.map((e) => e.mode), lsTree.map((e) => e.mode));
  t.same(Object.fromEntries(body.entries.map((e) => [e.name, [e.type, e.path]])), {
    'a-b.txt': ['file', 'dir/a-b.txt'], 'a.json': ['file', 'dir/a.json'], a: ['dir', 'dir/a/'],
    link: ['symlink', 'dir/link'], 'run.sh': ['file', 'dir/run.sh'],
  });
  t.match(body, { path: 'dir/', commit: tip, truncated: false, next: null });
  t.notOk('size' in body.entries.find((e) => e.type === 'dir')!, 'no size on a directory');

  // Once a blob has been read its size is known and given.
  await api.request('GET', '/dir/a.json');
  t.equal(json(await api.request('GET', '/dir/')).entries.find((e) => e.name === 'a.json')!.size, 8);

  const root = json(await api.request('GET', '/'));
  t.same(root.entries.map((e) => [e.name, e.type]), [['dir', 'dir'], ['top.txt', 'file']]);
  t.equal(root.path, '/');
  t.same(json(await api.request('GET', '/dir/a/')).entries.map((e) => e.path), ['dir/a/inner.txt']);

  const head = await api.request('HEAD', '/dir/');
  t.equal(head.status, 200);
  t.equal(head.body.length, 0);
  t.equal(head.headers['content-length'], (await api.request('GET', '/dir/')).headers['content-length']);

  for (const [path, why] of [['/nope/', /nope\/ does not exist/], ['/top.txt/', /top\.txt is a file, not a directory/],
    ['/dir/a.json/', /not a directory/]] as const) {
    const r = await api.request('GET', path);
    t.equal(r.status, 404, `${path} → 404`);
    t.match(JSON.parse(r.body.toString()).error + JSON.parse(r.body.toString()).detail, why);
  }
  t.equal((await api.request('HEAD', '/nope/')).status, 404);
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await api.request(method, '/dir/', method === 'DELETE' ? undefined : 'x');
    t.equal(r.status, 405, `${method} on a directory → 405`);
    t.equal(r.headers['allow'], 'GET, HEAD, OPTIONS');
  }
  t.equal((await api.request('OPTIONS', '/dir/')).headers['allow'], 'GET, HEAD, OPTIONS');
  for (const q of ['limit=0', 'limit=10001', 'limit=x', 'limit=1&limit=2', 'recursive=yes', 'cursor=***', 'cursor=' + Buffer.from('x:1').toString('base64url')]) {
    const r = await api.request('GET', `/dir/?${q}`);
    t.equal(r.status, 400, `?${q} → 400`);
  }
  t.equal((await api.request('GET', '/dir//')).status, 400, 'a doubled slash is still refused');
  t.equal((await api.request('GET', '/.git/')).status, 400, '.git is still refused');
  t.equal(await gitText(['rev-parse', 'main'], { cwd: repo.dir }), tip, 'nothing was written');
});

t.test('paging: exact round trips, and a cursor keeps its commit across a later write', async (t) => {
  const server = await startFixtureServer(t);
  const files = Array.from({ length: 25 }, (_, i) => ({ path: `d/f${String(i).padStart(2, '0')}.txt`, content: `${i}` }));
  const repo = await server.createRepo('page', { seed: [files] });
  const api = await startApi(t, { repoUrl: repo.url });
  const first = await api.request('GET', '/d/?limit=10'); // warms discovery and the trees
  const p1 = json(first);
  t.equal(p1.entries.length, 10);
  t.equal(p1.truncated, true);
  t.type(p1.next, 'string');

  // A write lands between pages: the next pages still read the first page's commit.
  t.equal((await api.request('POST', '/d/a-new.txt', 'new')).status, 201);
  await commitFiles(repo.dir, [{ path: 'd/f00.txt', content: 'changed' }], 'outside');

  server.resetCounts();
  const p2 = json(await api.request('GET', `/d/?limit=10&cursor=${p1.next}`));
  // A cursor names its commit, whose trees are cached: no ref lookup, no fetch.
  t.same(server.counts('page').total, 0, 'a next page of cached trees costs no round trip');
  const p3 = json(await api.request('GET', `/d/?limit=10&cursor=${p2.next}`));
  t.equal(p3.truncated, false);
  t.equal(p3.next, null);
  t.equal(p2.commit, p1.commit);
  t.equal(p3.commit, p1.commit);
  t.same([...p1.entries, ...p2.entries, ...p3.entries].map((e) => e.path), files.map((f) => f.path), 'every entry once, as at the first commit');

  server.resetCounts();
  const fresh = json(await api.request('GET', '/d/?limit=10'));
  // The tip (1), the new commit with its root tree (1), the changed tree d (1).
  t.same(server.counts('page').total, 3, 'a first page after a foreign push: tip + commit/root + tree');
  t.equal(fresh.entries[0]!.name, 'a-new.txt');
  server.resetCounts();
  await api.request('GET', '/d/?limit=10');
  t.same(server.counts('page'), { ...server.counts('page'), total: 1, 'upload-pack': 1 }, 'a warm listing page: the tip only');
});

t.test('?ref=: commit ids, branches, tags; pinned reads are immutable and stay the same', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('refs', { seed: [[{ path: 'x/one.txt', content: 'v1' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const c1 = await gitText(['rev-parse', 'main'], { cwd: repo.dir });
  await git(['tag', 'light', c1], { cwd: repo.dir });
  await git(['tag', '-a', '-m', 'annotated', 'v1', c1], { cwd: repo.dir });
  await git(['branch', 'old', c1], { cwd: repo.dir });
  const before = json(await api.request('GET', `/x/?ref=${c1}`));

  t.equal((await api.request('PUT', '/x/one.txt', 'v2')).status, 204);
  t.equal((await api.request('POST', '/x/two.txt', 'two')).status, 201);

  t.equal((await api.request('GET', '/x/one.txt')).body.toString(), 'v2');
  for (const ref of [c1, 'light', 'v1', 'old']) {
    const r = await api.request('GET', `/x/one.txt?ref=${ref}`);
    t.equal(r.status, 200, `ref ${ref}`);
    t.equal(r.body.toString(), 'v1', `ref ${ref}: the old content`);
    t.equal(r.headers['x-commit'], c1, `ref ${ref}: read at ${c1}`);
    t.equal(r.headers['cache-control'], ref === c1 ? 'public, max-age=31536000, immutable' : undefined);
    const h = await api.request('HEAD', `/x/one.txt?ref=${ref}`);
    t.equal(h.status, 200);
    t.equal(h.headers['content-length'], '2');
  }
  server.resetCounts();
  await api.request('GET', `/x/one.txt?ref=${c1}`);
  t.equal(server.counts('refs').total, 0, 'a read pinned to a cached commit: no round trip, not even the tip');
  await api.request('GET', '/x/one.txt?ref=v1');
  t.same(server.counts('refs').total, 1, 'by tag name: one ls-refs');
  const after = await api.request('GET', `/x/?ref=${c1}`);
  // Sizes become known as blobs are read; everything else is as it was.
  const noSizes = (l: Listing) => ({ ...l, entries: l.entries.map(({ size: _size, ...e }) => e) });
  t.same(noSizes(json(after)), noSizes(before), 'a listing pinned to a commit is the same after later writes');
  t.equal(after.headers['cache-control'], 'public, max-age=31536000, immutable');
  t.same(json(await api.request('GET', '/x/?ref=v1')).entries.map((e) => e.name), ['one.txt']);
  t.same(json(await api.request('GET', '/x/')).entries.map((e) => e.name), ['one.txt', 'two.txt']);
  t.equal((await api.request('GET', '/x/two.txt?ref=v1')).status, 404, 'absent at that commit');

  for (const ref of ['nope', 'f'.repeat(40)]) {
    const r = await api.request('GET', `/x/one.txt?ref=${ref}`);
    t.equal(r.status, 404, `unknown ref ${ref} → 404`);
    t.match(JSON.parse(r.body.toString()).error, ref, 'the error names the ref');
    t.equal((await api.request('GET', `/x/?ref=${ref}`)).status, 404, `listing at ${ref} → 404`);
  }
  for (const ref of ['a..b', '-x', 'x.lock', '']) {
    t.equal((await api.request('GET', `/x/one.txt?ref=${encodeURIComponent(ref)}`)).status, 400, `bad ref ${JSON.stringify(ref)} → 400`);
  }
  const tip = await gitText(['rev-parse', 'main'], { cwd: repo.dir });
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await api.request(method, `/x/three.txt?ref=main`, method === 'DELETE' ? undefined : 'x');
    t.equal(r.status, 400, `?ref= on ${method} → 400`);
  }
  t.equal(await gitText(['rev-parse', 'main'], { cwd: repo.dir }), tip, 'nothing was written');
});

t.test('?recursive=true: every file below, trees fetched in bounded round trips', async (t) => {
  const server = await startFixtureServer(t);
  const files = [];
  for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) files.push({ path: `r/d${a}/e${b}/f.txt`, content: `${a}${b}` });
  files.push({ path: 'r/z.txt', content: 'z' }, { path: 'r/d0.txt', content: 'd0' });
  const repo = await server.createRepo('rec', { seed: [files] });
  const api = await startApi(t, { repoUrl: repo.url });
  await api.request('GET', '/r/'); // discovery, the tip, the root and r
  server.resetCounts();
  const all = json(await api.request('GET', '/r/?recursive=true'));
  // The tip (1) and every tree below r in one fetch (1): not one per directory (20 here).
  t.equal(server.counts('rec').total, 2, 'recursive listing of 20 directories: 2 round trips');
  const lsTree = (await gitText(['ls-tree', '-r', '--name-only', 'main', 'r/'], { cwd: repo.dir })).split('\n');
  t.same(all.entries.map((e) => e.path), lsTree, 'as git ls-tree -r, in its order');
  t.ok(all.entries.every((e) => e.type === 'file'), 'no directory entries');
  t.equal(all.entries.find((e) => e.path === 'r/d1/e2/f.txt')!.name, 'f.txt');
  const pages: string[] = [];
  let next: string | null = null;
  do {
    const p: Listing = json(await api.request('GET', `/r/?recursive=true&limit=7${next === null ? '' : `&cursor=${next}`}`));
    pages.push(...p.entries.map((e) => e.path));
    next = p.next;
  } while (next !== null);
  t.same(pages, lsTree, 'paged recursively: the same entries');
});
