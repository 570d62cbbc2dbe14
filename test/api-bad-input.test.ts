// Bad client input over raw sockets: Content-Length that lies (either way), headers or body that trickle in or
// stall, oversized headers, bytes that are not HTTP, unknown and unsupported methods, HEAD and OPTIONS framing.
// Each gets a clear 4xx (JSON) or a closed connection, the store is left unchanged and never sees a partial body
// end cleanly, and the server goes on serving normal requests afterwards.
import t from 'tap';
import { connect } from 'node:net';
import { Client } from 'undici';
import { IncompleteBodyError } from '../src/api/body.js';
import { loadConfig } from '../src/api/config.js';
import { createLogger } from '../src/api/logger.js';
import { startServer } from '../src/api/server.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { BodySource, Store } from '../src/store/store.js';
import { readVia } from '../fixtures/store-stub.js';

/** What the store saw of one request body. */
interface Seen {
  path: string;
  bytes: number;
  /** The body stream ended without an error (the store would take it as the whole body). */
  ended: boolean;
  error?: unknown;
}

// Small timeouts so the slow-client cases take a fraction of a second each.
const ENV = { BACKEND_TYPE: 'memory', HEADERS_TIMEOUT_MS: '300', BODY_IDLE_TIMEOUT_MS: '300', REQUEST_TIMEOUT_MS: '1500' };

type Tap = typeof t;

async function start(t: Pick<Tap, 'teardown'>) {
  const inner = new MemoryStore();
  const seen: Seen[] = [];
  const watch = (path: string, body: BodySource): BodySource => {
    const rec: Seen = { path, bytes: 0, ended: false };
    seen.push(rec);
    const stream = (async function* () {
      try {
        for await (const c of body.stream) {
          rec.bytes += c.byteLength;
          yield c;
        }
        rec.ended = true;
      } catch (err) {
        rec.error = err;
        throw err;
      }
    })();
    return { ...body, stream };
  };
  const store: Store = {
    read: (p, o) => readVia(store, p, o),
    get: (p) => inner.get(p),
    create: (p, b) => inner.create(p, watch(p, b)),
    replace: (p, b) => inner.replace(p, watch(p, b)),
    remove: (p) => inner.remove(p),
    close: () => inner.close(),
  };
  const running = await startServer(loadConfig(ENV), {
    store, host: '127.0.0.1', port: 0, logger: createLogger({ level: 'silent' }),
  });
  const client = new Client(running.url);
  t.teardown(async () => {
    await client.close();
    await running.close();
  });
  const port = Number(new URL(running.url).port);
  /** A normal request still works: a write and a read of it. */
  const serves = async (tt: Pick<Tap, 'equal'>, what: string): Promise<void> => {
    const path = `/check/${inner.commitCount}.json`;
    const post = await client.request({ method: 'POST', path, body: '{"ok":true}' });
    await post.body.dump();
    const get = await client.request({ method: 'GET', path });
    tt.equal(post.statusCode, 201, `after ${what}: the server still accepts a write`);
    tt.equal(await get.body.text(), '{"ok":true}', `after ${what}: and serves it`);
  };
  return { inner, seen, port, serves };
}

type Step = string | Buffer | { pause: number };

interface Exchange {
  /** Everything the server sent, as latin1. */
  text: string;
  /** Our own bound ran out before the server closed the connection. */
  hung: boolean;
}

/**
 * Writes the steps on a fresh connection (pauses between them; no more writes once the server has closed), then
 * optionally ends our side, and returns what the server sent until it closed the connection. Bounded: after
 * `limitMs` the connection is dropped and the exchange reported as hung.
 */
