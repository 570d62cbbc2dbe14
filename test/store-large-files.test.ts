// Large files go through bounded memory: bodies above the spool threshold go to a temporary file on the
// way in, and blobs above the cache threshold stream from the git host to the client on the way out.
// A corrupt blob must never be delivered whole: the last chunk waits for the object id and pack checksum.
import t from 'tap';
import { randomBytes, createHash } from 'node:crypto';
import { request } from 'undici';
import { Readable } from 'node:stream';
import { startFixtureServer } from '../fixtures/git-server.js';
import { startFaultProxy } from '../fixtures/fault-proxy.js';
import { fsck, git, gitText } from '../fixtures/repo.js';
import { startApi } from '../fixtures/api-server.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('a 24 MiB file round-trips byte for byte', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('large');
  const api = await startApi(t, { repoUrl: repo.url });
  const body = randomBytes(24 * 1024 * 1024);
  t.equal((await api.request('POST', '/big/file.bin', body)).status, 201);
  const blob = await git(['cat-file', 'blob', 'main:big/file.bin'], { cwd: repo.dir });
  t.equal(sha(blob), sha(body), 'git has the exact bytes');
  const read = await api.request('GET', '/big/file.bin');
  t.equal(read.status, 200);
  t.equal(read.headers['content-length'], String(body.length));
  t.equal(sha(read.body), sha(body), 'the API returns the exact bytes');
  // A chunked upload (no Content-Length) takes the second hashing pass over the spooled file.
  const replaced = randomBytes(10 * 1024 * 1024 + 7);
  const res = await request(`${api.url}/big/file.bin`, {
    method: 'PUT',
    body: Readable.from(
      (function* () {
        for (let i = 0; i < replaced.length; i += 1 << 20) yield replaced.subarray(i, i + (1 << 20));
      })(),
    ),
  });
  await res.body.dump();
  t.equal(res.statusCode, 204);
  t.equal(sha((await api.request('GET', '/big/file.bin')).body), sha(replaced));
  t.equal(await gitText(['rev-list', '--count', 'main'], { cwd: repo.dir }), '2');
  await fsck(repo.dir);
});

t.test('a blob corrupted on the wire is never delivered whole', async (t) => {
  const server = await startFixtureServer(t);
  await server.createRepo('corrupt');
  const proxy = await startFaultProxy(server.url, t);
  const writer = await startApi(t, { repoUrl: `${proxy.url}/corrupt.git` });
  const body = randomBytes(2 * 1024 * 1024);
  t.equal((await writer.request('POST', '/f.bin', body)).status, 201);
  // The writer keeps what it wrote in its disk cache; another process (its own cache, empty) has to fetch it.
  const api = await startApi(t, { repoUrl: `${proxy.url}/corrupt.git` });
  t.equal((await api.request('HEAD', '/f.bin')).status, 200, 'a HEAD learns the commit and tree first');
  // Flip one byte deep inside the pack of the blob fetch (after the ls-refs answer).
  proxy.inject({ match: { service: 'upload-pack', method: 'POST' }, fault: { kind: 'delay', ms: 0 }, times: 1 }); // ls-refs passes
  proxy.inject({ match: { service: 'upload-pack', method: 'POST' }, fault: { kind: 'corrupt-response', atByte: 1024 * 1024 }, times: 1 });
  const res = await request(`${api.url}/f.bin`);
  t.equal(res.statusCode, 200, 'headers went out before the corruption was found');
  let got = 0;
  const err = await (async () => {
    for await (const chunk of res.body) got += (chunk as Buffer).length;
  })().then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err !== null || got < body.length, `the client sees a cut body (${got} of ${body.length} bytes)`);
  t.ok(got < body.length, 'never the complete, corrupt file');
  // The next read is fine: the cut fetch left nothing in the disk cache, so it is fetched again.
  const again = await api.request('GET', '/f.bin');
  t.equal(sha(again.body), sha(body));
  t.equal(sha((await api.request('GET', '/f.bin')).body), sha(body), 'and then read from the disk cache');
});
