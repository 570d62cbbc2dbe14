// The REST contract over real HTTP against the in-memory store: status codes, headers, exact bytes, paths,
// body limits, streaming in both directions, and how store failures are answered.
import t from 'tap';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Client } from 'undici';
import { loadConfig } from '../src/api/config.js';
import { createLogger } from '../src/api/logger.js';
import { ApiMetrics } from '../src/api/metrics.js';
import { startServer } from '../src/api/server.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { StoreError, type BodySource, type ReadResult, type Store, type WriteResult } from '../src/store/store.js';
import { readVia } from '../fixtures/store-stub.js';

type Teardown = { teardown(fn: () => unknown): void };
interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The API on 127.0.0.1:<free port> over `store`, with a client that sends paths exactly as written. */
async function start(t: Teardown, store: Store, env: Record<string, string> = {}) {
  const running = await startServer(loadConfig({ BACKEND_TYPE: 'memory', ...env }), {
    store, host: '127.0.0.1', port: 0, logger: createLogger({ level: 'silent' }), metrics: new ApiMetrics(),
  });
  const client = new Client(running.url);
  t.teardown(async () => {
    await client.close();
    await running.close();
  });
  const call = async (method: string, path: string, body?: Buffer | string | AsyncIterable<Buffer>,
    headers: Record<string, string> = {}): Promise<Res> => {
    const payload = body === undefined || typeof body === 'string' || Buffer.isBuffer(body) ? body : Readable.from(body);
    const r = await client.request({ method, path, headers, ...(payload === undefined ? {} : { body: payload }) });
    return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
  };
  return { url: running.url, port: Number(new URL(running.url).port), call };
}

/** Sends `head` + `body` on a fresh connection and returns everything the server sent until it closed. */
function rawExchange(port: number, head: string, body: Buffer = Buffer.alloc(0)): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(Buffer.concat([Buffer.from(head), body])));
    let text = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (text += d));
    sock.on('error', reject);
    sock.on('close', () => resolve(text));
  });
}

const enc = (p: string) => '/' + p.split('/').map(encodeURIComponent).join('/');
const ALLOW = 'GET, HEAD, POST, PUT, DELETE, OPTIONS';
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

async function snapshot(store: MemoryStore): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const p of store.paths()) {
    const parts: Buffer[] = [];
    for await (const c of (await store.get(p)).stream) parts.push(Buffer.from(c));
    out.set(p, Buffer.concat(parts));
  }
  return out;
}

type Asserts = Pick<typeof t, 'ok' | 'match' | 'type'>;

function errorBody(t: Asserts, res: Res, what: string): { error: string; detail?: string } {
  t.match(res.headers['content-type'], /^application\/json/, `${what}: JSON error`);
  const err = JSON.parse(res.body.toString()) as { error: string; detail?: string };
  t.type(err.error, 'string', `${what}: has a message`);
  t.ok(err.error.length > 0);
  return err;
}

