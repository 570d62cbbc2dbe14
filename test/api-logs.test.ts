// Logs: one JSON line per request with the agreed fields, and no configured secret in any line.
import t from 'tap';
import { Client } from 'undici';
import { basicAuthHeader, loadConfig, secretsOf } from '../src/api/config.js';
import { createLogger } from '../src/api/logger.js';
import { startServer } from '../src/api/server.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { StoreError, type Store } from '../src/store/store.js';
import { readVia } from '../fixtures/store-stub.js';

const PASSWORD = 'pa55-w0rd-XYZ';

t.test('logger: levels, fields, errors, redaction', async (t) => {
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', write: (l) => lines.push(l), secrets: [PASSWORD] });
  log.debug('hidden');
  log.info('hidden too');
  log.warn('careful', { n: 1, url: `https://git:${PASSWORD}@host/r.git` });
  log.error('failed', { error: new Error(`bad ${PASSWORD}`, { cause: new Error('root') }), big: 10n });
  log.request({ method: 'GET', path: 'a', status: 200, duration_ms: 1, retries: 0 }); // info: filtered
  log.request({ method: 'GET', path: 'a', status: 503, duration_ms: 1, retries: 0 }); // 5xx: error level
  t.equal(lines.length, 3);
  const [warn, error, req] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(warn, { level: 'warn', msg: 'careful', n: 1, url: 'https://git:[redacted]@host/r.git' });
  t.match(warn!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.match(error, { level: 'error', big: '10', error: { name: 'Error', message: 'bad [redacted]', cause: { message: 'root' } } });
  t.match(req, { level: 'error', msg: 'request', status: 503 });
  for (const l of lines) t.notOk(l.includes(PASSWORD));
  const silent: string[] = [];
  createLogger({ level: 'silent', write: (l) => silent.push(l) }).error('nothing');
  t.same(silent, []);
});

t.test('one JSON line per request, never a credential', async (t) => {
  const config = loadConfig({ BACKEND_TYPE: 'memory', MAX_BODY_BYTES: '100', GIT_USERNAME: 'bot', GIT_PASSWORD: PASSWORD });
  const basic = basicAuthHeader(config.credentials!).slice('Basic '.length);
  const lines: string[] = [];
  const inner = new MemoryStore();
  const store: Store = {
    read: (p, o) => readVia(store, p, o),
    get: async (p) => {
      if (p === 'auth') throw new StoreError('auth', `401 for bot:${PASSWORD}`, `Authorization: Basic ${basic}`);
      if (p === 'crash') throw new Error(`internal failure near ${PASSWORD}`);
      return inner.get(p);
    },
    create: (p, b) => inner.create(p, b),
    replace: (p, b) => inner.replace(p, b),
    remove: (p) => inner.remove(p),
    close: () => inner.close(),
  };
  const running = await startServer(config, {
    store, host: '127.0.0.1', port: 0, logger: createLogger({ write: (l) => lines.push(l), secrets: secretsOf(config) }),
  });
  const client = new Client(running.url);
  t.teardown(async () => {
    await client.close();
    await running.close();
  });
  const requests: Array<[string, string, string | undefined, number]> = [
    ['POST', '/logs/a.json', '{"a":1}', 201],
    ['GET', '/logs/a.json', undefined, 200],
    ['PUT', '/logs/a.json?token=' + PASSWORD, '{"a":2}', 204],
    ['GET', '/nope', undefined, 404],
    ['GET', '/a/../b', undefined, 400],
    ['PATCH', '/logs/a.json', 'x', 405],
    ['POST', '/big', 'x'.repeat(101), 413],
    ['GET', '/auth', undefined, 502],
    ['GET', '/crash', undefined, 500],
    ['DELETE', '/logs/a.json', undefined, 204],
    ['GET', '/healthz', undefined, 200],
    ['GET', '/metrics', undefined, 200],
  ];
  for (const [method, path, body, status] of requests) {
    const r = await client.request({ method, path, ...(body === undefined ? {} : { body }) });
    await r.body.dump();
    t.equal(r.statusCode, status, `${method} ${path}`);
  }
  // The line is written as the handler finishes, which can be just after the client has its answer.
  for (let i = 0; i < 100 && lines.length < requests.length; i++) await new Promise((r) => setTimeout(r, 10));

  t.equal(lines.length, requests.length, 'exactly one line per request');
  const entries = lines.map((l) => {
    t.notMatch(l, /\n/, 'a single line');
    return JSON.parse(l) as Record<string, unknown>;
  });
  entries.forEach((e, i) => {
    const [method, , , status] = requests[i]!;
    t.match(e, { msg: 'request', method, status, retries: 0 }, `line ${i}`);
    t.match(e.time, /^\d{4}-\d\d-\d\dT/);
    t.type(e.duration_ms, 'number');
    t.type(e.path, 'string');
  });
  t.equal(entries[0]!.path, 'logs/a.json', 'the normalized path');
  t.equal(entries[2]!.path, 'logs/a.json', 'no query string');
  t.match(entries[0]!.commit, /^[0-9a-f]{40}$/, 'writes log their commit');
  t.match(entries[2]!.commit, /^[0-9a-f]{40}$/);
  t.not(entries[2]!.commit, entries[0]!.commit);
  t.notOk('commit' in entries[1]!, 'reads do not');
  t.match(entries[3]!.error, /does not exist/, 'errors say what went wrong');
  t.match(entries[8]!.error, /internal failure/, 'a 500 logs the real cause');
  t.match(entries[8]!.level, 'error');

  for (const l of lines) {
    t.notOk(l.includes(PASSWORD), 'the password never appears');
    t.notOk(l.includes(basic), 'nor its Basic form');
  }
});
