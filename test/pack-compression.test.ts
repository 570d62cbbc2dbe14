// Blob compression in pushes: stored zlib streams (level 0), a fixed level, and GIT_PACK_COMPRESSION=auto,
// checked by git itself (index-pack --strict, fsck) and by the bytes sent, which are exact.
import t from 'tap';
import { inflateSync } from 'node:zlib';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storedZlib } from '../src/pack/stored-deflate.js';
import { writePack } from '../src/pack/pack-writer.js';
import { git, gitText, fsck } from '../fixtures/repo.js';
import { startFixtureServer } from '../fixtures/git-server.js';
import { startApi, type Api } from '../fixtures/api-server.js';
import { isLoopbackUrl } from '../src/store/options.js';

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of gen) parts.push(p);
  return Buffer.concat(parts);
}

const alnum = (n: number): Buffer => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const out = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = abc.charCodeAt((x >>> 16) % 62);
  }
  return out;
};

t.test('storedZlib is a valid zlib stream of the bytes as they are', async (t) => {
  for (const size of [0, 1, 65535, 65536, 200_000]) {
    const data = alnum(size);
    const chunks = [data.subarray(0, size >> 1), Buffer.alloc(0), data.subarray(size >> 1)];
    const z = await collect(storedZlib(chunks));
    t.ok(inflateSync(z).equals(data), `${size} bytes inflate back`);
    const blocks = chunks.reduce((n, c) => n + Math.ceil(c.length / 65535), 0);
    t.equal(z.length, size + 2 + 5 * blocks + 5 + 4, 'header, a 5-byte head per block of each chunk, final block, adler');
  }
});

t.test('packs with stored and level-9 blobs pass git index-pack --strict', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gitrest-pc-'));
  t.teardown(() => git(['-C', dir, 'status']).catch(() => undefined));
  await git(['init', '--quiet', '--bare', dir]);
  const data = alnum(300_000);
  for (const level of [0, 9] as const) {
    const pack = await collect(writePack(2, [
      { type: 'blob', size: data.length, data },
      { type: 'blob', size: 5, data: (async function* () { yield Buffer.from('small'); })() },
    ], level));
    const file = join(dir, `l${level}.pack`);
    await writeFile(file, pack);
    await git(['index-pack', '--strict', file], { cwd: dir });
    t.pass(`level ${level}: index-pack accepts it`);
    if (level === 0) t.ok(pack.length > data.length, 'stored: no smaller than the content');
    else t.ok(pack.length < data.length * 0.8, 'level 9: smaller');
  }
});

t.test('isLoopbackUrl', async (t) => {
  for (const url of ['http://127.0.0.1:9/r.git', 'http://localhost/r', 'http://[::1]:80/r', 'http://x.localhost/r']) t.ok(isLoopbackUrl(url), url);
  for (const url of ['https://github.com/o/r.git', 'http://10.0.0.1/r', 'not a url']) t.notOk(isLoopbackUrl(url), url);
});

const sentToReceivePack = async (api: Api): Promise<number> => {
  const text = (await api.request('GET', '/metrics')).body.toString();
  return Number(/^gitrest_git_sent_bytes_total\{service="receive-pack"\} (\d+)$/m.exec(text)?.[1]);
};

t.test('GIT_PACK_COMPRESSION end to end: auto stores blobs for a loopback host; a level deflates them', async (t) => {
  const server = await startFixtureServer(t);
  const body = alnum(2 * 1024 * 1024);
  const sent: Record<string, number> = {};
  for (const mode of ['auto', '1', 'adaptive']) {
    const repo = await server.createRepo(`c${mode}`, { seed: [[{ path: 'seed', content: 's' }]] });
    const api = await startApi(t, { repoUrl: repo.url, env: { GIT_PACK_COMPRESSION: mode } });
    const before = await sentToReceivePack(api);
    t.equal((await api.request('POST', '/big.txt', body)).status, 201);
    sent[mode] = (await sentToReceivePack(api)) - before;
    t.ok((await git(['show', 'main:big.txt'], { cwd: repo.dir })).equals(body), `${mode}: the bytes are in the repository`);
    t.equal(await gitText(['rev-parse', 'main:big.txt'], { cwd: repo.dir }), (await api.request('GET', '/big.txt')).headers.etag?.toString().slice(1, -1));
    await fsck(repo.dir);
  }
  t.ok(sent.auto! > body.length, `auto on loopback sends the blob stored (${sent.auto} bytes for ${body.length})`);
  t.ok(sent['1']! < body.length * 0.8, `level 1 deflates it (${sent['1']} bytes)`);
  t.ok(sent.adaptive! < body.length * 0.8, `adaptive deflates it too, as before auto existed (${sent.adaptive} bytes)`);
});