t.test('the contract table, top-level and nested', async (t) => {
  const store = new MemoryStore();
  const api = await start(t, store);
  const model = new Map<string, Buffer>();
  let commits = 0;
  const steps: Array<[string, string, string | Buffer | undefined, number]> = [
    ['GET', 'a.json', undefined, 404],
    ['PUT', 'a.json', 'x', 404],
    ['DELETE', 'a.json', undefined, 404],
    ['POST', 'a.json', '{"v":1}', 201],
    ['GET', 'a.json', undefined, 200],
    ['POST', 'a.json', '{"v":2}', 409],
    ['PUT', 'a.json', '{"v":3}', 204],
    ['GET', 'a.json', undefined, 200],
    ['POST', 'users/alice/profile.json', '{"name":"alice"}', 201],
    ['GET', 'users/alice/profile.json', undefined, 200],
    ['POST', 'users/alice/profile.json', 'again', 409],
    ['GET', 'users', undefined, 404], // a directory is not a file
    ['GET', 'users/alice', undefined, 404],
    ['POST', 'users/alice', 'x', 409], // a file cannot replace a directory
    ['POST', 'a.json/child', 'x', 409], // nor go below a file
    ['PUT', 'users', 'x', 404],
    ['DELETE', 'users/alice', undefined, 404],
    ['PUT', 'users/alice/profile.json', '{"name":"alice","v":2}', 204],
    ['GET', 'users/alice/profile.json', undefined, 200],
    ['DELETE', 'users/alice/profile.json', undefined, 204],
    ['GET', 'users/alice/profile.json', undefined, 404],
    ['POST', 'users', 'now a file', 201], // the empty directory disappeared with its last file
    ['PATCH', 'a.json', 'x', 405],
    ['DELETE', 'a.json', undefined, 204],
    ['GET', 'a.json', undefined, 404],
  ];
  for (const [method, path, body, status] of steps) {
    const what = `${method} /${path}`;
    const res = await api.call(method, enc(path), body);
    t.equal(res.status, status, `${what} → ${status}`);
    if (status === 200) {
      t.same(res.body, model.get(path), `${what}: exact bytes`);
      t.equal(res.headers['content-type'], 'application/json');
      t.equal(res.headers['content-length'], String(res.body.length));
    } else if (status === 201) {
      const created = JSON.parse(res.body.toString()) as { path: string; commit: string };
      t.same(created, { path, commit: res.headers['x-commit'] }, `${what}: JSON with path and commit`);
      t.match(created.commit, /^[0-9a-f]{40}$/);
      t.equal(res.headers['location'], enc(path));
    } else if (status === 204) {
      t.equal(res.body.length, 0, `${what}: no body`);
      t.match(res.headers['x-commit'], /^[0-9a-f]{40}$/, `${what}: X-Commit`);
    } else {
      errorBody(t, res, what);
      if (status === 405) t.equal(res.headers['allow'], ALLOW);
    }
    if (status >= 200 && status < 300 && method !== 'GET') {
      commits++;
      if (method === 'DELETE') model.delete(path);
      else model.set(path, Buffer.from(body ?? ''));
    }
    t.same(await snapshot(store), model, `${what}: the store holds exactly the expected files`);
    t.equal(store.commitCount, commits, `${what}: one commit per successful write, none otherwise`);
  }
});

t.test('bytes and names round-trip exactly', async (t) => {
  const store = new MemoryStore();
  const api = await start(t, store);

  t.equal((await api.call('POST', '/bin/all-bytes', ALL_BYTES)).status, 201);
  const got = await api.call('GET', '/bin/all-bytes');
  t.equal(got.body.length, 256);
  t.ok(got.body.equals(ALL_BYTES), 'all 256 byte values');

  // Larger than the store's and the sockets' chunk sizes, sent chunked (no Content-Length).
  const big = randomBytes(3 * 1024 * 1024 + 7);
  async function* chunks() {
    for (let i = 0; i < big.length; i += 100_000) yield big.subarray(i, i + 100_000);
  }
  t.equal((await api.call('POST', '/bin/big', chunks())).status, 201);
  const bigBack = await api.call('GET', '/bin/big');
  t.equal(bigBack.headers['content-length'], String(big.length));
  t.ok(bigBack.body.equals(big), 'a 3 MiB random body');

  t.equal((await api.call('POST', '/empty.json', '')).status, 201, 'empty body');
  const empty = await api.call('GET', '/empty.json');
  t.equal(empty.status, 200);
  t.equal(empty.headers['content-length'], '0');
  t.equal(empty.body.length, 0);

  const created = await api.call('POST', '/caf%C3%A9/%E2%9C%93.txt', 'unicode ✓');
  t.equal(created.status, 201);
  t.equal(JSON.parse(created.body.toString()).path, 'café/✓.txt');
  t.equal(created.headers['location'], '/caf%C3%A9/%E2%9C%93.txt');
  t.ok(store.paths().includes('café/✓.txt'), 'stored under the decoded UTF-8 name');
  t.equal((await api.call('GET', '/caf%c3%a9/%e2%9c%93.txt')).body.toString(), 'unicode ✓', 'lower-case escapes');
  t.equal((await api.call('GET', '/caf%C3%A9/%E2%9C%93.txt?download=1')).status, 200, 'query string ignored');
});

