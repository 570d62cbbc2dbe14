// A host that answers `ok` to a push whose old id was stale, without moving the ref (fixtures/strict-server.ts
// with staleOk): the next ref lookup notices and counts it; GIT_VERIFY_PUSH confirms every push first and retries.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStrictServer } from '../fixtures/strict-server.js';
import { commitFiles, fsck, git } from '../fixtures/repo.js';
import { startApi, type Api } from '../fixtures/api-server.js';

const notApplied = async (api: Api, when: string): Promise<number> => {
  const text = (await api.request('GET', '/metrics')).body.toString();
  const m = new RegExp(`^gitrest_push_not_applied_total\\{when="${when}"\\} (\\d+)$`, 'm').exec(text);
  return Number(m?.[1] ?? NaN);
};

t.test('without GIT_VERIFY_PUSH: the lost write is acknowledged, then found by the next lookup', async (t) => {
  const server = await startStrictServer(t, { staleOk: true });
  const repo = await server.createRepo('stale', { seed: [[{ path: 'seed', content: 's' }]] });
  const api = await startApi(t, { repoUrl: repo.url });
  t.equal((await api.request('POST', '/a.txt', 'a')).status, 201);
  await commitFiles(repo.dir, [{ path: 'foreign.txt', content: 'f' }], 'foreign');
  t.equal(await notApplied(api, 'later'), 0);
  const lost = await api.request('POST', '/b.txt', 'b');
  t.equal(lost.status, 201, 'the host said ok, so the write was acknowledged');
  t.equal(server.rewrites, 1, 'the proxy turned the ng into an ok');
  t.equal((await api.request('GET', '/seed')).status, 200, 'the next read looks up the tip');
  let count = 0;
  for (let i = 0; i < 100 && count === 0; i++) {
    count = await notApplied(api, 'later');
    if (count === 0) await sleep(20);
  }
  t.equal(count, 1, 'counted once');
  const files = (await git(['ls-tree', '--name-only', 'main'], { cwd: repo.dir })).toString();
  t.notMatch(files, /b\.txt/, 'the write is indeed not on the branch');
});

t.test('GIT_VERIFY_PUSH=true: the push is confirmed before answering, and retried when it did not land', async (t) => {
  const server = await startStrictServer(t, { staleOk: true });
  const repo = await server.createRepo('verify', { seed: [[{ path: 'seed', content: 's' }]] });
  const api = await startApi(t, { repoUrl: repo.url, env: { GIT_VERIFY_PUSH: 'true' } });
  t.equal((await api.request('POST', '/a.txt', 'a')).status, 201);
  await commitFiles(repo.dir, [{ path: 'foreign.txt', content: 'f' }], 'foreign');
  const res = await api.request('POST', '/b.txt', 'b');
  t.equal(res.status, 201);
  t.equal(server.rewrites, 1, 'the first push was refused and reported ok');
  t.equal(await notApplied(api, 'verified'), 1);
  t.equal((await git(['show', 'main:b.txt'], { cwd: repo.dir })).toString(), 'b', 'the retry landed');
  t.equal((await git(['show', 'main:foreign.txt'], { cwd: repo.dir })).toString(), 'f', 'over the foreign commit');
  server.resetCounts();
  t.equal((await api.request('PUT', '/b.txt', 'b2')).status, 204);
  t.same(server.counts('verify'), { ...server.counts('verify'), 'receive-pack': 1 }, 'a normal push: one push');
  t.same(server.counts('verify'), { ...server.counts('verify'), 'info-refs': 1, total: 2 },
    'plus one ref lookup to confirm it (in v0 the lookup is the advertisement)');
  await fsck(repo.dir);
});
