// Round trips per operation against a server that serves only ref tips (the strict fixture: protocol v0, no
// filters, no wants by id), counted at the proxy; the README's "Server requirements" quotes them.
import t from 'tap';
import { startStrictServer } from '../fixtures/strict-server.js';
import { startFixtureServer } from '../fixtures/git-server.js';
import { commitFiles } from '../fixtures/repo.js';
import { startApi } from '../fixtures/api-server.js';
import { Remote } from '../src/protocol/remote.js';
import { GitStore } from '../src/store/git-store.js';

t.test('the strategy each fixture gets', async (t) => {
  const normal = await startFixtureServer(t);
  const strict = await startStrictServer(t);
  const seed = { seed: [[{ path: 'f', content: 'f' }]] };
  const a = await normal.createRepo('s', seed);
  const b = await strict.createRepo('s', seed);
  for (const [url, protocol, expected] of [[a.url, 2, 'by-id'], [a.url, 0, 'by-id'], [b.url, 2, 'tip-only']] as const) {
    const remote = new Remote({ url, protocol });
    t.teardown(() => remote.close());
    t.equal(await remote.fetchStrategy(), expected, `${url === a.url ? 'normal' : 'strict'} v${protocol}`);
  }
});

t.test('round trips against a tip-only server', async (t) => {
  const server = await startStrictServer(t);
  const repo = await server.createRepo('rt', { seed: [[{ path: 'a/b/c.txt', content: 'c' }, { path: 'big.bin', content: Buffer.alloc(200_000, 1) }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  const trips = async (method: string, path: string, body?: string) => {
    server.resetCounts();
    const res = await api.request(method, path, body);
    t.ok(res.status < 300, `${method} ${path} → ${res.status}`);
    const c = server.counts('rt');
    return { 'info-refs': c['info-refs'], 'upload-pack': c['upload-pack'], 'receive-pack': c['receive-pack'] };
  };
  // The ref lookup is the advertisement (a GET) in v0; the tip with its whole tree comes in one fetch.
  t.same(await trips('GET', '/a/b/c.txt'), { 'info-refs': 1, 'upload-pack': 1, 'receive-pack': 0 }, 'cold read: lookup + the tip');
  t.same(await trips('GET', '/a/b/c.txt'), { 'info-refs': 1, 'upload-pack': 0, 'receive-pack': 0 }, 'warm read: the lookup only');
  t.same(await trips('GET', '/big.bin'), { 'info-refs': 1, 'upload-pack': 1, 'receive-pack': 0 },
    'a blob too large for the cache: the tip again');
  t.same(await trips('POST', '/a/new.txt', 'n'), { 'info-refs': 1, 'upload-pack': 0, 'receive-pack': 1 },
    'first write: the receive-pack advertisement, the push');
  t.same(await trips('PUT', '/a/new.txt', 'm'), { 'info-refs': 0, 'upload-pack': 0, 'receive-pack': 1 }, 'warm write: the push');
  t.same(await trips('GET', '/a/new.txt'), { 'info-refs': 1, 'upload-pack': 0, 'receive-pack': 0 }, 'reading our own write');
  await commitFiles(repo.dir, [{ path: 'x/y.txt', content: 'y' }], 'foreign');
  t.same(await trips('GET', '/x/y.txt'), { 'info-refs': 1, 'upload-pack': 1, 'receive-pack': 0 }, 'after a foreign push: the new tip');
  t.same(await trips('GET', '/'), { 'info-refs': 1, 'upload-pack': 0, 'receive-pack': 0 }, 'a listing of cached trees');
});

t.test('an empty repository tells no capabilities in v0: the strategy is learned once it has a commit', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('empty');
  const logs: string[] = [];
  const store = new GitStore({
    remote: { url: repo.url, protocol: 0 }, branch: 'main', author: { name: 'a', email: 'a@b' },
    log: (_level, message) => logs.push(message),
  });
  t.teardown(() => store.close());
  await store.ping();
  t.same(logs, [], 'nothing to say about an empty repository');
  await store.create('f.txt', { stream: (async function* () { yield Buffer.from('f'); })() });
  await store.ping();
  t.match(logs, [/git host git\/\S+: protocol v0, objects fetched by id/], 'logged once, with the agent');
  await store.ping();
  t.equal(logs.length, 1);
});