t.test('HEAD, OPTIONS, reserved paths and 405', async (t) => {
  const store = new MemoryStore();
  const api = await start(t, store);
  await api.call('POST', '/h.json', '{"hello":"world"}');

  const head = await api.call('HEAD', '/h.json');
  t.equal(head.status, 200);
  t.equal(head.headers['content-length'], '17', 'HEAD reports the size');
  t.equal(head.headers['content-type'], 'application/json');
  t.equal(head.body.length, 0, 'and sends no body');
  t.equal((await api.call('HEAD', '/missing')).status, 404);

  for (const path of ['/h.json', '/missing/too']) {
    const o = await api.call('OPTIONS', path);
    t.equal(o.status, 204, `OPTIONS ${path}`);
    t.equal(o.headers['allow'], ALLOW);
    t.equal(o.body.length, 0);
  }
  const star = await rawExchange(api.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(star, /^HTTP\/1\.1 204 /, 'OPTIONS *');
  t.match(star, new RegExp(`\r\nAllow: ${ALLOW}\r\n`));
  t.equal((await api.call('OPTIONS', '/metrics')).headers['allow'], 'GET, HEAD, OPTIONS');
  t.equal((await api.call('OPTIONS', '/a//b')).status, 400, 'OPTIONS still validates the path');

  const health = await api.call('GET', '/healthz');
  t.equal(health.status, 200);
  t.same(JSON.parse(health.body.toString()), { status: 'ok' });

  for (const method of ['PATCH', 'PROPFIND', 'TRACE', 'LOCK']) {
    const res = await api.call(method, '/h.json', method === 'TRACE' ? undefined : 'x');
    t.equal(res.status, 405, `${method} → 405`);
    t.equal(res.headers['allow'], ALLOW);
    t.match(errorBody(t, res, method).error, method);
  }
  t.equal((await api.call('PATCH', '/a//b')).status, 405, '405 wins over a bad path');
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const res = await api.call(method, '/metrics', 'x');
    t.equal(res.status, 405, `${method} /metrics`);
    t.equal(res.headers['allow'], 'GET, HEAD, OPTIONS');
  }
  t.same(store.paths(), ['h.json'], 'nothing else was stored');
  t.equal(store.commitCount, 1);
});

t.test('bad paths: 400 with an actionable message, and the store is unchanged', async (t) => {
  const store = new MemoryStore();
  const api = await start(t, store);
  await api.call('POST', '/keep/me.json', 'kept');
  const before = await snapshot(store);
  const bad = [
    '/a//', '//', '/a//b', '//a', '/.', '/..', '/a/../b', '/a/./b', '/%2e%2e/x', '/%2E', '/.git', '/.git/config',
    '/a/.GIT/HEAD', '/.Git', '/a%00b', '/a%0Ab', '/a%1Fb', '/a%7Fb', '/a%2Fb', '/%zz', '/a%', '/%ff', '/%C3',
    '/%C0%AF', '/' + 'x'.repeat(256), '/' + Array.from({ length: 20 }, () => 'y'.repeat(250)).join('/'),
  ];
  for (const path of bad) {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE']) {
      const res = await api.call(method, path, method === 'POST' || method === 'PUT' ? 'body' : undefined);
      t.equal(res.status, 400, `${method} ${path.slice(0, 40)} → 400`);
      if (method !== 'HEAD') {
        const err = errorBody(t, res, path);
        t.type(err.detail, 'string', 'says what to do');
      }
    }
  }
  t.same(await snapshot(store), before, 'nothing was created or changed');
  t.equal(store.commitCount, 1);
});

t.test('body limit: 413 with Content-Length and chunked, nothing stored', async (t) => {
  const store = new MemoryStore();
  const api = await start(t, store, { MAX_BODY_BYTES: '1000' });
  const at = Buffer.alloc(1000, 'a');
  const over = Buffer.alloc(1001, 'b');
  async function* chunked(buf: Buffer) {
    for (let i = 0; i < buf.length; i += 300) yield buf.subarray(i, i + 300);
  }

  t.equal((await api.call('POST', '/at-limit', at)).status, 201, 'exactly the limit is fine');
  t.equal((await api.call('POST', '/chunked-at-limit', chunked(at))).status, 201, 'also chunked');

  for (const [what, body] of [['Content-Length', over], ['chunked', chunked(over)], ['5 MB', Buffer.alloc(5e6)]] as const) {
    const res = await api.call('POST', '/too-big', body);
    t.equal(res.status, 413, `POST ${what} → 413`);
    t.equal(res.headers['connection'], 'close', `${what}: the connection is closed, not drained`);
    t.match(errorBody(t, res, what).error, /larger than the 1000-byte limit/);
    const put = await api.call('PUT', '/at-limit', what === 'chunked' ? chunked(over) : over);
    t.equal(put.status, 413, `PUT ${what} → 413`);
  }
  t.same(store.paths(), ['at-limit', 'chunked-at-limit'], 'nothing else stored');
  t.ok((await api.call('GET', '/at-limit')).body.equals(at), 'the replaced file is unchanged');
  t.equal(store.commitCount, 2);

  // The 413 for an announced size comes before any of the body is sent, and for a chunked body as soon as
  // the limit is passed: a raw client that sends only that much still gets its answer.
  const raw = (head: string, body: Buffer) => rawExchange(api.port, head, body);
  const announced = await raw('POST /huge HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n', Buffer.alloc(10));
  t.match(announced, /^HTTP\/1\.1 413 /, 'Content-Length 1 GB: 413 without the body');
  t.match(announced, /\r\nconnection: close\r\n/i);
  const partial = Buffer.concat([Buffer.from('5dc\r\n'), Buffer.alloc(1500, 'c'), Buffer.from('\r\n')]);
  const streamed = await raw('POST /huge HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', partial);
  t.match(streamed, /^HTTP\/1\.1 413 /, 'chunked: 413 once past the limit, the body never finished');
  t.notOk(store.paths().includes('huge'));
});

