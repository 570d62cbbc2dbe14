// /readyz follows the Git host: 200 while it answers a ref lookup, 503 with the reason while it does not, and
// 200 again once it is back; each answer is cached briefly and shared, and a lookup is bounded by a timeout.
// /healthz stays liveness. Both are open without a token and neither is counted as API traffic.
import t from 'tap';
import { startApi } from '../fixtures/api-server.js';
import { startFixtureServer } from '../fixtures/git-server.js';
import { Readiness } from '../src/api/readiness.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { Store } from '../src/store/store.js';
import { readVia } from '../fixtures/store-stub.js';

/** Polls `path` until it answers `status`, at most `polls` times 100 ms apart; resolves the last answer. */
async function waitFor(call: () => Promise<{ status: number; body: Buffer }>, status: number, polls = 50) {
  let r = await call();
  for (let i = 0; r.status !== status && i < polls; i++) {
    await new Promise((res) => setTimeout(res, 100));
    r = await call();
  }
  return r;
}

t.test('/readyz follows the Git host going away and coming back', async (t) => {
  const host = await startFixtureServer(t);
  const repo = await host.createRepo('ready.git');
  const api = await startApi(t, { repoUrl: repo.url, env: { READY_TIMEOUT_MS: '2000' } });
  const ready = () => api.request('GET', '/readyz');

  const up = await ready();
  t.equal(up.status, 200, 'ready while the host answers');
  t.same(JSON.parse(up.body.toString()), { status: 'ready' });
  t.equal(up.headers['cache-control'], 'no-store');

  await host.stop();
  const down = await waitFor(ready, 503);
  t.equal(down.status, 503, 'not ready once the host is gone');
  const answer = JSON.parse(down.body.toString()) as { status: string; error: string };
  t.equal(answer.status, 'not ready');
  t.match(answer.error, /^the git host did not answer a ref lookup/, 'with the reason');
  t.equal((await api.request('GET', '/healthz')).status, 200, '/healthz is liveness: still 200');

  await host.restart();
  t.equal((await waitFor(ready, 200)).status, 200, 'ready again once the host is back');
});

t.test('Readiness: cached, shared between concurrent probes, bounded', async (t) => {
  let pings = 0;
  let hang = false;
  const inner = new MemoryStore();
  const store: Store = {
    read: (p, o) => readVia(store, p, o),
    get: (p) => inner.get(p), create: (p, b) => inner.create(p, b), replace: (p, b) => inner.replace(p, b),
    remove: (p) => inner.remove(p), close: () => inner.close(),
    ping: (signal) => {
      pings++;
      if (!hang) return Promise.resolve();
      return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    },
  };
  const r = new Readiness(store, { timeoutMs: 50, cacheMs: 60_000 });
  const answers = await Promise.all([r.check(), r.check(), r.check()]);
  t.same(answers, [{ ready: true }, { ready: true }, { ready: true }]);
  t.equal(pings, 1, 'three concurrent probes, one lookup');
  await r.check();
  t.equal(pings, 1, 'a fresh answer is reused');

  hang = true;
  const slow = new Readiness(store, { timeoutMs: 50, cacheMs: 0 });
  t.same(await slow.check(), { ready: false, reason: 'the git host did not answer a ref lookup within 50 ms' },
    'a silent host is not ready, and the probe does not hang');
  slow.stop();
  t.same(await slow.check(), { ready: false, reason: 'the server is shutting down' });
  t.same(await new Readiness(new MemoryStore(), { timeoutMs: 50 }).check(), { ready: true },
    'a store with nothing to reach is ready');
});

t.test('probes need no token; they and a refused /metrics are not API traffic', async (t) => {
  const api = await startApi(t, { backend: 'memory', env: { API_TOKENS_RO: 'ro-token-0123456789' } });
  t.equal((await api.request('GET', '/readyz')).status, 200, '/readyz without a token');
  t.equal((await api.request('GET', '/healthz')).status, 200, '/healthz without a token');
  t.equal((await api.request('GET', '/metrics')).status, 401, '/metrics without a token');
  t.equal((await api.request('POST', '/readyz', 'x', { authorization: 'Bearer ro-token-0123456789' })).status, 405);
  const metrics = (await api.request('GET', '/metrics', undefined, { authorization: 'Bearer ro-token-0123456789' }))
    .body.toString();
  const counted = [...metrics.matchAll(/^request_count\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  t.equal(counted, 0, 'no request was counted as API traffic');
});