function exchange(port: number, steps: Step[], opts: { end?: boolean; limitMs?: number } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    let hung = false;
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (text += d));
    sock.on('error', () => {}); // a reset after the server's answer is expected in some cases
    const limit = setTimeout(() => {
      hung = true;
      sock.destroy();
    }, opts.limitMs ?? 8000);
    sock.on('close', () => {
      closed = true;
      clearTimeout(limit);
      resolve({ text, hung });
    });
    void (async () => {
      await new Promise((r) => sock.once('connect', r));
      for (const step of steps) {
        if (closed) return;
        if (typeof step === 'object' && 'pause' in step) await new Promise((r) => setTimeout(r, step.pause));
        else sock.write(step);
      }
      if (opts.end === true && !closed) sock.end();
    })();
  });
}

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits a byte stream of responses; `bodiless` lists the indexes of responses to HEAD (no body, whatever the length). */
function parseResponses(text: string, bodiless: number[] = []): { responses: Parsed[]; rest: string } {
  const responses: Parsed[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine ?? '');
    if (m === null) break;
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const status = Number(m[1]);
    const length = bodiless.includes(responses.length) || status === 204 ? 0 : Number(headers['content-length'] ?? 0);
    responses.push({ status, headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return { responses, rest };
}

type Asserts = Pick<typeof t, 'equal' | 'match' | 'ok' | 'notOk'>;

/** A single JSON error answer with the connection closed. */
function refused(t: Asserts, ex: Exchange, status: number, error: RegExp, what: string): void {
  t.notOk(ex.hung, `${what}: the server closed the connection`);
  const { responses, rest } = parseResponses(ex.text);
  t.equal(responses.length, 1, `${what}: one response`);
  t.equal(rest, '', `${what}: nothing after it`);
  const r = responses[0];
  t.equal(r?.status, status, `${what}: ${status}`);
  t.equal(r?.headers['connection'], 'close', `${what}: Connection: close`);
  t.match(r?.headers['content-type'], /^application\/json/, `${what}: JSON`);
  const body = JSON.parse(r?.body ?? '{}') as { error?: string; detail?: string };
  t.match(body.error, error, `${what}: says what went wrong`);
  t.match(body.detail, /\S/, `${what}: and what to do`);
}

const HEAD = (method: string, path: string, extra = '') => `${method} ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

t.test('a Content-Length that promises more than arrives', async (t) => {
  const api = await start(t);

  const stalled = await exchange(api.port, [HEAD('POST', '/short.json', 'Content-Length: 100\r\n'), 'x'.repeat(40)]);
  refused(t, stalled, 408, /no part of the request body arrived for 300 ms \(40 of 100 bytes received\)/,
    'body stalls after 40 of 100 bytes');
  t.equal(api.seen.length, 1);
  t.equal(api.seen[0]?.bytes, 40);
  t.notOk(api.seen[0]?.ended, 'the store never saw the body end cleanly');
  t.ok(api.seen[0]?.error instanceof IncompleteBodyError, 'it saw an IncompleteBodyError');
  t.equal((api.seen[0]?.error as IncompleteBodyError).reason, 'timeout');
  await api.serves(t, 'a stalled body');

  // The client gives up (closes its side) before sending the rest.
  const cut = await exchange(api.port, [HEAD('PUT', '/check/0.json', 'Content-Length: 100\r\n'), 'y'.repeat(40)],
    { end: true });
  t.notOk(cut.hung, 'closed');
  const answer = parseResponses(cut.text).responses;
  t.ok(answer.length <= 1 && (answer[0]?.status ?? 400) === 400, 'a 400 at most');
  const put = api.seen[api.seen.length - 1];
  t.equal(put?.path, 'check/0.json');
  t.notOk(put?.ended, 'the store never saw the cut body end cleanly');
  t.equal((put?.error as IncompleteBodyError).reason, 'cut');
  await api.serves(t, 'a cut body');

  t.same(api.inner.paths().sort(), ['check/0.json', 'check/1.json'], 'only the check files exist');
  t.equal(api.inner.commitCount, 2, 'nothing else was written');
});

t.test('a body longer than its Content-Length: exactly Content-Length bytes are used, the rest is a bad request', async (t) => {
  const api = await start(t);
  const ex = await exchange(api.port, [HEAD('POST', '/exact.txt', 'Content-Length: 5\r\n') + 'hello, and more bytes\r\n\r\n']);
  t.notOk(ex.hung);
  const { responses, rest } = parseResponses(ex.text);
  t.equal(rest, '');
  t.same(responses.map((r) => r.status), [201, 400], 'the first request is answered first, then the garbage');
  t.equal(responses[0]?.headers['location'], '/exact.txt');
  t.equal(responses[1]?.headers['connection'], 'close');
  t.match(JSON.parse(responses[1]?.body ?? '{}'), { error: 'the request is not valid HTTP/1.1', detail: /HPE_/ });
  const stored = await api.inner.get('exact.txt');
  const parts: Buffer[] = [];
  for await (const c of stored.stream) parts.push(Buffer.from(c));
  t.equal(Buffer.concat(parts).toString(), 'hello', 'exactly the declared 5 bytes were stored');
  t.equal(api.inner.commitCount, 1);
  await api.serves(t, 'a body longer than declared');
});

t.test('slow clients: trickling headers and trickling bodies time out', async (t) => {
  const api = await start(t);
  const trickle = (piece: string, n: number, pause: number): Step[] =>
    Array.from({ length: n }, () => [{ pause }, piece] as Step[]).flat();

  // One header line every 100 ms never finishes the headers within HEADERS_TIMEOUT_MS (300 ms).
  const headers = await exchange(api.port, ['POST /h.json HTTP/1.1\r\nHost: x\r\n', ...trickle('X-Slow: 1\r\n', 60, 100)]);
  refused(t, headers, 408, /the request did not arrive in time/, 'trickling headers');
  await api.serves(t, 'trickling headers');

  const silent = await exchange(api.port, []);
  refused(t, silent, 408, /the request did not arrive in time/, 'a connection that sends nothing');

  // Between requests, a keep-alive connection may sit idle longer than HEADERS_TIMEOUT_MS: only a request that
  // has begun is timed.
  const idle = await exchange(api.port, [HEAD('GET', '/healthz'), { pause: 900 }, HEAD('GET', '/healthz', 'Connection: close\r\n')]);
  t.same(parseResponses(idle.text).responses.map((r) => r.status), [200, 200], 'an idle keep-alive connection is kept');

  // A byte every 50 ms never trips the 300 ms idle timeout, but the whole request takes too long (1500 ms).
  const body = await exchange(api.port, [HEAD('POST', '/slow.json', 'Content-Length: 1000\r\n'), ...trickle('z', 100, 50)]);
  refused(t, body, 408, /the request did not arrive in time/, 'a trickling body');
  const rec = api.seen.find((s) => s.path === 'slow.json');
  // The server closed the connection first; the body's failure reaches the store just after.
  for (let i = 0; i < 100 && rec !== undefined && rec.error === undefined && !rec.ended; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  t.ok(rec !== undefined && rec.bytes > 0 && rec.bytes < 1000, 'the store saw part of the body');
  t.notOk(rec?.ended, 'but never its end');
  t.ok(rec?.error instanceof IncompleteBodyError, 'the body failed instead');

  // A pause longer than BODY_IDLE_TIMEOUT_MS in the middle of a chunked body.
  const paused = await exchange(api.port, [HEAD('POST', '/paused.json', 'Transfer-Encoding: chunked\r\n'), '5\r\nhello\r\n',
    { pause: 900 }, '5\r\nworld\r\n0\r\n\r\n']);
  refused(t, paused, 408, /no part of the request body arrived for 300 ms \(5 bytes received\)/, 'a paused chunked body');
  t.equal((api.seen.find((s) => s.path === 'paused.json')?.error as IncompleteBodyError).reason, 'timeout');

  t.notOk(api.inner.paths().some((p) => !p.startsWith('check/')), 'no slow request stored anything');
  t.equal(api.inner.commitCount, 1);
  await api.serves(t, 'slow bodies');
});

t.test('headers over 16 KiB: 431; just under: served', async (t) => {
  const api = await start(t);
  const big = await exchange(api.port, [HEAD('GET', '/x', `X-Big: ${'a'.repeat(17 * 1024)}\r\n`)]);
  refused(t, big, 431, /the request headers are too large/, '17 KiB of headers');
  const many = await exchange(api.port, [HEAD('POST', '/x', Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'b'.repeat(90)}\r\n`).join('') +
    'Content-Length: 1\r\n') + 'x']);
  refused(t, many, 431, /too large/, '200 headers of 100 bytes');
  const fine = await exchange(api.port, [HEAD('GET', '/nope', `X-Big: ${'a'.repeat(15 * 1024)}\r\nConnection: close\r\n`)]);
  t.equal(parseResponses(fine.text).responses[0]?.status, 404, '15 KiB of headers is fine');
  t.equal(api.inner.commitCount, 0);
  await api.serves(t, 'huge headers');
});