t.test('request bodies are streamed to the store, not buffered first', async (t) => {
  let firstChunkSeen!: () => void;
  const seen = new Promise<void>((resolve) => (firstChunkSeen = resolve));
  const received: number[] = [];
  let length: number | undefined = -1;
  const inner = new MemoryStore();
  const store: Store = {
    read: (p, o) => readVia(store, p, o),
    get: (p) => inner.get(p),
    replace: (p, b) => inner.replace(p, b),
    remove: (p) => inner.remove(p),
    close: () => inner.close(),
    async create(path, body: BodySource) {
      length = body.length;
      const parts: Buffer[] = [];
      for await (const c of body.stream) {
        received.push(c.byteLength);
        parts.push(Buffer.from(c));
        firstChunkSeen();
      }
      return inner.create(path, { stream: (async function* () { yield* parts; })() });
    },
  };
  const api = await start(t, store);
  let waitedForStore = false;
  async function* body() {
    yield Buffer.alloc(5000, 1);
    // The second chunk is only sent once the store has the first: a buffering API would never get there.
    // (bounded, so that a buffering API fails the assertion below instead of hanging)
    await Promise.race([seen.then(() => (waitedForStore = true)), new Promise((r) => setTimeout(r, 20_000).unref())]);
    yield Buffer.alloc(5000, 2);
  }
  const res = await api.call('POST', '/streamed', body());
  t.equal(res.status, 201);
  t.ok(waitedForStore, 'the store received the first chunk before the client sent the second');
  t.equal(length, undefined, 'chunked: no length announced to the store');
  t.equal(received.reduce((a, b) => a + b, 0), 10_000);
  await api.call('POST', '/with-length', Buffer.alloc(1234));
  t.equal(length, 1234, 'Content-Length is passed on as body.length');
});

t.test('responses are streamed with backpressure', async (t) => {
  const SIZE = 128 * 1024 * 1024;
  const CHUNK = Buffer.alloc(64 * 1024, 7);
  let produced = 0;
  const store: Store = {
    read: (p, o) => readVia(store, p, o),
    async get(): Promise<ReadResult> {
      return {
        etag: '1'.repeat(40),
        size: SIZE,
        stream: (async function* () {
          while (produced < SIZE) {
            produced += CHUNK.length;
            yield CHUNK;
          }
        })(),
      };
    },
    create: () => Promise.reject(new Error('unused')),
    replace: () => Promise.reject(new Error('unused')),
    remove: () => Promise.reject(new Error('unused')),
    close: async () => {},
  };
  const api = await start(t, store);
  const sock = connect(api.port, '127.0.0.1');
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => (received += d.length));
    sock.on('end', resolve);
    sock.on('error', reject);
  });
  sock.write('GET /huge HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  sock.pause(); // a slow client: read nothing for now
  // Wait until the server stops producing (its writes are blocked), bounded.
  let last = -1;
  for (let stable = 0, i = 0; stable < 5 && i < 500; i++) {
    await new Promise((r) => setTimeout(r, 20));
    stable = produced === last ? stable + 1 : 0;
    last = produced;
  }
  t.ok(produced < SIZE / 2, `a stalled client holds the store's stream back (${produced} of ${SIZE} bytes read)`);
  sock.resume();
  await done;
  t.equal(produced, SIZE, 'all of it once the client reads');
  t.ok(received > SIZE, 'the client got the whole body (plus headers)');
});

