// Exact round trips to the git host per API request, cold and warm, counted by the fixture server.
// Only the branch tip is mutable: everything else is cached by id, and a warm write pushes straight
// over the last known tip (the push's old-id check is the consistency check).
import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { commitFiles, git, readTreeFiles } from '../fixtures/repo.js';
import { startApi } from '../fixtures/api-server.js';

t.test('round trips per request', async (t) => {
  const git = await startFixtureServer(t);
  const repo = await git.createRepo('rt', { seed: [[{ path: 'a/b/seed.txt', content: 'seed' }, { path: 'top.txt', content: 'top' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const trips = async (what: string, method: string, path: string, body?: string) => {
    git.resetCounts();
    const res = await api.request(method, path, body);
    t.ok(res.status < 300, `${what}: ${method} ${path} → ${res.status}`);
    const c = git.counts('rt');
    return { total: c.total, 'info-refs': c['info-refs'], 'upload-pack': c['upload-pack'], 'receive-pack': c['receive-pack'] };
  };
  // Cold: discovery (1), ls-refs (1), the commit with its root tree (1), tree a (1), tree a/b (1), the blob (1).
  t.same(await trips('cold read', 'GET', '/a/b/seed.txt'), { total: 6, 'info-refs': 1, 'upload-pack': 5, 'receive-pack': 0 });
  // Warm: only the tip; the blob is small enough to be cached.
  t.same(await trips('warm read', 'GET', '/a/b/seed.txt'), { total: 1, 'info-refs': 0, 'upload-pack': 1, 'receive-pack': 0 });
  // An uncached blob under known trees: the tip and the blob.
  t.same(await trips('warm read, new blob', 'GET', '/top.txt'), { total: 2, 'info-refs': 0, 'upload-pack': 2, 'receive-pack': 0 });
  // The first write learns receive-pack's capabilities once; the tip and trees are known from the reads.
  t.same(await trips('first write', 'POST', '/a/b/new.txt', 'new'), { total: 2, 'info-refs': 1, 'upload-pack': 0, 'receive-pack': 1 });
  for (const [method, path] of [['POST', '/a/c/d.txt'], ['PUT', '/a/b/new.txt'], ['DELETE', '/a/b/seed.txt'], ['POST', '/z.txt']] as const) {
    t.same(await trips('warm write', method, path, method === 'DELETE' ? undefined : 'x'), { total: 1, 'info-refs': 0, 'upload-pack': 0, 'receive-pack': 1 });
  }
  // A read after our own writes: the tip only; our trees and small blobs are cached.
  t.same(await trips('read own write', 'GET', '/a/c/d.txt'), { total: 1, 'info-refs': 0, 'upload-pack': 1, 'receive-pack': 0 });

  // Someone else pushes: the next write is refused once, refreshes the tip and the changed trees, and retries.
  await commitFiles(repo.dir, [{ path: 'other/file.txt', content: 'other' }], 'outside');
  // refused push (1), ls-refs (1), new commit + root (1), tree a (unchanged: cached), retry push (1)
  t.same(await trips('write after an outside push', 'POST', '/a/e.txt', 'e'), { total: 4, 'info-refs': 0, 'upload-pack': 2, 'receive-pack': 2 });
  t.same(await trips('warm write again', 'PUT', '/a/e.txt', 'e2'), { total: 1, 'info-refs': 0, 'upload-pack': 0, 'receive-pack': 1 });
});

t.test('a host without filter support: everything still works, with bigger fetches', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('nofilter', { seed: [[{ path: 'a/b/seed.txt', content: 'seed' }, { path: 'a/other.bin', content: Buffer.alloc(100_000, 7) }]] });
  await git(['config', 'uploadpack.allowFilter', 'false'], { cwd: repo.dir });
  const api = await startApi(t, { repoUrl: repo.url });
  t.equal((await api.request('GET', '/a/b/seed.txt')).body.toString(), 'seed');
  t.equal((await api.request('POST', '/a/b/new.txt', 'new')).status, 201);
  t.equal((await api.request('PUT', '/a/b/seed.txt', 'changed')).status, 204);
  t.equal((await api.request('DELETE', '/a/b/new.txt')).status, 204);
  t.equal((await api.request('GET', '/a/other.bin')).body.length, 100_000);
  const files = await readTreeFiles(repo.dir, 'main');
  t.same([...files.keys()].sort(), ['a/b/seed.txt', 'a/other.bin']);
  t.equal(files.get('a/b/seed.txt')!.toString(), 'changed');
});

t.test('a host taking want-ref: a lost race costs one request to learn the new tip and its root tree', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('riw', { seed: [[{ path: 'a/b/seed.txt', content: 'seed' }]] });
  await git(['config', 'uploadpack.allowRefInWant', 'true'], { cwd: repo.dir });
  const api = await startApi(t, { repoUrl: repo.url });
  t.equal((await api.request('POST', '/a/b/mine.txt', 'mine')).status, 201);
  const trips = async (method: string, path: string, body?: string) => {
    server.resetCounts();
    t.ok((await api.request(method, path, body)).status < 300);
    const c = server.counts('riw');
    return { total: c.total, 'upload-pack': c['upload-pack'], 'receive-pack': c['receive-pack'] };
  };
  // refused push (1), fetch by ref: the new tip, its commit and root (1), tree a (unchanged: cached), retry push (1)
  await commitFiles(repo.dir, [{ path: 'other/file.txt', content: 'other' }], 'outside');
  t.same(await trips('POST', '/a/e.txt', 'e'), { total: 3, 'upload-pack': 1, 'receive-pack': 2 });
  // A tree on our path changed too: that tree is one more fetch.
  await commitFiles(repo.dir, [{ path: 'a/other.txt', content: 'other' }], 'outside, under a/');
  t.same(await trips('PUT', '/a/e.txt', 'e2'), { total: 4, 'upload-pack': 2, 'receive-pack': 2 });
  const files = await readTreeFiles(repo.dir, 'main');
  t.equal(files.get('a/e.txt')?.toString(), 'e2');
  t.equal(files.get('a/other.txt')?.toString(), 'other', 'built on the outside commits');
  t.equal(files.get('other/file.txt')?.toString(), 'other');
  // The branch deleted under us: want-ref fails (unknown ref); the write falls back to a lookup and recreates it.
  await git(['update-ref', '-d', 'refs/heads/main'], { cwd: repo.dir });
  t.equal((await api.request('POST', '/fresh.txt', 'f')).status, 201);
  t.same([...(await readTreeFiles(repo.dir, 'main')).keys()], ['fresh.txt'], 'a new branch of our write alone');
});

t.test('after a lost race, the changed trees on a commit\'s paths come one level per request', async (t) => {
  const server = await startFixtureServer(t);
  const dirs = ['a', 'b', 'c'];
  const repo = await server.createRepo('levels', { seed: [dirs.map((d) => ({ path: `${d}/seed.txt`, content: d }))] });
  const api = await startApi(t, { repoUrl: repo.url });
  const commitAll = (content: string) => api.request('POST', '/_commit', JSON.stringify({
    operations: dirs.map((d) => ({ op: 'upsert', path: `${d}/mine.txt`, content })),
  }), { 'content-type': 'application/json' });
  t.equal((await commitAll('1')).status, 200);
  // Someone else changes all three directories the next commit writes into.
  await commitFiles(repo.dir, dirs.map((d) => ({ path: `${d}/theirs.txt`, content: 'theirs' })), 'outside');
  server.resetCounts();
  t.equal((await commitAll('2')).status, 200);
  const c = server.counts('levels');
  // refused push (1), ls-refs (1), the new commit + root (1), trees a, b and c in one request (1), retry push (1)
  t.same({ total: c.total, 'upload-pack': c['upload-pack'], 'receive-pack': c['receive-pack'] },
    { total: 5, 'upload-pack': 3, 'receive-pack': 2 });
  const files = await readTreeFiles(repo.dir, 'main');
  for (const d of dirs) {
    t.equal(files.get(`${d}/mine.txt`)?.toString(), '2');
    t.equal(files.get(`${d}/theirs.txt`)?.toString(), 'theirs');
  }
});
