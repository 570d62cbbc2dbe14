// The engine tells its EngineMetrics sink about exchanges with the Git host, pushes, lost races and the object
// cache; ApiMetrics turns that into gitrest_* series. Counts, never timings.
import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { ApiMetrics } from '../src/api/metrics.js';
import { softLimit, statusBytes } from '../src/api/process-metrics.js';
import { GitStore } from '../src/store/git-store.js';

function body(text: string): { stream: AsyncIterable<Uint8Array> } {
  return { stream: (async function* () { yield Buffer.from(text); })() };
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

t.test('pushes, a lost race, Git host exchanges and the cache reach the gitrest_* series', async (t) => {
  const host = await startFixtureServer(t);
  const repo = await host.createRepo('metrics.git');
  const metrics = new ApiMetrics();
  const open = (m?: ApiMetrics) => {
    const s = new GitStore({ remote: { url: repo.url }, branch: 'main', author: { name: 'a', email: 'a@b' },
      maxBodyBytes: 1 << 20, ...(m === undefined ? {} : { metrics: m }) });
    t.teardown(() => s.close());
    return s;
  };
  const a = open(metrics);
  const b = open();
  await a.create('one.json', body('1'));
  await b.create('two.json', body('2')); // a's known tip is now stale
  await a.create('three.json', body('3')); // so its first push loses the race, then succeeds
  await a.get('one.json');
  await a.get('one.json');

  const text = metrics.render();
  t.equal(sample(text, 'gitrest_push_lost_races_total'), 1, 'one lost race');
  t.equal(sample(text, 'gitrest_push_writes_count'), 2, 'two accepted pushes');
  t.equal(sample(text, 'gitrest_push_writes_sum'), 2, 'of one write each');
  t.equal(sample(text, 'gitrest_push_in_doubt_total{resolution="landed"}'), 0);
  const receive = sample(text, 'gitrest_git_request_duration_seconds_count{service="receive-pack",outcome="ok"}');
  t.ok((receive ?? 0) >= 3, `receive-pack exchanges: ${receive} (advertisement and three pushes)`);
  t.ok((sample(text, 'gitrest_git_sent_bytes_total{service="receive-pack"}') ?? 0) > 0, 'bytes sent');
  t.ok((sample(text, 'gitrest_git_received_bytes_total{service="upload-pack"}') ?? 0) > 0, 'bytes received');
  t.ok((sample(text, 'gitrest_object_cache_hits_total') ?? 0) > 0, 'cache hits (the second read)');
  t.ok((sample(text, 'gitrest_object_cache_bytes') ?? 0) > 0, 'cache bytes');
  t.equal(sample(text, 'gitrest_git_request_duration_seconds_count{service="upload-pack",outcome="http_error"}'), 0,
    'every outcome exists at zero');

  await host.stop();
  await t.rejects(a.get('one.json'));
  const down = metrics.render();
  t.ok((sample(down, 'gitrest_git_request_duration_seconds_count{service="upload-pack",outcome="transport_error"}') ?? 0) > 0,
    'a host that is gone counts as transport errors');
});

t.test('/proc parsing; what cannot be read is left out', async (t) => {
  const status = 'Name:\tnode\nVmPeak:\t  200 kB\nVmSize:\t  100 kB\nVmRSS:\t   42 kB\n';
  t.equal(statusBytes(status, 'VmRSS'), 42 * 1024);
  t.equal(statusBytes(status, 'VmSize'), 100 * 1024);
  t.equal(statusBytes(status, 'VmData'), undefined);
  t.equal(statusBytes(undefined, 'VmRSS'), undefined, 'no /proc: no value');
  const limits = 'Limit                     Soft Limit           Hard Limit           Units\n' +
    'Max open files            1024                 4096                 files\n' +
    'Max address space         unlimited            unlimited            bytes\n';
  t.equal(softLimit(limits, 'Max open files'), 1024);
  t.equal(softLimit(limits, 'Max address space'), 18446744073709551615, 'unlimited as the Go client reports it');
  t.equal(softLimit(limits, 'Max processes'), undefined);
  t.equal(softLimit(undefined, 'Max open files'), undefined);
  const text = new ApiMetrics().render();
  t.match(text, /^process_resident_memory_bytes \d+$/m, 'this machine has /proc');
  t.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
  t.match(text, /^nodejs_gc_duration_seconds_count\{kind="major"\} \d+$/m);
});
