// /metrics: the exposition parses as Prometheus text 0.0.4, the earlier server's series are there, and they
// move with the requests the API serves.
import t from 'tap';
import { Client } from 'undici';
import { loadConfig } from '../src/api/config.js';
import { createLogger } from '../src/api/logger.js';
import { Counter, Gauge, Histogram, Registry } from '../src/api/exposition.js';
import { ApiMetrics } from '../src/api/metrics.js';
import { startServer } from '../src/api/server.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { Store, WriteResult } from '../src/store/store.js';
import { readVia } from '../fixtures/store-stub.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Exposition {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

/** A small, strict parser for the text format: throws on any line it does not understand. */
function parseExposition(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const out: Exposition = { help: new Map(), type: new Map(), samples: [] };
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/))) {
      out.help.set(m[1]!, m[2]!);
    } else if ((m = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/))) {
      if (out.type.has(m[1]!)) throw new Error(`TYPE twice for ${m[1]}`);
      out.type.set(m[1]!, m[2]!);
    } else if ((m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/))) {
      const labels: Record<string, string> = {};
      const body = m[2] ?? '';
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/gy;
      let consumed = 0;
      for (let lm = re.exec(body); lm !== null; lm = re.exec(body)) {
        labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        consumed = re.lastIndex;
        if (lm[3] === '') break;
      }
      if (consumed !== body.length) throw new Error(`bad labels in: ${line}`);
      const v = m[3]!;
      const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
      if (Number.isNaN(value) && v !== 'NaN') throw new Error(`bad value in: ${line}`);
      out.samples.push({ name: m[1]!, labels, value });
    } else {
      throw new Error(`unparseable line: ${JSON.stringify(line)}`);
    }
  }
  return out;
}

type Asserts = Pick<typeof t, 'ok' | 'equal' | 'same' | 'type'>;

