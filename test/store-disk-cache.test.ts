// The disk cache of blobs: atomic files, a byte bound with least-recently-used eviction, damaged or vanished
// files as misses, a directory shared by processes; and end to end, a GET of a cached blob of any size costs
// the ref lookup alone.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DiskCache } from '../src/store/disk-cache.js';
import { hashObject } from '../src/pack/oid.js';
import { resolveGitStoreOptions } from '../src/store/options.js';
import { loadConfig } from '../src/api/config.js';
import { startFixtureServer } from '../fixtures/git-server.js';
import { startApi } from '../fixtures/api-server.js';

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gitrest-disk-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function blob(size: number, fill?: number): { oid: string; data: Buffer } {
  const data = fill === undefined ? randomBytes(size) : Buffer.alloc(size, fill);
  return { oid: hashObject('blob', data), data };
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(() => true, () => false);
}

t.test('a blob is written whole under its id, and nothing else is left', async (t) => {
  const dir = await tempDir(t);
  const cache = new DiskCache({ dir, maxBytes: 1 << 20 });
  await cache.ready();
  const b = blob(5000);
  await cache.put(b.oid, b.data);
  t.equal(cache.pathOf(b.oid), join(dir, b.oid.slice(0, 2), b.oid.slice(2)), 'fanned out as in objects/');
  t.same(await readFile(cache.pathOf(b.oid)), b.data);
  t.same(await readdir(dirname(cache.pathOf(b.oid))), [b.oid.slice(2)], 'no temporary file left beside it');
  t.equal(cache.sizeOf(b.oid), 5000);
  const hit = await cache.open(b.oid);
  t.equal(hit?.size, 5000);
  t.same(await readAll(hit!.stream), b.data);

  // A writer abandoned half way (a client that went away) leaves no file, finished or not.
  const c = blob(4000);
  const w = cache.writer(c.oid, c.data.length)!;
  await w.write(c.data.subarray(0, 1000));
  t.equal(cache.writer(c.oid, c.data.length), undefined, 'one writer per blob at a time');
  await w.abandon();
  t.notOk(await exists(cache.pathOf(c.oid)));
  t.same(await readdir(dirname(cache.pathOf(c.oid))).catch(() => []), [], 'the temporary file is gone');
  // A writer that got fewer bytes than the blob has keeps nothing.
  const w2 = cache.writer(c.oid, c.data.length)!;
  await w2.write(c.data.subarray(0, 3999));
  await w2.commit();
  t.equal(await cache.open(c.oid), undefined);
  t.equal(cache.sizeOf(c.oid), undefined);
});

t.test('the byte bound evicts the least recently used first', async (t) => {
  const dir = await tempDir(t);
  const cache = new DiskCache({ dir, maxBytes: 300 });
  await cache.ready();
  const [a, b, c, d] = [blob(100, 1), blob(100, 2), blob(100, 3), blob(100, 4)];
  for (const x of [a, b, c]) await cache.put(x.oid, x.data);
  t.equal(cache.bytes, 300);
  const hit = await cache.open(a.oid); // a is now the most recently used
  await readAll(hit!.stream);
  await cache.put(d.oid, d.data);
  t.equal(cache.bytes, 300);
  t.equal(cache.sizeOf(b.oid), undefined, 'b was the least recently used');
  await new Promise((r) => setImmediate(r));
  t.notOk(await exists(cache.pathOf(b.oid)), 'and its file is removed');
  for (const x of [a, c, d]) t.ok(await exists(cache.pathOf(x.oid)));
  // A blob larger than the whole bound is not kept at all.
  const big = blob(301);
  await cache.put(big.oid, big.data);
  t.equal(cache.sizeOf(big.oid), undefined);
  t.equal(cache.bytes, 300);
});

t.test('a damaged or vanished file is a miss, and a damaged one is removed', async (t) => {
  const dir = await tempDir(t);
  const cache = new DiskCache({ dir, maxBytes: 1 << 20 });
  await cache.ready();
  const [a, b, c] = [blob(1000), blob(1000), blob(1000)];
  for (const x of [a, b, c]) await cache.put(x.oid, x.data);

  await truncate(cache.pathOf(a.oid), 999);
  t.equal(await cache.open(a.oid), undefined, 'a file of the wrong size is a miss');
  t.notOk(await exists(cache.pathOf(a.oid)), 'and is removed');
  t.equal(cache.sizeOf(a.oid), undefined);

  await unlink(cache.pathOf(b.oid));
  t.equal(await cache.open(b.oid), undefined, 'a vanished file is a miss');
  t.equal(cache.sizeOf(b.oid), undefined);
  t.equal(cache.bytes, 1000);

  // Right size, wrong bytes: the whole read fails before its last chunk, and the file goes.
  await writeFile(cache.pathOf(c.oid), Buffer.alloc(1000, 9));
  const hit = await cache.open(c.oid);
  t.ok(hit !== undefined, 'the size matches, so it opens');
  await t.rejects(readAll(hit!.stream), /damaged/);
  t.notOk(await exists(cache.pathOf(c.oid)));

  // A size the caller knows (from a tree listing, say) is checked for a file the index does not know.
  const d = blob(1000);
  const other = new DiskCache({ dir, maxBytes: 1 << 20 });
  await other.ready();
  await cache.put(d.oid, d.data);
  t.equal(await other.open(d.oid, 1001), undefined, 'the caller said 1001 bytes');
});

