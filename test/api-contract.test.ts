// The REST contract end to end, through HTTP, on both backends. On the Git backend every step is also
// checked in the bare repository with the git CLI: the files at the tip, one commit per successful write,
// nothing changed by a refused request, and `git fsck --strict` clean. The Git tests run against the normal
// fixture server and against the strict one (protocol v0, no filters, wants of ref tips only, HTTP/1.0, tiny
// side-band frames: fixtures/strict-server.ts).
import t, { type Test } from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { startStrictServer } from '../fixtures/strict-server.js';
import { cloneRepo, commitFiles, fsck, gitText, readTreeFiles } from '../fixtures/repo.js';
import { startApi, type Api } from '../fixtures/api-server.js';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const UNICODE = 'café/✓ naïve.txt';
const enc = (p: string) => p.split('/').map(encodeURIComponent).join('/');

interface Step {
  method: string;
  path: string;
  body?: Buffer | string;
  status: number;
  expect?: Buffer | string; // GET body
}

const steps: Step[] = [
  { method: 'GET', path: 'seeded/by-cli.txt', status: 200, expect: 'written by git\n' },
  { method: 'GET', path: 'a.json', status: 404 },
  { method: 'POST', path: 'a.json', body: '{"v":1}', status: 201 },
  { method: 'GET', path: 'a.json', status: 200, expect: '{"v":1}' },
  { method: 'POST', path: 'a.json', body: '{"v":2}', status: 409 },
  { method: 'PUT', path: 'a.json', body: '{"v":3}', status: 204 },
  { method: 'GET', path: 'a.json', status: 200, expect: '{"v":3}' },
  { method: 'PUT', path: 'missing.json', body: 'x', status: 404 },
  { method: 'DELETE', path: 'missing.json', status: 404 },
  { method: 'POST', path: 'users/alice/profile.json', body: '{"name":"alice"}', status: 201 },
  { method: 'POST', path: 'users/bob/deep/er/bytes.bin', body: ALL_BYTES, status: 201 },
  { method: 'GET', path: 'users/bob/deep/er/bytes.bin', status: 200, expect: ALL_BYTES },
  { method: 'POST', path: 'empty.txt', body: '', status: 201 },
  { method: 'GET', path: 'empty.txt', status: 200, expect: '' },
  { method: 'POST', path: UNICODE, body: 'unicode ✓', status: 201 },
  { method: 'GET', path: UNICODE, status: 200, expect: 'unicode ✓' },
  { method: 'GET', path: 'users', status: 404 }, // a directory is not a file
  { method: 'POST', path: 'users/bob', body: 'x', status: 409 }, // nor can a file replace one
  { method: 'POST', path: 'a.json/child', body: 'x', status: 409 }, // nor go below a file
  { method: 'DELETE', path: 'users/alice/profile.json', status: 204 },
  { method: 'GET', path: 'users/alice/profile.json', status: 404 },
  { method: 'PUT', path: 'users/bob/deep/er/bytes.bin', body: 'replaced', status: 204 },
  { method: 'DELETE', path: 'users/bob/deep/er/bytes.bin', status: 204 },
  { method: 'DELETE', path: 'seeded/by-cli.txt', status: 204 },
  { method: 'PATCH', path: 'a.json', body: 'x', status: 405 },
  { method: 'GET', path: 'seeded/by-cli.txt', status: 404 },
];

async function runContract(t: Test, api: Api, check?: (step: Step, model: Map<string, Buffer>, wrote: boolean) => Promise<void>) {
  const model = new Map<string, Buffer>([['seeded/by-cli.txt', Buffer.from('written by git\n')]]);
  for (const step of steps) {
    const res = await api.request(step.method, `/${enc(step.path)}`, step.body);
    t.equal(res.status, step.status, `${step.method} /${step.path} → ${step.status}`);
    if (step.expect !== undefined) t.same(res.body, Buffer.from(step.expect), `${step.path}: exact bytes`);
    if (res.status >= 400) {
      const err = JSON.parse(res.body.toString()) as { error?: string };
      t.type(err.error, 'string', 'errors come as JSON with a message');
    }
    if (step.status === 405) t.match(res.headers['allow'], /GET/);
    const wrote = res.status >= 200 && res.status < 300 && step.method !== 'GET';
    if (wrote) {
      if (step.method === 'DELETE') model.delete(step.path);
      else model.set(step.path, Buffer.from(step.body ?? ''));
    }
    await check?.(step, model, wrote);
  }
  return model;
}

type Start = (t: Test) => Promise<{ createRepo(name: string, opts?: Parameters<Awaited<ReturnType<typeof startFixtureServer>>['createRepo']>[1]): Promise<{ dir: string; url: string }> }>;