/** Checks the structure: HELP and TYPE for every family, histograms cumulative and ending in +Inf == _count. */
function checkExposition(t: Asserts, e: Exposition): void {
  for (const s of e.samples) {
    const family = e.type.has(s.name) ? s.name : s.name.replace(/_(bucket|sum|count)$/, '');
    t.ok(e.type.has(family), `${s.name}: has TYPE`);
    t.ok(e.help.has(family), `${s.name}: has HELP`);
    if (family !== s.name) t.equal(e.type.get(family), 'histogram', `${s.name}: suffix only on histograms`);
  }
  for (const [family, type] of e.type) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of e.samples.filter((s) => s.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      t.type(le, 'string', 'bucket has le');
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
      t.same(les, [...les].sort((a, b) => a - b), `${family}${key}: buckets in increasing le`);
      t.equal(les.at(-1), Infinity, `${family}${key}: last bucket is +Inf`);
      for (let i = 1; i < buckets.length; i++) {
        t.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${family}${key}: cumulative at le=${buckets[i]!.labels.le}`);
      }
      const count = e.samples.find((s) => s.name === `${family}_count` && JSON.stringify(s.labels) === key);
      const sum = e.samples.find((s) => s.name === `${family}_sum` && JSON.stringify(s.labels) === key);
      t.ok(count !== undefined && sum !== undefined, `${family}${key}: has _count and _sum`);
      t.equal(buckets.at(-1)!.value, count?.value, `${family}${key}: +Inf bucket == _count`);
    }
  }
}

const value = (e: Exposition, name: string, labels: Record<string, string>): number =>
  e.samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value ?? 0;

t.test('the test parser refuses what is not the text format', async (t) => {
  t.throws(() => parseExposition('a 1'), /newline/);
  t.throws(() => parseExposition('what is this\n'), /unparseable/);
  t.throws(() => parseExposition('a{b="c} 1\n'), /bad labels/);
  t.throws(() => parseExposition('a{b="c",d} 1\n'), /bad labels/);
  t.throws(() => parseExposition('a 1x\n'), /bad value/);
  t.same(parseExposition('a{b="x\\"y",c=""} +Inf\n').samples, [{ name: 'a', labels: { b: 'x"y', c: '' }, value: Infinity }]);
});

t.test('Registry renders valid text: escaping, cumulative buckets, callbacks', async (t) => {
  const r = new Registry();
  const c = r.register(new Counter('things_total', 'Things.\nWith a \\ backslash.', ['kind']));
  const g = r.register(new Gauge('temp', 'Temperature.'));
  const h = r.register(new Histogram('lat', 'Latency.', ['op'], [0.1, 1, 10]));
  c.inc({ kind: 'quote " backslash \\ newline \n end' }, 2);
  c.inc({ kind: 'plain' });
  c.inc({ kind: 'plain' }, 0.5);
  let reading = 21.5;
  g.set({}, () => reading);
  for (const v of [0.05, 0.1, 0.5, 5, 50]) h.observe({ op: 'read' }, v);
  t.throws(() => c.inc({}), /missing label kind/);
  t.throws(() => c.inc({ kind: 'x', extra: 'y' }), /unexpected labels/);
  t.throws(() => c.inc({ kind: 'x' }, -1), /only go up/);
  t.throws(() => r.register(new Gauge('temp', 'again')), /twice/);

  const text = r.render();
  const e = parseExposition(text);
  checkExposition(t, e);
  t.equal(e.help.get('things_total'), 'Things.\\nWith a \\\\ backslash.', 'HELP text escaped');
  t.equal(value(e, 'things_total', { kind: 'quote " backslash \\ newline \n end' }), 2, 'label value round-trips');
  t.match(text, /things_total\{kind="quote \\" backslash \\\\ newline \\n end"\} 2\n/);
  t.equal(value(e, 'things_total', { kind: 'plain' }), 1.5);
  t.equal(value(e, 'temp', {}), 21.5);
  reading = 3;
  t.equal(value(parseExposition(r.render()), 'temp', {}), 3, 'gauge callback read at each scrape');
  const bucket = (le: string) => value(e, 'lat_bucket', { op: 'read', le });
  t.same([bucket('0.1'), bucket('1'), bucket('10'), bucket('+Inf')], [2, 3, 4, 5], 'le is inclusive and cumulative');
  t.equal(value(e, 'lat_count', { op: 'read' }), 5);
  t.equal(value(e, 'lat_sum', { op: 'read' }), 55.65);
});

t.test('ApiMetrics: the four series of the earlier server', async (t) => {
  const m = new ApiMetrics(new Date('2024-05-06T07:08:09.000Z'));
  let e = parseExposition(m.render());
  checkExposition(t, e);
  t.same([...e.type].slice(0, 4), [
    ['server_uptime', 'gauge'], ['request_count', 'counter'], ['request_duration', 'histogram'], ['retry_count', 'counter'],
  ]);
  t.equal(e.samples.filter((s) => s.name === 'request_count').length, 7 * 2 * 2,
    'every method x status x retry exists from the start');
  t.equal(value(e, 'request_count', { method: 'DELETE', status: 'success', retry: 'true' }), 0);
  const uptime = e.samples.find((s) => s.name === 'server_uptime');
  t.same(uptime?.labels, { start_time: '2024-05-06T07:08:09.000Z' });
  t.ok(uptime!.value > 0);

  m.observe({ method: 'POST', ok: true, retries: 0, seconds: 0.003 });
  m.observe({ method: 'POST', ok: true, retries: 3, seconds: 0.2 });
  m.observe({ method: 'PUT', ok: false, retries: 1, seconds: 61 });
  m.observe({ method: 'BREW', ok: false, retries: 0, seconds: 0.001 });
  e = parseExposition(m.render());
  checkExposition(t, e);
  t.equal(value(e, 'request_count', { method: 'POST', status: 'success', retry: 'false' }), 1);
  t.equal(value(e, 'request_count', { method: 'POST', status: 'success', retry: 'true' }), 1);
  t.equal(value(e, 'request_count', { method: 'PUT', status: 'error', retry: 'true' }), 1);
  t.equal(value(e, 'request_count', { method: 'OTHER', status: 'error', retry: 'false' }), 1, 'unknown methods folded');
  t.equal(value(e, 'retry_count', { method: 'POST', status: 'success' }), 3, 'retry_count adds up retries');
  t.equal(value(e, 'retry_count', { method: 'PUT', status: 'error' }), 1);
  t.equal(value(e, 'request_duration_bucket', { method: 'PUT', status: 'error', retry: 'true', le: '60' }), 0);
  t.equal(value(e, 'request_duration_bucket', { method: 'PUT', status: 'error', retry: 'true', le: '+Inf' }), 1);
  const les = e.samples.filter((s) => s.name === 'request_duration_bucket' &&
    s.labels.method === 'POST' && s.labels.status === 'success' && s.labels.retry === 'false').map((s) => s.labels.le);
  t.same(les, ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '+Inf']);
});

t.test('GET /metrics over HTTP; counters move with requests', async (t) => {
  const inner = new MemoryStore();
  let retries = 0;
  const counted = async (w: Promise<WriteResult>) => ({ ...(await w), retries });
  const store: Store = {
    read: (p, o) => readVia(store, p, o),
    get: (p) => inner.get(p),
    create: (p, b) => counted(inner.create(p, b)),
    replace: (p, b) => counted(inner.replace(p, b)),
    remove: (p) => counted(inner.remove(p)),
    close: () => inner.close(),
  };
  const running = await startServer(loadConfig({ BACKEND_TYPE: 'memory' }), {
    store, host: '127.0.0.1', port: 0, logger: createLogger({ level: 'silent' }),
  });
  const client = new Client(running.url);
  t.teardown(async () => {
    await client.close();
    await running.close();
  });
  const call = async (method: string, path: string, body?: string) => {
    const r = await client.request({ method, path, ...(body === undefined ? {} : { body }) });
    return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
  };
  const scrape = async () => {
    const r = await call('GET', '/metrics');
    t.equal(r.status, 200);
    t.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    const e = parseExposition(r.text);
    checkExposition(t, e);
    return e;
  };

  const before = await scrape();
  t.equal(before.samples.filter((s) => s.name === 'request_count').reduce((a, s) => a + s.value, 0), 0,
    'no requests yet');

  await call('POST', '/m.json', '1');
  await call('GET', '/m.json');
  await call('GET', '/m.json');
  await call('GET', '/absent');
  await call('POST', '/m.json', 'dup');
  retries = 2;
  await call('PUT', '/m.json', '2');
  await call('GET', '/healthz');
  const head = await call('HEAD', '/metrics');
  t.equal(head.status, 200);

  const after = await scrape();
  const count = (method: string, status: string, retry: string) =>
    value(after, 'request_count', { method, status, retry });
  t.equal(count('POST', 'success', 'false'), 1);
  t.equal(count('GET', 'success', 'false'), 2);
  t.equal(count('GET', 'error', 'false'), 1, '404 counts as an error');
  t.equal(count('POST', 'error', 'false'), 1, '409 counts as an error');
  t.equal(count('PUT', 'success', 'true'), 1, 'a write that needed retries');
  t.equal(value(after, 'retry_count', { method: 'PUT', status: 'success' }), 2);
  t.equal(value(after, 'request_duration_count', { method: 'GET', status: 'success', retry: 'false' }), 2);
  const total = after.samples.filter((s) => s.name === 'request_count').reduce((a, s) => a + s.value, 0);
  t.equal(total, 6, '/metrics and /healthz are not API traffic');
});