t.test('a file is moved in only when its size is the blob\'s', async (t) => {
  const dir = await tempDir(t);
  const cache = new DiskCache({ dir, maxBytes: 1 << 20 });
  const b = blob(3000);
  const file = join(dir, 'spooled');
  await writeFile(file, b.data);
  t.ok(await cache.adopt(b.oid, 3000, file));
  t.notOk(await exists(file), 'moved, not copied');
  t.same(await readFile(cache.pathOf(b.oid)), b.data);
  const c = blob(3000);
  await writeFile(file, c.data.subarray(1));
  t.notOk(await cache.adopt(c.oid, 3000, file), 'a short file is refused');
  t.notOk(await exists(file), 'and removed');
  t.equal(cache.sizeOf(c.oid), undefined);
});

t.test('a range is read on its own', async (t) => {
  const dir = await tempDir(t);
  const cache = new DiskCache({ dir, maxBytes: 1 << 20 });
  const b = blob(600_000);
  await cache.put(b.oid, b.data);
  const hit = (await cache.open(b.oid))!;
  const part = hit.range(500_000, 500_099);
  await hit.stream[Symbol.asyncIterator]().return?.(undefined);
  t.same(await readAll(part), b.data.subarray(500_000, 500_100), 'discarding the whole stream leaves the range readable');
});

t.test('two caches share a directory', async (t) => {
  const dir = await tempDir(t);
  const one = new DiskCache({ dir, maxBytes: 250 });
  await one.ready();
  const [x, y, z] = [blob(100, 1), blob(100, 2), blob(100, 3)];
  await one.put(x.oid, x.data);
  // A temporary file of a writer that died long ago, and one being written now.
  const fan = dirname(one.pathOf(x.oid));
  await writeFile(join(fan, '.123-abc.tmp'), 'in progress');
  await writeFile(join(fan, '.456-def.tmp'), 'left behind');
  const longAgo = new Date(Date.now() - 2 * 3600 * 1000);
  await utimes(join(fan, '.456-def.tmp'), longAgo, longAgo);

  const two = new DiskCache({ dir, maxBytes: 250 });
  await two.ready();
  t.equal(two.sizeOf(x.oid), 100, 'the start-up scan learned what the other wrote');
  t.same(await readAll((await two.open(x.oid))!.stream), x.data);
  t.ok(await exists(join(fan, '.123-abc.tmp')), 'a fresh temporary file is left to its writer');
  t.notOk(await exists(join(fan, '.456-def.tmp')), 'an old one is removed');
  t.equal(two.bytes, 100, 'temporary files are not entries');

  await one.put(y.oid, y.data);
  t.equal(two.sizeOf(y.oid), undefined, 'written after the scan: not in the index yet');
  t.same(await readAll((await two.open(y.oid))!.stream), y.data, 'but found when read');
  t.equal(two.sizeOf(y.oid), 100);

  // two evicts x (its least recently used) to make room for z; one then finds x gone: a miss.
  await two.put(z.oid, z.data);
  t.equal(two.sizeOf(x.oid), undefined);
  await new Promise((r) => setImmediate(r));
  t.equal(await one.open(x.oid), undefined);
  t.same(await readAll((await one.open(z.oid))!.stream), z.data);
  // Both wrote the same blob: the second rename replaces the first with the same bytes.
  const w = blob(50, 7);
  await Promise.all([one.put(w.oid, w.data), two.put(w.oid, w.data)]);
  t.same(await readFile(one.pathOf(w.oid)), w.data);
});

