// POST /_commit (atomic multi-file commits) and Idempotency-Key, end to end against the fixture git server.
import { connect } from 'node:net';
import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { commitFiles, fsck, git, gitText } from '../fixtures/repo.js';
import { startApi, type Api, type ApiResponse } from '../fixtures/api-server.js';

const JSON_HEADERS = { 'Content-Type': 'application/json' };
const blobAt = (dir: string, path: string) => gitText(['rev-parse', `main:${path}`], { cwd: dir });
const commitsOn = async (dir: string) => Number(await gitText(['rev-list', '--count', 'main'], { cwd: dir }));
const show = async (dir: string, path: string) => (await git(['show', `main:${path}`], { cwd: dir })).toString();
const body = (res: ApiResponse) => JSON.parse(res.body.toString()) as Record<string, unknown>;
const commit = (api: Api, request: unknown, headers: Record<string, string> = {}) =>
  api.request('POST', '/_commit', typeof request === 'string' ? request : JSON.stringify(request), { ...JSON_HEADERS, ...headers });

t.test('one commit for every operation: create, replace, upsert, delete, move', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('tx', { seed: [[{ path: 'a.txt', content: 'a' }, { path: 'b.txt', content: 'b' }, { path: 'old/m.bin', content: 'moved' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const before = await commitsOn(repo.dir);
  const moved = await blobAt(repo.dir, 'old/m.bin');

  const res = await commit(api, {
    message: 'several at once',
    operations: [
      { op: 'create', path: 'new/c.json', content: '{"c":1}' },
      { op: 'replace', path: 'a.txt', content: 'A' },
      { op: 'upsert', path: 'u.txt', content: 'dTE=', encoding: 'base64' },
      { op: 'delete', path: 'b.txt' },
      { op: 'move', from: 'old/m.bin', path: 'new/m.bin' },
    ],
  });
  t.equal(res.status, 200, res.body.toString());
  const tip = await gitText(['rev-parse', 'main'], { cwd: repo.dir });
  t.equal(res.headers['x-commit'], tip);
  t.equal(await commitsOn(repo.dir), before + 1, 'one commit');
  t.equal((await gitText(['log', '-1', '--format=%B', 'main'], { cwd: repo.dir })).trim(), 'several at once');
  t.same(body(res), {
    commit: tip,
    results: [
      { path: 'new/c.json', etag: await blobAt(repo.dir, 'new/c.json') },
      { path: 'a.txt', etag: await blobAt(repo.dir, 'a.txt') },
      { path: 'u.txt', etag: await blobAt(repo.dir, 'u.txt') },
      { path: 'b.txt', etag: null },
      { path: 'new/m.bin', etag: moved },
    ],
  });
  t.equal(await show(repo.dir, 'a.txt'), 'A');
  t.equal(await show(repo.dir, 'u.txt'), 'u1', 'base64 content decoded');
  t.equal(await blobAt(repo.dir, 'new/m.bin'), moved, 'a move keeps the blob id');
  t.equal((await gitText(['ls-tree', '--name-only', 'main'], { cwd: repo.dir })).split('\n').sort().join(' '), 'a.txt new u.txt',
    'b.txt deleted, old/ gone with its last file');
  t.equal((await commit(api, { operations: [{ op: 'upsert', path: 'u.txt', content: 'u2' }] })).status, 200, 'upsert replaces too');
  await fsck(repo.dir);
});

t.test('all or nothing: a refusal in the middle names the operation and changes nothing', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('none', { seed: [[{ path: 'x.txt', content: 'x' }, { path: 'y.txt', content: 'y' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const tip = await gitText(['rev-parse', 'main'], { cwd: repo.dir });
  const x = await blobAt(repo.dir, 'x.txt');
  for (const [ops, status, index] of [
    [[{ op: 'create', path: 'n1' , content: '1' }, { op: 'replace', path: 'x.txt', content: 'X', ifMatch: '0'.repeat(40) }], 412, 1],
    [[{ op: 'delete', path: 'y.txt' }, { op: 'create', path: 'x.txt', content: '!' }], 409, 1],
    [[{ op: 'replace', path: 'missing', content: '?' }], 404, 0],
    [[{ op: 'create', path: 'ok', content: '' }, { op: 'delete', path: 'y.txt' }, { op: 'move', from: 'gone', path: 'z' }], 404, 2],
    [[{ op: 'create', path: 'x.txt/below', content: '' }], 409, 0],
  ] as const) {
    const res = await commit(api, { operations: ops });
    t.equal(res.status, status, JSON.stringify(ops));
    t.equal(body(res).operation, index, 'the failed operation is named');
    t.match(body(res).error, new RegExp(`^operation ${index} `));
  }
  t.equal((await commit(api, { expectHead: 'f'.repeat(40), operations: [{ op: 'delete', path: 'x.txt' }] })).status, 412, 'expectHead');
  t.equal(await gitText(['rev-parse', 'main'], { cwd: repo.dir }), tip, 'no commit was made');
  t.equal((await commit(api, { expectHead: tip, operations: [{ op: 'replace', path: 'x.txt', content: 'X', ifMatch: `"${x}"` }] })).status, 200,
    'expectHead and ifMatch that hold');
});

t.test('bad requests → 4xx and nothing changes', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('bad', { seed: [[{ path: 'f.txt', content: 'f' }]] });
  const api = await startApi(t, { repoUrl: repo.url, env: { COMMIT_MAX_OPERATIONS: '3' } });
  const tip = await gitText(['rev-parse', 'main'], { cwd: repo.dir });
  const cases: Array<[unknown, number, RegExp]> = [
    ['{not json', 400, /not valid JSON/],
    [[], 400, /JSON object/],
    [{ operations: [] }, 400, /non-empty array/],
    [{ operations: [{ op: 'rename', path: 'a' }] }, 400, /"op" must be one of/],
    [{ operations: [{ op: 'create', path: 'a' }] }, 400, /needs "content"/],
    [{ operations: [{ op: 'delete', path: 'f.txt', content: 'x' }] }, 400, /takes no "content"/],
    [{ operations: [{ op: 'create', path: 'a/../b', content: '' }] }, 400, /operation 0: "path"/],
    [{ operations: [{ op: 'create', path: '.git/config', content: '' }] }, 400, /operation 0/],
    [{ operations: [{ op: 'create', path: 'metrics', content: '' }] }, 400, /reserved/],
    [{ operations: [{ op: 'create', path: 'a', content: '!!', encoding: 'base64' }] }, 400, /not valid base64/],
    [{ operations: [{ op: 'create', path: 'a', content: 'x', encoding: 'latin1' }] }, 400, /"encoding"/],
    [{ operations: [{ op: 'replace', path: 'f.txt', content: 'x', ifMatch: 'nope' }] }, 400, /"ifMatch"/],
    [{ operations: [{ op: 'move', path: 'a' }] }, 400, /"from"/],
    [{ operations: [{ op: 'create', path: 'a', content: '1' }, { op: 'replace', path: 'a', content: '2' }] }, 400, /names a again/],
    [{ operations: [{ op: 'move', from: 'f.txt', path: 'g' }, { op: 'delete', path: 'f.txt' }] }, 400, /names f\.txt again/],
    [{ expectHead: 'main', operations: [{ op: 'delete', path: 'f.txt' }] }, 400, /expectHead/],
    [{ operations: Array.from({ length: 4 }, (_, i) => ({ op: 'create', path: `n${i}`, content: '' })) }, 413, /more than the 3/],
  ];
  for (const [request, status, why] of cases) {
    const res = await commit(api, request);
    t.equal(res.status, status, JSON.stringify(request).slice(0, 80));
    t.match(body(res).error, why);
  }
  t.equal((await api.request('POST', '/_commit', '{}', { 'Content-Type': 'text/plain' })).status, 415);
  const get = await api.request('GET', '/_commit');
  t.equal(get.status, 405);
  t.equal(get.headers.allow, 'POST, OPTIONS');
  t.equal(await gitText(['rev-parse', 'main'], { cwd: repo.dir }), tip, 'nothing changed');
});

t.test('transactions race: disjoint ones all succeed; a foreign push to one of its paths fails it', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('race', { seed: [[{ path: 'shared.txt', content: 's1' }, { path: 'other.txt', content: 'o1' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const api2 = await startApi(t, { repoUrl: repo.url });
  const before = await commitsOn(repo.dir);
  const all = await Promise.all(Array.from({ length: 12 }, (_, i) => commit(i % 2 === 0 ? api : api2, {
    operations: [{ op: 'create', path: `t${i}/a`, content: `${i}a` }, { op: 'create', path: `t${i}/b`, content: `${i}b` }],
  })));
  t.same(all.map((r) => r.status), Array(12).fill(200), 'two replicas, 12 transactions on disjoint paths');
  t.equal(await commitsOn(repo.dir), before + 12, 'one commit each');

  const s1 = await blobAt(repo.dir, 'shared.txt');
  await api.request('GET', '/shared.txt'); // the API knows the tip from before the foreign pushes
  await commitFiles(repo.dir, [{ path: 'other.txt', content: 'o2' }], 'foreign, another path');
  t.equal((await commit(api, { operations: [{ op: 'replace', path: 'shared.txt', content: 's2', ifMatch: s1 }] })).status, 200,
    'a foreign change to another path does not fail it');
  const s2 = await blobAt(repo.dir, 'shared.txt');
  await commitFiles(repo.dir, [{ path: 'shared.txt', content: 'foreign' }], 'foreign, same path');
  const tip = await gitText(['rev-parse', 'main'], { cwd: repo.dir });
  const lost = await commit(api, { operations: [{ op: 'create', path: 'mine.txt', content: 'm' }, { op: 'replace', path: 'shared.txt', content: 's3', ifMatch: s2 }] });
  t.equal(lost.status, 412);
  t.equal(body(lost).operation, 1);
  t.equal(await gitText(['rev-parse', 'main'], { cwd: repo.dir }), tip, 'nothing of it landed');
  t.equal(await show(repo.dir, 'shared.txt'), 'foreign');
  await fsck(repo.dir);
});

t.test('Idempotency-Key: a repeat answers the first answer, writes once; another request with it → 422', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('idem', { seed: [[{ path: 'seed', content: 's' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const key = { 'Idempotency-Key': 'k-1' };

  const first = await api.request('POST', '/i.txt', 'one', key);
  t.equal(first.status, 201);
  const count = await commitsOn(repo.dir);
  t.match(await gitText(['log', '-1', '--format=%B', 'main'], { cwd: repo.dir }), /Idempotency-Key: k-1/, 'the key is a trailer of the commit');
  const again = await api.request('POST', '/i.txt', 'one', key);
  t.equal(again.status, 201, 'the same answer, not 409');
  t.equal(again.headers['x-commit'], first.headers['x-commit']);
  t.equal(again.headers.etag, first.headers.etag);
  t.equal(await commitsOn(repo.dir), count, 'nothing written again');
  const other = await api.request('POST', '/i.txt', 'two', key);
  t.equal(other.status, 422, 'the same key with another body');
  t.equal((await api.request('PUT', '/i.txt', 'one', key)).status, 422, 'or another method');

  const tx = { operations: [{ op: 'create', path: 'tx1', content: '1' }, { op: 'delete', path: 'seed' }] };
  const c1 = await commit(api, tx, { 'Idempotency-Key': 'tx-key' });
  const c2 = await commit(api, tx, { 'Idempotency-Key': 'tx-key' });
  t.equal(c1.status, 200);
  t.same(body(c2), body(c1), 'a repeated transaction answers the same commit and results');
  t.equal(c2.headers['idempotent-replayed'], 'true');
  t.equal((await api.request('DELETE', '/i.txt', undefined, { 'Idempotency-Key': 'bad key' })).status, 400, 'a key with a space');

  // A key used on another replica (another process, its own memory) is found on the branch.
  const api2 = await startApi(t, { repoUrl: repo.url });
  const elsewhere = await api2.request('POST', '/i.txt', 'one', key);
  t.equal(elsewhere.status, 201);
  t.equal(elsewhere.headers['x-commit'], first.headers['x-commit'], 'found in the history by another replica');
  // Two replicas sending one key at once: exactly one commit.
  const n = await commitsOn(repo.dir);
  const both = await Promise.all([api, api2].map((a) => a.request('PUT', '/i.txt', 'three', { 'Idempotency-Key': 'race' })));
  t.same(both.map((r) => r.status), [204, 204]);
  t.equal(both[0]!.headers['x-commit'], both[1]!.headers['x-commit']);
  t.equal(await commitsOn(repo.dir), n + 1, 'one commit for the key');
  await fsck(repo.dir);
});

t.test('a retry after the client\'s connection was cut writes once', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('cut', { seed: [[{ path: 'seed', content: 's' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const before = await commitsOn(repo.dir);
  const { port } = new URL(api.url);
  // The whole request goes out, then the connection is cut before any answer can come back.
  await new Promise<void>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.end('POST /cut.txt HTTP/1.1\r\nHost: x\r\nIdempotency-Key: cut-1\r\nContent-Length: 3\r\n\r\nabc', () => {
        socket.destroy();
        resolve();
      });
    });
    socket.on('error', reject);
  });
  const retry = await api.request('POST', '/cut.txt', 'abc', { 'Idempotency-Key': 'cut-1' });
  t.equal(retry.status, 201, 'the retry is answered as a success, not 409');
  t.equal(await commitsOn(repo.dir), before + 1, 'written once');
  t.equal(retry.headers['x-commit'], await gitText(['rev-parse', 'main'], { cwd: repo.dir }));
});

t.test('the memory backend: transactions and keys', async (t) => {
  const api = await startApi(t, { backend: 'memory' });
  t.equal((await api.request('POST', '/m', 'm')).status, 201);
  const res = await commit(api, { operations: [{ op: 'move', from: 'm', path: 'n' }, { op: 'create', path: 'o', content: 'o' }] });
  t.equal(res.status, 200);
  t.equal((await api.request('GET', '/n')).body.toString(), 'm');
  const failed = await commit(api, { operations: [{ op: 'delete', path: 'o' }, { op: 'delete', path: 'm' }] });
  t.equal(failed.status, 404);
  t.equal(body(failed).operation, 1);
  t.equal((await api.request('GET', '/o')).status, 200, 'the first operation was undone');
  const k = { 'Idempotency-Key': 'mk' };
  const a = await api.request('POST', '/p', 'p', k);
  t.equal((await api.request('POST', '/p', 'p', k)).headers['x-commit'], a.headers['x-commit']);
  t.equal((await api.request('POST', '/p', 'q', k)).status, 422);
});
