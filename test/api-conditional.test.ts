// ETags, conditional requests, per-path compare-and-swap, Range, HEAD and Content-Type, end to end against
// the fixture git server, with the round trips each costs counted at the server.
import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { commitFiles, fsck, git, gitText } from '../fixtures/repo.js';
import { startApi } from '../fixtures/api-server.js';
import { GitStore } from '../src/store/git-store.js';

const blobAt = (dir: string, path: string) => gitText(['rev-parse', `main:${path}`], { cwd: dir });
const commitsOn = async (dir: string) => Number(await gitText(['rev-list', '--count', 'main'], { cwd: dir }));
const quoted = (oid: string) => `"${oid}"`;

t.test('GET and HEAD: ETag, X-Commit, Accept-Ranges; 304 and 412 before any blob is fetched', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('etag', { seed: [[{ path: 'a/b.json', content: '{"v":1}' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const oid = await blobAt(repo.dir, 'a/b.json');
  const tip = await gitText(['rev-parse', 'main'], { cwd: repo.dir });

  const get = await api.request('GET', '/a/b.json');
  t.equal(get.status, 200);
  t.equal(get.headers.etag, quoted(oid), 'the ETag is the blob id, strong');
  t.equal(get.headers['x-commit'], tip);
  t.equal(get.headers['accept-ranges'], 'bytes');
  t.equal(get.headers['content-type'], 'application/json', 'the earlier server\'s type by default');

  for (const inm of [quoted(oid), `W/${quoted(oid)}`, `"other", ${quoted(oid)}`, '*']) {
    server.resetCounts();
    const res = await api.request('GET', '/a/b.json', undefined, { 'If-None-Match': inm });
    t.equal(res.status, 304, `If-None-Match: ${inm} → 304`);
    t.equal(res.body.length, 0);
    t.equal(res.headers.etag, quoted(oid));
    t.equal(res.headers['x-commit'], tip);
    t.same(server.counts('etag'), { ...server.counts('etag'), total: 1, 'upload-pack': 1 }, 'a 304 costs the ref lookup only');
  }
  t.equal((await api.request('GET', '/a/b.json', undefined, { 'If-None-Match': '"nope"' })).status, 200);
  t.equal((await api.request('HEAD', '/a/b.json', undefined, { 'If-None-Match': quoted(oid) })).status, 304);

  t.equal((await api.request('GET', '/a/b.json', undefined, { 'If-Match': quoted(oid) })).status, 200);
  server.resetCounts();
  const failed = await api.request('GET', '/a/b.json', undefined, { 'If-Match': `"${'0'.repeat(40)}"` });
  t.equal(failed.status, 412);
  t.equal(failed.headers.etag, quoted(oid), 'a 412 says what the current ETag is');
  t.match(JSON.parse(failed.body.toString()), { error: /does not match If-Match/, detail: new RegExp(oid) });
  t.equal(server.counts('etag').total, 1, 'a 412 costs the ref lookup only');
  t.equal((await api.request('GET', '/a/b.json', undefined, { 'If-Match': `W/${quoted(oid)}` })).status, 412,
    'If-Match compares strongly: a weak tag never matches');

  const bad = await api.request('GET', '/a/b.json', undefined, { 'If-Match': 'abc' });
  t.equal(bad.status, 400, 'a malformed entity tag is a 400');
  t.match(JSON.parse(bad.body.toString()).error, /If-Match/);
  t.equal((await api.request('GET', '/nope', undefined, { 'If-None-Match': '*' })).status, 404, 'a missing file stays 404');
});

t.test('HEAD: Content-Length without the blob when its size is known; the round trips', async (t) => {
  const server = await startFixtureServer(t);
  const big = Buffer.alloc(300 * 1024, 'x');
  const repo = await server.createRepo('head', { seed: [[{ path: 'd/small.txt', content: 'hello' }, { path: 'd/big.bin', content: big }]] });
  const api = await startApi(t, { repoUrl: repo.url });

  server.resetCounts();
  const cold = await api.request('HEAD', '/d/big.bin');
  t.equal(cold.status, 200);
  t.equal(cold.headers['content-length'], String(big.length));
  t.equal(cold.headers.etag, quoted(await blobAt(repo.dir, 'd/big.bin')));
  t.equal(cold.body.length, 0);
  t.same(server.counts('head'), { 'info-refs': 1, 'upload-pack': 4, 'receive-pack': 0, other: 0, total: 5 },
    'cold: discovery, ls-refs, commit+root, the d/ tree, object-info');

  server.resetCounts();
  t.equal((await api.request('HEAD', '/d/big.bin')).headers['content-length'], String(big.length));
  t.equal(server.counts('head').total, 1, 'the size is remembered: the ref lookup only');
  const listing = JSON.parse((await api.request('GET', '/d/')).body.toString()) as { entries: Array<{ name: string; size?: number }> };
  t.equal(listing.entries.find((e) => e.name === 'big.bin')?.size, big.length, 'and listings give it too');

  await api.request('GET', '/d/small.txt');
  server.resetCounts();
  t.equal((await api.request('HEAD', '/d/small.txt')).headers['content-length'], '5');
  t.equal(server.counts('head').total, 1, 'a cached blob: the ref lookup only');

  const written = await api.request('POST', '/d/new.bin', big);
  t.equal(written.status, 201);
  server.resetCounts();
  t.equal((await api.request('HEAD', '/d/new.bin')).headers['content-length'], String(big.length));
  t.equal(server.counts('head').total, 1, 'what we wrote: the ref lookup only');
});

t.test('writes: ETags, If-Match / If-None-Match on PUT and DELETE, no-op PUT', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('cas', { seed: [[{ path: 'seed.txt', content: 'seed' }]] });
  const api = await startApi(t, { repoUrl: repo.url });

  const post = await api.request('POST', '/doc.json', '{"v":1}');
  t.equal(post.status, 201);
  const v1 = await blobAt(repo.dir, 'doc.json');
  t.equal(post.headers.etag, quoted(v1), 'POST answers the new ETag');

  const put = await api.request('PUT', '/doc.json', '{"v":2}', { 'If-Match': quoted(v1) });
  t.equal(put.status, 204);
  const v2 = await blobAt(repo.dir, 'doc.json');
  t.equal(put.headers.etag, quoted(v2));
  t.equal(put.headers['x-commit'], await gitText(['rev-parse', 'main'], { cwd: repo.dir }));

  let commits = await commitsOn(repo.dir);
  const stale = await api.request('PUT', '/doc.json', '{"v":3}', { 'If-Match': quoted(v1) });
  t.equal(stale.status, 412, 'If-Match with an old ETag → 412');
  t.equal(stale.headers.etag, quoted(v2));
  t.match(JSON.parse(stale.body.toString()), { error: /doc\.json does not hold/, detail: `its current ETag is ${quoted(v2)}` });
  t.equal((await api.request('DELETE', '/doc.json', undefined, { 'If-Match': quoted(v1) })).status, 412);
  const absent = await api.request('PUT', '/gone.json', 'x', { 'If-Match': quoted(v1) });
  t.equal(absent.status, 412, 'If-Match on an absent file → 412, not 404');
  t.match(JSON.parse(absent.body.toString()).detail, /there is no file there/);
  t.equal((await api.request('PUT', '/doc.json', 'x', { 'If-None-Match': '*' })).status, 412, 'If-None-Match: * on a file → 412');
  t.equal((await api.request('PUT', '/doc.json', 'x', { 'If-None-Match': quoted(v2) })).status, 412);
  t.equal((await api.request('PUT', '/doc.json', '{"v":3}', { 'If-Match': `W/${quoted(v2)}` })).status, 412, 'weak tags never match If-Match');
  t.equal(await commitsOn(repo.dir), commits, 'no refused write made a commit');
  t.equal((await git(['show', 'main:doc.json'], { cwd: repo.dir })).toString(), '{"v":2}', 'and nothing changed');

  const created = await api.request('PUT', '/new/file.txt', 'fresh', { 'If-None-Match': '*' });
  t.equal(created.status, 201, 'PUT with If-None-Match: * creates');
  t.equal(created.headers.location, '/new/file.txt');
  t.equal(created.headers.etag, quoted(await blobAt(repo.dir, 'new/file.txt')));
  t.equal((await api.request('PUT', '/seed.txt/under', 'x', { 'If-None-Match': '*' })).status, 409, 'below a file: 409 as POST');
  t.equal((await api.request('PUT', '/new', 'x', { 'If-None-Match': '*' })).status, 409, 'a directory: 409 as POST');
  t.equal((await api.request('PUT', '/other.txt', 'x')).status, 404, 'an unconditional PUT of a missing file stays 404');

  commits = await commitsOn(repo.dir);
  const tip = await gitText(['rev-parse', 'main'], { cwd: repo.dir });
  server.resetCounts();
  const same = await api.request('PUT', '/doc.json', '{"v":2}');
  t.equal(same.status, 204, 'a PUT of the bytes already there');
  t.equal(same.headers.etag, quoted(v2));
  t.equal(same.headers['x-commit'], tip, 'X-Commit: the commit that holds them');
  t.equal(await commitsOn(repo.dir), commits, 'no commit');
  t.same(server.counts('cas'), { ...server.counts('cas'), total: 1, 'upload-pack': 1 }, 'no push: one ls-refs confirms the tip');

  t.equal((await api.request('DELETE', '/doc.json', undefined, { 'If-Match': quoted(v2) })).status, 204);
  t.equal((await api.request('DELETE', '/doc.json', undefined, { 'If-Match': '*' })).status, 412, 'If-Match: * needs a file');
  t.equal((await api.request('POST', '/posted', 'p', { 'If-Match': '"zzz"' })).status, 201, 'POST ignores the conditions');
  await fsck(repo.dir);
});

t.test('compare-and-swap is per path: a foreign push to another path does not fail an If-Match write', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('race', { seed: [[{ path: 'mine.txt', content: 'm1' }, { path: 'theirs.txt', content: 't1' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const m1 = await blobAt(repo.dir, 'mine.txt');
  t.equal((await api.request('PUT', '/mine.txt', 'm2', { 'If-Match': quoted(m1) })).status, 204);
  const m2 = await blobAt(repo.dir, 'mine.txt');

  // Between our last look at the branch (the push just made) and our next push, someone else pushes.
  await commitFiles(repo.dir, [{ path: 'theirs.txt', content: 't2' }], 'foreign');
  server.resetCounts();
  const res = await api.request('PUT', '/mine.txt', 'm3', { 'If-Match': quoted(m2) });
  t.equal(res.status, 204, 'the precondition still holds on the new tip: the write goes through');
  t.equal(server.counts('race')['receive-pack'], 2, 'one refused push (the branch moved), one accepted');
  t.equal((await git(['show', 'main:theirs.txt'], { cwd: repo.dir })).toString(), 't2', 'the foreign change is kept');
  t.equal((await git(['show', 'main:mine.txt'], { cwd: repo.dir })).toString(), 'm3');

  // The same path changed by someone else: then, and only then, 412.
  const m3 = await blobAt(repo.dir, 'mine.txt');
  await commitFiles(repo.dir, [{ path: 'mine.txt', content: 'foreign' }], 'foreign to mine');
  const lost = await api.request('PUT', '/mine.txt', 'm4', { 'If-Match': quoted(m3) });
  t.equal(lost.status, 412);
  t.equal(lost.headers.etag, quoted(await blobAt(repo.dir, 'mine.txt')));
  t.equal((await git(['show', 'main:mine.txt'], { cwd: repo.dir })).toString(), 'foreign', 'nothing overwritten');

  // Unconditional writes to different files from several clients at once: none conflicts.
  const writes = await Promise.all(Array.from({ length: 8 }, (_, i) => api.request('POST', `/p/${i}.txt`, `${i}`)));
  t.same(writes.map((w) => w.status), Array(8).fill(201));
  await fsck(repo.dir);
});

t.test('Range: one range → 206, unsatisfiable → 416, several → 200, If-Range', async (t) => {
  const server = await startFixtureServer(t);
  const text = Buffer.from('0123456789');
  const big = Buffer.alloc(512 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 9)) & 0xff;
  const repo = await server.createRepo('range', { seed: [[{ path: 't.txt', content: text }, { path: 'big.bin', content: big }, { path: 'empty', content: '' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const oid = await blobAt(repo.dir, 't.txt');

  await api.request('GET', '/t.txt');
  for (const [range, body, contentRange] of [
    ['bytes=2-5', '2345', 'bytes 2-5/10'], ['bytes=7-', '789', 'bytes 7-9/10'], ['bytes=-3', '789', 'bytes 7-9/10'],
    ['bytes=8-100', '89', 'bytes 8-9/10'], ['bytes=-20', '0123456789', 'bytes 0-9/10'], ['bytes=0-0', '0', 'bytes 0-0/10'],
  ] as const) {
    server.resetCounts();
    const res = await api.request('GET', '/t.txt', undefined, { Range: range });
    t.equal(res.status, 206, range);
    t.equal(res.body.toString(), body);
    t.equal(res.headers['content-range'], contentRange);
    t.equal(res.headers['content-length'], String(body.length));
    t.equal(res.headers.etag, quoted(oid));
    t.equal(server.counts('range').total, 1, 'a range of a cached blob: the ref lookup only');
  }
  for (const range of ['bytes=10-', 'bytes=-0', 'bytes=99-100']) {
    const res = await api.request('GET', '/t.txt', undefined, { Range: range });
    t.equal(res.status, 416, `${range} → 416`);
    t.equal(res.headers['content-range'], 'bytes */10');
  }
  t.equal((await api.request('GET', '/empty', undefined, { Range: 'bytes=0-' })).status, 416, 'no range of an empty file');
  for (const range of ['bytes=0-1,4-5', 'items=0-1', 'bytes=5-2', 'bytes=x']) {
    const res = await api.request('GET', '/t.txt', undefined, { Range: range });
    t.equal(res.status, 200, `${range}: the whole file`);
    t.equal(res.body.toString(), '0123456789');
  }
  t.equal((await api.request('GET', '/t.txt', undefined, { Range: 'bytes=0-1', 'If-Range': quoted(oid) })).status, 206);
  t.equal((await api.request('GET', '/t.txt', undefined, { Range: 'bytes=0-1', 'If-Range': '"old"' })).status, 200,
    'If-Range with another ETag: the whole file');
  t.equal((await api.request('GET', '/t.txt', undefined, { Range: 'bytes=0-1', 'If-Range': 'Wed, 21 Oct 2015 07:28:00 GMT' })).status, 200,
    'If-Range with a date: files have no Last-Modified, so the whole file');
  t.equal((await api.request('HEAD', '/t.txt', undefined, { Range: 'bytes=0-1' })).status, 200, 'HEAD ignores Range');

  // A blob too large for the cache is streamed, and the range cut from the stream.
  for (const [start, end] of [[0, 99], [300_000, 300_999], [big.length - 10, big.length - 1]] as const) {
    const res = await api.request('GET', '/big.bin', undefined, { Range: `bytes=${start}-${end}` });
    t.equal(res.status, 206);
    t.ok(res.body.equals(big.subarray(start, end + 1)), `bytes ${start}-${end} of a streamed blob`);
  }
});

t.test('CONTENT_TYPE_MODE=extension picks the type by the file name', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('types', {
    seed: [[{ path: 'a.txt', content: 'a' }, { path: 'p.PNG', content: 'p' }, { path: 'x.json', content: '{}' },
      { path: 'noext', content: 'n' }, { path: 'd/.env', content: 'e' }, { path: 'w.unknown', content: 'w' }]],
  });
  const api = await startApi(t, { repoUrl: repo.url, env: { CONTENT_TYPE_MODE: 'extension' } });
  for (const [path, type] of [['/a.txt', 'text/plain; charset=utf-8'], ['/p.PNG', 'image/png'], ['/x.json', 'application/json'],
    ['/noext', 'application/octet-stream'], ['/d/.env', 'application/octet-stream'], ['/w.unknown', 'application/octet-stream']]) {
    t.equal((await api.request('GET', path!)).headers['content-type'], type, path);
    t.equal((await api.request('HEAD', path!)).headers['content-type'], type, `HEAD ${path}`);
  }
});

t.test('the memory backend answers the same ETags and conditions', async (t) => {
  const api = await startApi(t, { backend: 'memory' });
  const post = await api.request('POST', '/m.txt', 'hello\n');
  const oid = 'ce013625030ba8dba906f756967f9e9ca394464a'; // git hash-object of "hello\n"
  t.equal(post.headers.etag, quoted(oid));
  t.equal((await api.request('GET', '/m.txt')).headers.etag, quoted(oid));
  t.equal((await api.request('GET', '/m.txt', undefined, { 'If-None-Match': quoted(oid) })).status, 304);
  t.equal((await api.request('PUT', '/m.txt', 'x', { 'If-Match': '"0"' })).status, 412);
  const same = await api.request('PUT', '/m.txt', 'hello\n');
  t.equal(same.status, 204);
  t.equal(same.headers['x-commit'], post.headers['x-commit'], 'unchanged bytes: no new commit');
  t.equal((await api.request('PUT', '/n.txt', 'n', { 'If-None-Match': '*' })).status, 201);
  t.equal((await api.request('HEAD', '/n.txt')).headers['content-length'], '1');
  t.equal((await api.request('GET', '/m.txt', undefined, { Range: 'bytes=1-2' })).body.toString(), 'el');
  t.equal((await api.request('DELETE', '/m.txt', undefined, { 'If-Match': quoted(oid) })).status, 204);
});

t.test('HEAD against a host without object-info: the blob fetch is started for its size, then dropped', async (t) => {
  const server = await startFixtureServer(t);
  const big = Buffer.alloc(2 * 1024 * 1024, 'y');
  const repo = await server.createRepo('v0', { seed: [[{ path: 'big.bin', content: big }]] });
  const store = new GitStore({ remote: { url: repo.url, protocol: 0 }, branch: 'main', author: { name: 'a', email: 'a@b' } });
  t.teardown(() => store.close());
  const oid = await blobAt(repo.dir, 'big.bin');

  const none = await store.read('big.bin', { want: () => 'none' });
  t.same(none, { want: 'none', etag: oid, commit: await gitText(['rev-parse', 'main'], { cwd: repo.dir }), retries: 0 });
  server.resetCounts();
  const head = await store.read('big.bin', { want: () => 'size' });
  t.equal(head.want === 'size' && head.size, big.length);
  // v0: each ref lookup is the advertisement (a GET); then one fetch, released after the pack entry's header.
  t.same(server.counts('v0'), { 'info-refs': 1, 'upload-pack': 1, 'receive-pack': 0, other: 0, total: 2 });
  server.resetCounts();
  await store.read('big.bin', { want: () => 'size' });
  t.same(server.counts('v0').total, 1, 'then the size is remembered');
});
