// Against a real Prometheus (Debian's `prometheus` package; .ci/run installs it): the server's exposition
// passes `promtool check metrics` but for the four legacy names, and each of the earlier server's eight
// dashboard queries returns data after a few 1 s scrapes of a running server under traffic.
//
// Prometheus runs as this test's own child process (never a system service), on loopback, with a temporary
// storage directory, and is killed at the end. Every loop here is bounded.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { request } from 'undici';
import { freePort, startServerProcess } from '../fixtures/server-process.js';

const run = promisify(execFile);

/** The earlier server's Grafana dashboard, panel by panel. */
const DASHBOARD_QUERIES = [
  'sum by (method) (increase(request_count[1m]))',
  'sum by (method) (rate(request_duration_sum[5m])) / sum by (method) (rate(request_count[5m]))',
  'rate(process_cpu_seconds_total{job="git-backed-rest"}[5m])',
  '(process_resident_memory_bytes{job="git-backed-rest"} / 1024 / 1024)',
  'rate(process_virtual_memory_max_bytes{job="git-backed-rest"}[5m]) / 1024 / 1024',
  'sum(rate(request_count{status="success",retry="false"}[5m]))',
  'sum(rate(request_count{status="success",retry="true"}[5m]))',
  'sum(rate(request_count{status="error"}[5m]))',
];

/** The earlier server's spelling, kept on purpose (README: "Legacy metric names"). */
const LEGACY = new Set(['request_count', 'retry_count', 'request_duration', 'server_uptime']);

async function have(cmd: string): Promise<boolean> {
  return run(cmd, ['--version']).then(() => true, () => false);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('promtool and a real Prometheus read the dashboard series', async (t) => {
  for (const cmd of ['prometheus', 'promtool']) {
    t.ok(await have(cmd), `${cmd} is installed (apt-get install prometheus; .ci/run does it)`);
  }
  if (!(await have('prometheus')) || !(await have('promtool'))) return;

  const dir = await mkdtemp(join(tmpdir(), 'gitrest-prometheus-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const server = await startServerProcess(t, { env: { DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'warn' } });
  const call = async (method: string, path: string, body?: string) => {
    const r = await request(`${server.url}${path}`, { method: method as 'GET', ...(body === undefined ? {} : { body }) });
    const text = await r.body.text();
    return { status: r.statusCode, text };
  };

  // promtool reads the exposition from stdin and reports lint problems one per line.
  const exposition = (await call('GET', '/metrics')).text;
  const lint = await new Promise<string>((resolve, reject) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      if (err !== null && (err as { code?: unknown }).code === undefined) reject(err);
      else resolve(`${stdout}${stderr}`);
    });
    child.stdin?.end(exposition);
  });
  const complaints = lint.split('\n').filter((l) => l.trim() !== '');
  const named = complaints.map((l) => l.split(' ')[0] ?? '');
  t.same(named.filter((n) => !LEGACY.has(n)), [], `promtool: nothing but the legacy names (${complaints.join('; ')})`);

  const promPort = await freePort();
  const config = join(dir, 'prometheus.yml');
  await writeFile(config, [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: git-backed-rest',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${server.port}']`,
    '',
  ].join('\n'));
  const prom = spawn('prometheus', [
    `--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let promLog = '';
  prom.stderr.setEncoding('utf8').on('data', (s: string) => (promLog = (promLog + s).slice(-4000)));
  const promExited = new Promise((r) => prom.once('exit', r));
  t.teardown(async () => {
    prom.kill('SIGKILL');
    await promExited;
  });

  // Traffic: writes, reads, a miss; a few rounds a second while Prometheus scrapes.
  let round = 0;
  const traffic = async () => {
    const path = `/load/${round}.json`;
    await call('POST', path, `{"round":${round}}`);
    await call('GET', path);
    await call('PUT', path, `{"round":${round},"again":true}`);
    await call('GET', '/load/missing.json');
    round++;
  };

  const query = async (q: string): Promise<number> => {
    try {
      const r = await request(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await r.body.json()) as { status: string; data?: { result?: unknown[] } };
      return body.status === 'success' ? (body.data?.result?.length ?? 0) : 0;
    } catch {
      return 0; // not up yet
    }
  };

  const pending = new Set(DASHBOARD_QUERIES);
  // Bounded: at most 45 polls about a second apart.
  for (let i = 0; i < 45 && pending.size > 0; i++) {
    await traffic();
    await sleep(700);
    for (const q of [...pending]) if ((await query(q)) > 0) pending.delete(q);
  }
  for (const q of DASHBOARD_QUERIES) t.notOk(pending.has(q), `returns data: ${q}`);
  if (pending.size > 0) t.comment(`prometheus log: ${promLog}`);
  t.ok(round > 0, `${round} rounds of traffic`);

  const after = (await call('GET', '/metrics')).text;
  for (const series of [
    /^gitrest_git_request_duration_seconds_count\{service="upload-pack",outcome="ok"\} [1-9]/m,
    /^gitrest_git_request_duration_seconds_count\{service="receive-pack",outcome="ok"\} [1-9]/m,
    /^gitrest_git_sent_bytes_total\{service="receive-pack"\} [1-9]/m,
    /^gitrest_git_received_bytes_total\{service="upload-pack"\} [1-9]/m,
    /^gitrest_push_writes_count [1-9]/m,
    /^gitrest_object_cache_hits_total [1-9]/m,
    /^gitrest_object_cache_bytes [1-9]/m,
    /^gitrest_push_lost_races_total 0$/m,
    /^gitrest_push_in_doubt_total\{resolution="landed"\} 0$/m,
  ]) t.match(after, series, `the engine series move with the traffic: ${series.source}`);
});