for (const [server, start] of [['normal', (t: Test) => startFixtureServer(t)], ['strict', (t: Test) => startStrictServer(t)]] as Array<[string, Start]>) {
t.test(`against the ${server} fixture server`, async (t) => {
  t.test('git backend: the contract, verified in the repository after every step', async (t) => {
    const git = await start(t);
    const repo = await git.createRepo('contract', {
      seed: [[{ path: 'seeded/by-cli.txt', content: 'written by git\n' }, { path: 'tools/run.sh', content: '#!/bin/sh\n', mode: '100755' }, { path: 'tools/link', content: 'run.sh', mode: '120000' }]],
    });
    const api = await startApi(t, { repoUrl: repo.url });
    const keep = new Map([
      ['tools/run.sh', Buffer.from('#!/bin/sh\n')],
      ['tools/link', Buffer.from('run.sh')],
    ]);
    let commits = 1;
    const model = await runContract(t, api, async (step, model, wrote) => {
      if (wrote) commits++;
      const files = await readTreeFiles(repo.dir, 'main');
      t.same(Object.fromEntries(files), Object.fromEntries([...model, ...keep]), `repository matches after ${step.method} /${step.path}`);
      t.equal(Number(await gitText(['rev-list', '--count', 'main'], { cwd: repo.dir })), commits, 'one commit per successful write, none otherwise');
    });
    await fsck(repo.dir);
    const listing = await gitText(['ls-tree', '-r', 'main', 'tools'], { cwd: repo.dir });
    t.match(listing, /^100755 blob \S+\ttools\/run.sh$/m, 'the executable bit is kept');
    t.match(listing, /^120000 blob \S+\ttools\/link$/m, 'the symlink is kept');
    const message = await gitText(['log', '-1', '--format=%s', 'main'], { cwd: repo.dir });
    t.equal(message, 'DELETE seeded/by-cli.txt', 'the commit message names the method and path');
    // A real clone shows exactly the files.
    const clone = await cloneRepo(repo.dir);
    const top = (await readdir(clone)).filter((n) => n !== '.git').sort();
    t.same(top, ['a.json', 'café', 'empty.txt', 'tools'].sort(), 'no empty directories left behind');
    t.equal(await readFile(join(clone, 'café', '✓ naïve.txt'), 'utf8'), 'unicode ✓');
    t.equal(model.size, 3);
  });

  t.test('a push made by the git CLI between requests is seen by the next read and kept by the next write', async (t) => {
    const git = await start(t);
    const repo = await git.createRepo('outside', { seed: [[{ path: 'one.txt', content: '1' }]] });
    const api = await startApi(t, { repoUrl: repo.url });
    t.equal((await api.request('POST', '/two.txt', '2')).status, 201);
    await commitFiles(repo.dir, [{ path: 'three.txt', content: '3' }, { path: 'one.txt', content: 'one, changed by the CLI' }], 'from the CLI');
    const read = await api.request('GET', '/one.txt');
    t.equal(read.body.toString(), 'one, changed by the CLI', 'strong consistency: the CLI push is visible');
    t.equal((await api.request('POST', '/four.txt', '4')).status, 201, 'a write after the outside push');
    const files = await readTreeFiles(repo.dir, 'main');
    t.same([...files.keys()].sort(), ['four.txt', 'one.txt', 'three.txt', 'two.txt']);
    t.equal(files.get('three.txt')!.toString(), '3', 'the outside commit is preserved');
    t.match(await gitText(['log', '--format=%s', 'main'], { cwd: repo.dir }), /POST four.txt\nfrom the CLI\nPOST two.txt\nseed 1/);
    await fsck(repo.dir);
  });

  t.test('an empty repository: the first write creates the branch', async (t) => {
    const git = await start(t);
    const repo = await git.createRepo('empty');
    const api = await startApi(t, { repoUrl: repo.url });
    t.equal((await api.request('GET', '/x.txt')).status, 404);
    t.equal((await api.request('PUT', '/x.txt', 'x')).status, 404);
    t.equal((await api.request('POST', '/dir/x.txt', 'x')).status, 201);
    t.equal((await api.request('GET', '/dir/x.txt')).body.toString(), 'x');
    t.equal(await gitText(['rev-list', '--count', 'main'], { cwd: repo.dir }), '1');
    await fsck(repo.dir);
  });

  t.test('parallel writes: 10 POSTs to distinct paths, then 10 PUTs to one path', async (t) => {
    const git = await start(t);
    const repo = await git.createRepo('parallel');
    const api = await startApi(t, { repoUrl: repo.url });
    const posts = await Promise.all(Array.from({ length: 10 }, (_, i) => api.request('POST', `/p/${i}.txt`, `file ${i}`)));
    t.same(posts.map((r) => r.status), Array(10).fill(201));
    const puts = await Promise.all(Array.from({ length: 10 }, (_, i) => api.request('PUT', '/p/0.txt', `put ${i}`)));
    t.same(puts.map((r) => r.status), Array(10).fill(204));
    for (let i = 1; i < 10; i++) t.equal((await api.request('GET', `/p/${i}.txt`)).body.toString(), `file ${i}`);
    const last = (await api.request('GET', '/p/0.txt')).body.toString();
    t.match(last, /^put \d$/);
    t.equal(await gitText(['rev-list', '--count', 'main'], { cwd: repo.dir }), '20', 'one commit per write, none lost');
    // The last PUT in history is the content at the tip.
    const log = await gitText(['log', '--format=%s', 'main'], { cwd: repo.dir });
    t.equal(log.split('\n').filter((l) => l === 'PUT p/0.txt').length, 10);
    await fsck(repo.dir);
  });

  t.test('a 10 MiB body round-trips exactly', async (t) => {
    const git = await start(t);
    const repo = await git.createRepo('big');
    const api = await startApi(t, { repoUrl: repo.url });
    const big = Buffer.alloc(10 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    t.equal((await api.request('POST', '/big.bin', big)).status, 201);
    t.ok((await api.request('GET', '/big.bin')).body.equals(big), 'read back byte for byte');
    t.equal((await api.request('PUT', '/big.bin', big.subarray(1))).status, 204);
    t.ok((await api.request('GET', '/big.bin')).body.equals(big.subarray(1)));
    await fsck(repo.dir);
  });
});
}

t.test('memory backend: the same contract', async (t) => {
  const api = await startApi(t, { backend: 'memory' });
  // The memory store starts empty; seed the file the Git run got from the CLI.
  t.equal((await api.request('POST', '/seeded/by-cli.txt', 'written by git\n')).status, 201);
  const model = await runContract(t, api);
  for (const [path, content] of model) {
    const res = await api.request('GET', `/${enc(path)}`);
    t.same(res.body, content, `${path} reads back`);
  }
});