t.test('bytes that are not HTTP, bad paths and unknown methods: 400; known but unsupported methods: 405', async (t) => {
  const api = await start(t);
  const cases: Array<[string, string | Buffer, number, RegExp]> = [
    ['garbage', 'hello there\r\n\r\n', 400, /not valid HTTP/],
    ['an unknown method', HEAD('BREW', '/pot'), 400, /not valid HTTP/],
    ['raw UTF-8 in the target', Buffer.concat([Buffer.from('GET /caf'), Buffer.from([0xc3, 0xa9]), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]),
      400, /not valid HTTP/],
    ['a space in the target', HEAD('GET', '/a b'), 400, /not valid HTTP/],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400, /not valid HTTP/],
    ['both Content-Length and chunked', HEAD('POST', '/cl-te.json', 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n') + '3\r\nabc\r\n0\r\n\r\n',
      400, /not valid HTTP/],
    ['two different Content-Lengths', HEAD('POST', '/two-cl.json', 'Content-Length: 3\r\nContent-Length: 4\r\n') + 'abcd',
      400, /not valid HTTP/],
    ['a malformed chunk', HEAD('POST', '/chunk.json', 'Transfer-Encoding: chunked\r\n') + '3\r\nabc\r\nzz\r\n', 400, /not valid HTTP/],
  ];
  for (const [what, bytes, status, error] of cases) {
    refused(t, await exchange(api.port, [bytes]), status, error, what);
  }
  for (const method of ['GET', 'POST']) {
    const noHost = await exchange(api.port, [`${method} /x.json HTTP/1.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`]);
    const r = parseResponses(noHost.text).responses[0];
    t.equal(r?.status, 400, `${method} without Host → 400`);
    t.match(JSON.parse(r?.body ?? '{}'), { error: 'the Host header is missing' });
  }
  const http10 = await exchange(api.port, ['GET /healthz HTTP/1.0\r\n\r\n']);
  t.match(http10.text, /^HTTP\/1\.1 200 /, 'HTTP/1.0 needs no Host');
  const chunk = api.seen.find((s) => s.path === 'chunk.json');
  t.ok(chunk === undefined || (!chunk.ended && chunk.error instanceof IncompleteBodyError),
    'a body cut by a parse error never ends cleanly');

  // Paths the router refuses, on a raw socket too (undici would normalize some of these).
  const bad: Array<[string, RegExp]> = [
    ['/%zz', /invalid percent-escape "%zz"/],
    ['/a%', /invalid percent-escape "%"/],
    ['/%C3', /not valid UTF-8/],
    ['/%C0%AF', /not valid UTF-8/],
    ['/%ED%A0%80', /not valid UTF-8/], // an encoded surrogate
    ['/a/../b', /path segment 2 is "\.\."/],
  ];
  for (const [path, error] of bad) {
    const ex = await exchange(api.port, [HEAD('POST', path, 'Content-Length: 2\r\nConnection: close\r\n') + 'xx']);
    const r = parseResponses(ex.text).responses[0];
    t.equal(r?.status, 400, `POST ${path} → 400`);
    t.match(JSON.parse(r?.body ?? '{}'), { error, detail: /\S/ });
  }

  for (const method of ['PATCH', 'PROPFIND', 'MKCOL', 'TRACE']) {
    const ex = await exchange(api.port, [HEAD(method, '/x.json', 'Connection: close\r\n')]);
    const r = parseResponses(ex.text).responses[0];
    t.equal(r?.status, 405, `${method} → 405`);
    t.equal(r?.headers['allow'], 'GET, HEAD, POST, PUT, DELETE, OPTIONS');
  }
  t.equal(api.inner.commitCount, 0, 'nothing was written');
  t.same(api.inner.paths(), []);
  await api.serves(t, 'malformed requests');
});