t.test('store failures become the right status, with a JSON message', async (t) => {
  let failure: unknown;
  const fail = async (): Promise<never> => {
    throw failure;
  };
  const store: Store = {
    read: (p, o) => readVia(store, p, o), get: fail, create: fail, replace: fail, remove: fail, close: async () => {} };
  const api = await start(t, store, { GIT_PASSWORD: 'hunter2-secret' });
  const cases: Array<[StoreError, number]> = [
    [new StoreError('not-found', 'no file at x'), 404],
    [new StoreError('conflict', 'x exists', 'use PUT'), 409],
    [new StoreError('bad-request', 'bad body'), 400],
    [new StoreError('too-large', 'too big'), 413],
    [new StoreError('upstream', 'the git host sent garbage'), 502],
    [new StoreError('unavailable', 'the git host could not be reached'), 503],
    [new StoreError('timeout', 'the git host did not answer in time'), 504],
    [new StoreError('auth', 'the git host refused our credentials'), 502],
  ];
  for (const [err, status] of cases) {
    failure = err;
    for (const [method, body] of [['GET', undefined], ['POST', 'x'], ['PUT', 'x'], ['DELETE', undefined]] as const) {
      const res = await api.call(method, '/x', body);
      t.equal(res.status, status, `${err.kind} on ${method} → ${status}`);
      const e = errorBody(t, res, err.kind);
      t.equal(e.error, err.message);
      t.type(e.detail, 'string', 'with advice');
    }
  }
  failure = new StoreError('unavailable', 'down');
  t.equal((await api.call('GET', '/x')).headers['retry-after'], '5', '503 says when to retry');

  failure = new StoreError('auth', 'denied for git:hunter2-secret', 'Authorization: Basic ' +
    Buffer.from('git:hunter2-secret').toString('base64'));
  const leaked = await api.call('GET', '/x');
  t.notMatch(leaked.body.toString(), /hunter2/, 'a configured secret never reaches a client');
  t.notOk(leaked.body.toString().includes(Buffer.from('git:hunter2-secret').toString('base64')));
  t.match(leaked.body.toString(), /\[redacted\]/);

  failure = new TypeError('cannot read properties of undefined (internal detail)');
  const crash = await api.call('POST', '/x', 'x');
  t.equal(crash.status, 500, 'an unexpected exception is a 500');
  const e = errorBody(t, crash, '500');
  t.equal(e.error, 'internal server error');
  t.notMatch(crash.body.toString(), /internal detail/, 'internals are logged, not sent');
  t.equal((await api.call('GET', '/healthz')).status, 200, 'and the server keeps serving');
});

t.test('a read that fails mid-stream cuts the response instead of sending wrong bytes', async (t) => {
  let mode: 'throws' | 'short' | 'long' = 'throws';
  const store: Store = {
    read: (p, o) => readVia(store, p, o),
    async get(): Promise<ReadResult> {
      return {
        etag: '1'.repeat(40),
        size: 100,
        stream: (async function* () {
          yield Buffer.alloc(40, 1);
          if (mode === 'throws') throw new StoreError('upstream', 'connection lost');
          if (mode === 'long') yield Buffer.alloc(100, 2);
        })(),
      };
    },
    create: () => Promise.reject(new Error('unused')),
    replace: () => Promise.reject(new Error('unused')),
    remove: () => Promise.reject(new Error('unused')),
    close: async () => {},
  };
  const api = await start(t, store);
  for (const m of ['throws', 'short', 'long'] as const) {
    mode = m;
    await t.rejects(api.call('GET', '/x'), `${m}: the client sees a broken response, not a complete one`);
  }
  t.equal((await api.call('GET', '/healthz')).status, 200, 'the server is fine');
});

t.test('write results carry the store commit; retries are reported', async (t) => {
  const inner = new MemoryStore();
  const withRetries = (w: WriteResult): WriteResult => ({ ...w, retries: 2 });
  const store: Store = {
    read: (p, o) => readVia(store, p, o),
    get: (p) => inner.get(p),
    create: async (p, b) => withRetries(await inner.create(p, b)),
    replace: async (p, b) => withRetries(await inner.replace(p, b)),
    remove: async (p) => withRetries(await inner.remove(p)),
    close: () => inner.close(),
  };
  const api = await start(t, store);
  const res = await api.call('POST', '/r.json', '1');
  t.equal(res.status, 201);
  const got = await api.call('GET', '/r.json');
  t.equal(got.headers['x-commit'], res.headers['x-commit'], 'GET reports the commit it read from');
});