t.test('CACHE_DIR and CACHE_DISK_BYTES defaults', async (t) => {
  t.equal(loadConfig({}).cacheDir, join(resolve('./data'), 'blob-cache'), 'the embedded default: under DATA_DIR');
  t.equal(loadConfig({}).cacheDiskBytes, 1024 * 1024 * 1024);
  t.equal(loadConfig({ GIT_REPO_URL: 'http://h/r.git' }).cacheDir, undefined, 'a remote repository: left to the store');
  t.equal(loadConfig({ CACHE_DIR: '/var/cache/g', CACHE_DISK_BYTES: '0' }).cacheDir, '/var/cache/g');
  t.equal(loadConfig({ CACHE_DISK_BYTES: '0' }).cacheDiskBytes, 0);
  const opts = (url: string) => resolveGitStoreOptions({ remote: { url }, branch: 'main', author: { name: 'a', email: 'a@b' } });
  t.match(opts('http://h/r.git').cacheDir, new RegExp(`^${tmpdir().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/gitrest-cache-[0-9a-f]{12}$`));
  t.not(opts('http://h/r.git').cacheDir, opts('http://h/other.git').cacheDir, 'one directory per repository');
  t.equal(opts('http://h/r.git').cacheDiskBytes, 1024 * 1024 * 1024);
});

t.test('end to end: a GET of a cached blob is the ref lookup alone', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('dc');
  const body = randomBytes(2 * 1024 * 1024);
  const writerDir = await tempDir(t);
  const writer = await startApi(t, { repoUrl: repo.url, env: { CACHE_DIR: writerDir } });
  const trips = async (api: typeof writer, method: string, path: string, headers?: Record<string, string>) => {
    server.resetCounts();
    const res = await api.request(method, path, undefined, headers);
    return { res, total: server.counts('dc').total };
  };
  t.equal((await writer.request('POST', '/big.bin', body)).status, 201);
  const own = await trips(writer, 'GET', '/big.bin');
  t.equal(own.res.status, 200);
  t.ok(own.res.body.equals(body), 'exact bytes');
  t.equal(own.total, 1, 'a read of what this process wrote: ls-refs only');
  // A body spooled as it is (stored pushes to loopback) is moved in itself; a deflated one by its raw copy.
  t.same(await incoming(writerDir), [], 'no raw copy left behind');
  // A write refused (the path exists) leaves no raw copy behind either.
  t.equal((await writer.request('POST', '/big.bin', randomBytes(2 * 1024 * 1024))).status, 409);
  t.same(await incoming(writerDir), []);

  // Deflated on arrival (GIT_PACK_COMPRESSION=adaptive): the raw copy written beside the spool is moved in.
  const deflatingDir = await tempDir(t);
  const deflating = await startApi(t, { repoUrl: repo.url, env: { CACHE_DIR: deflatingDir, GIT_PACK_COMPRESSION: 'adaptive' } });
  const other = randomBytes(2 * 1024 * 1024);
  t.equal((await deflating.request('POST', '/deflated.bin', other)).status, 201);
  const deflatedRead = await trips(deflating, 'GET', '/deflated.bin');
  t.ok(deflatedRead.res.body.equals(other), 'exact bytes');
  t.equal(deflatedRead.total, 1, 'a read of a body deflated on arrival: ls-refs only');
  t.same(await readdir(join(deflatingDir, 'incoming')), [], 'the raw copy was moved into the cache');

  // Another process, its own cache: the first read fetches (and keeps) the blob, the second reads the file.
  const reader = await startApi(t, { repoUrl: repo.url });
  const cold = await trips(reader, 'GET', '/big.bin');
  t.ok(cold.res.body.equals(body));
  t.ok(cold.total > 1, `the cold read fetches (${cold.total} requests)`);
  const warm = await trips(reader, 'GET', '/big.bin');
  t.ok(warm.res.body.equals(body), 'exact bytes from the cache');
  t.equal(warm.total, 1, 'the second read: ls-refs only');
  const range = await trips(reader, 'GET', '/big.bin', { range: 'bytes=1000000-1000999' });
  t.equal(range.res.status, 206);
  t.equal(range.res.headers['content-range'], `bytes 1000000-1000999/${body.length}`);
  t.ok(range.res.body.equals(body.subarray(1_000_000, 1_001_000)), 'the exact range');
  t.equal(range.total, 1);
  const head = await trips(reader, 'HEAD', '/big.bin');
  t.equal(head.res.headers['content-length'], String(body.length));
  t.equal(head.total, 1);

  // CACHE_DISK_BYTES=0: as before, every read of a large blob fetches it.
  const off = await startApi(t, { repoUrl: repo.url, env: { CACHE_DISK_BYTES: '0' } });
  t.equal((await off.request('PUT', '/big.bin', body.subarray(1))).status, 204);
  const again = await trips(off, 'GET', '/big.bin');
  t.ok(again.res.body.equals(body.subarray(1)));
  t.equal(again.total, 2, 'without the disk cache: ls-refs and the blob');
  t.equal((await trips(off, 'GET', '/big.bin')).total, 2);
});

/** What is left in a cache's incoming directory (which only bodies deflated on arrival create). */
async function incoming(cacheDir: string): Promise<string[]> {
  return readdir(join(cacheDir, 'incoming')).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
}