t.test('HEAD and OPTIONS: headers as for GET, no body, the connection stays usable', async (t) => {
  const api = await start(t);
  await api.serves(t, 'setup'); // creates check/0.json = {"ok":true}
  // Pipelined on one connection: a body sent after a HEAD response would be read as the next status line.
  const ex = await exchange(api.port, [
    HEAD('HEAD', '/check/0.json') + HEAD('HEAD', '/missing') + HEAD('HEAD', '/metrics') + HEAD('HEAD', '/healthz') +
    HEAD('OPTIONS', '/check/0.json') + HEAD('OPTIONS', '*') + HEAD('GET', '/check/0.json', 'Connection: close\r\n'),
  ]);
  t.notOk(ex.hung);
  const { responses, rest } = parseResponses(ex.text, [0, 1, 2, 3]);
  t.equal(rest, '', 'no stray body bytes anywhere');
  t.same(responses.map((r) => r.status), [200, 404, 200, 200, 204, 204, 200]);
  const [file, missing, metrics, health, options, star, get] = responses;
  t.equal(file?.headers['content-length'], '11', 'HEAD: the length of the file');
  t.equal(file?.headers['content-type'], 'application/json');
  t.match(missing?.headers['content-length'], /^[1-9]\d*$/, 'HEAD 404: the length of the JSON error it did not send');
  t.match(metrics?.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(health?.headers['content-length'], /^[1-9]/);
  t.equal(options?.headers['allow'], 'GET, HEAD, POST, PUT, DELETE, OPTIONS');
  t.equal(star?.headers['allow'], 'GET, HEAD, POST, PUT, DELETE, OPTIONS');
  t.equal(options?.headers['content-length'], undefined, '204 has no Content-Length');
  t.equal(get?.body, '{"ok":true}', 'and the GET after them gets exactly its body');
  t.equal(get?.headers['content-length'], '11');
});
