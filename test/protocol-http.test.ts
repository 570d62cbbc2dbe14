// HTTP behaviour and error paths, against hand-made servers on 127.0.0.1 (and the fixture for real 404s).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { hashObject } from '../src/pack/oid.js';
import { writePack } from '../src/pack/pack-writer.js';
import { HttpStatusError, ProtocolError, RemoteError, TransportError } from '../src/protocol/errors.js';
import { retryAfterMs } from '../src/protocol/http.js';
import { encodePkts } from '../src/protocol/pkt-line.js';
import { Remote } from '../src/protocol/remote.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
interface Seen { method: string; url: string; headers: IncomingMessage['headers'] }

/** A server that records requests and lets `handler` answer once the request body has arrived. */
async function fakeServer(t: Test, handler: Handler): Promise<{ url: string; seen: Seen[]; connections: () => number }> {
  const seen: Seen[] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('error', () => {});
    req.on('end', () => handler(req, res, Buffer.concat(parts)));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, connections: () => connections };
}

const A = 'a'.repeat(40);
const F = { type: 'flush' } as const;
const V2_CAPS = encodePkts('version 2\n', 'agent=git/test\n', 'ls-refs=unborn\n', 'fetch=shallow filter\n', F);

function answer(res: ServerResponse, type: string, body: Buffer): void {
  res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
  res.end(body);
}

/** A v2 server: capability advertisement on GET, `post(body)` for POST git-upload-pack. */
function v2Server(post: (body: Buffer, res: ServerResponse) => void): Handler {
  return (req, res, body) => {
    if (req.method === 'GET') answer(res, 'application/x-git-upload-pack-advertisement', V2_CAPS);
    else post(body, res);
  };
}

async function collectBytes(gen: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of gen) out.push(b);
  return out;
}

async function drain(gen: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of gen) n++;
  return n;
}

t.test('keep-alive: discovery and fetches reuse connections', async (t) => {
  const content = Buffer.from('blob content\n');
  const packBytes = Buffer.concat(await collectBytes(writePack(1, [{ type: 'blob', size: content.length, data: content }])));
  const { url, connections } = await fakeServer(t, v2Server((_, res) => {
    const chunks = [];
    for (let i = 0; i < packBytes.length; i += 7) chunks.push(Buffer.concat([Buffer.from([1]), packBytes.subarray(i, i + 7)]));
    answer(res, 'application/x-git-upload-pack-result', encodePkts('packfile\n', ...chunks, F));
  }));
  const remote = new Remote({ url });
  t.teardown(() => remote.close());
  for (let i = 0; i < 3; i++) {
    const objects = [];
    for await (const o of remote.fetch({ wants: [hashObject('blob', content)] })) objects.push(o);
    t.same(objects.map((o) => [o.type, o.data.toString()]), [['blob', 'blob content\n']]);
  }
  t.equal(remote.stats.requests, 4);
  // The pool may open a second socket while the first is being released, but never one per request.
  t.ok(connections() <= 2, `connections are reused (${connections()} for 4 requests)`);
});

t.test('request headers follow gitprotocol-http', async (t) => {
  const { url, seen } = await fakeServer(t, v2Server((_, res) =>
    answer(res, 'application/x-git-upload-pack-result', encodePkts(`${A} refs/heads/main\n`, F))));
  const remote = new Remote({ url: `${url}/repo.git/`, credentials: { token: 'tok-123' } });
  t.teardown(() => remote.close());
  const list = await remote.lsRefs(['refs/heads/']);
  t.same([...list.refs], [['refs/heads/main', A]]);
  t.equal(seen.length, 2);
  const [get, post] = seen as [Seen, Seen];
  t.equal(get.method, 'GET');
  t.equal(get.url, '/repo.git/info/refs?service=git-upload-pack', 'trailing slash stripped');
  t.equal(get.headers['git-protocol'], 'version=2');
  t.equal(get.headers['user-agent'], 'git/2.0 (gitrest/0.1)');
  t.equal(get.headers['authorization'], 'Bearer tok-123');
  t.equal(post.method, 'POST');
  t.equal(post.url, '/repo.git/git-upload-pack');
  t.equal(post.headers['content-type'], 'application/x-git-upload-pack-request');
  t.equal(post.headers['accept'], 'application/x-git-upload-pack-result');
  t.equal(post.headers['git-protocol'], 'version=2');
  t.equal(post.headers['user-agent'], 'git/2.0 (gitrest/0.1)');
  t.throws(() => new Remote({ url, userAgent: 'curl/8' }), TypeError);
});

t.test('the ls-refs request body', async (t) => {
  let sent = '';
  const { url } = await fakeServer(t, v2Server((body, res) => {
    sent = body.toString('latin1');
    answer(res, 'application/x-git-upload-pack-result', encodePkts(F));
  }));
  const remote = new Remote({ url });
  t.teardown(() => remote.close());
  await remote.lsRefs(['refs/heads/main']);
  t.equal(sent, '0014command=ls-refs\n' + '001aagent=git/gitrest-0.1\n' + '0001' + '0009peel\n' + '000csymrefs\n' + '000bunborn\n' + '001fref-prefix refs/heads/main\n' + '0000');
});

t.test('status codes become HttpStatusError; credentials never appear in errors', async (t) => {
  const statuses: Record<string, [number, Record<string, string>]> = {
    '/auth': [401, { 'www-authenticate': 'Basic realm="x"' }],
    '/forbidden': [403, {}],
    '/gone': [404, {}],
    '/slow': [429, { 'retry-after': '7' }],
    '/broken': [503, {}],
    '/bad': [400, {}],
  };
  const { url, seen } = await fakeServer(t, (req, res) => {
    const [status, headers] = statuses[req.url!.replace(/\/info\/refs.*$/, '')] ?? [500, {}];
    res.writeHead(status, headers);
    res.end('nope');
  });
  const expected: Record<string, string> = { '/auth': 'auth', '/forbidden': 'forbidden', '/gone': 'not-found', '/slow': 'rate-limited', '/broken': 'server', '/bad': 'client' };
  for (const [path, kind] of Object.entries(expected)) {
    const remote = new Remote({ url: url.replace('http://', 'http://alice:s3cr%40t@') + path });
    t.notMatch(remote.url, /s3cr|alice/, 'the shown URL has no credentials');
    const err = await remote.lsRefs().catch((e: unknown) => e);
    await remote.close();
    t.ok(err instanceof HttpStatusError, `${path}: HttpStatusError`);
    const e = err as HttpStatusError;
    t.equal(e.kind, kind, `${path}: ${kind}`);
    t.equal(e.status, statuses[path]![0]);
    const everything = `${e.message} ${e.stack} ${JSON.stringify(e)} ${String(e)}`;
    t.notMatch(everything, /s3cr|alice|YWxpY2/, `${path}: no credentials in the error`);
  }
  t.equal(seen[0]!.headers['authorization'], `Basic ${Buffer.from('alice:s3cr@t').toString('base64')}`, 'URL credentials are sent as Basic auth');
  const slow = new Remote({ url: `${url}/slow` });
  const limited = await slow.lsRefs().then(() => undefined, (e: unknown) => e as HttpStatusError);
  await slow.close();
  t.equal(limited?.retryAfterMs, 7000);
  t.equal(retryAfterMs('Wed, 21 Oct 2015 07:28:30 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 30_000);
  t.equal(retryAfterMs('soon'), undefined);
});

t.test('a repository that does not exist: 404 for discovery, fetch and push', async (t) => {
  const server = await startFixtureServer(t);
  const remote = new Remote({ url: `${server.url}/missing.git` });
  t.teardown(() => remote.close());
  await t.rejects(remote.lsRefs(), { name: 'HttpStatusError', status: 404, kind: 'not-found' });
  await t.rejects(drain(remote.fetch({ wants: [A] })), { name: 'HttpStatusError', kind: 'not-found' });
  await t.rejects(remote.push([{ ref: 'refs/heads/main', oldOid: '0'.repeat(40), newOid: A }], null), { name: 'HttpStatusError', kind: 'not-found' });
});

t.test('connection refused and timeouts are TransportErrors', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('r');
  await server.stop();
  const refused = new Remote({ url: repo.url });
  await t.rejects(refused.lsRefs(), { name: 'TransportError', code: 'connection' });
  await refused.close();

  const { url } = await fakeServer(t, (req, res) => {
    if (req.url!.startsWith('/silent')) return; // never answers
    res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-advertisement' });
    res.write('001e# service=git-upload-pack\n0000'); // then stalls
  });
  const silent = new Remote({ url: `${url}/silent`, headersTimeoutMs: 200 });
  await t.rejects(silent.lsRefs(), { name: 'TransportError', code: 'timeout' });
  await silent.close();
  const stalled = new Remote({ url: `${url}/stalled`, bodyTimeoutMs: 200 });
  const err = await stalled.lsRefs().catch((e: unknown) => e);
  t.ok(err instanceof TransportError && err.code === 'timeout', `body timeout: ${String(err)}`);
  await stalled.close();
});

t.test('server-side failures inside the stream are typed errors, never hangs', async (t) => {
  const band = (n: number, s: string) => Buffer.concat([Buffer.from([n]), Buffer.from(s)]);
  const responses: Record<string, Buffer | 'cut'> = {
    sideband: encodePkts('packfile\n', band(2, 'Enumerating objects\n'), band(3, 'fatal: pack-objects died\n'), F),
    err: encodePkts('ERR upload-pack: not our ref\n'),
    'no-pack': encodePkts('acknowledgments\n', 'NAK\n', F),
    garbage: Buffer.from('<html>oops</html>'),
    cut: 'cut',
  };
  const { url } = await fakeServer(t, (req, res, body) => {
    const name = req.url!.split('/')[1]!;
    if (req.method === 'GET') return answer(res, 'application/x-git-upload-pack-advertisement', V2_CAPS);
    t.match(body.toString(), /command=fetch\n.*0001.*want a{40}\n.*done\n0000$/s, 'fetch request body');
    const r = responses[name]!;
    if (r === 'cut') {
      res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-result' });
      res.write(encodePkts('packfile\n').toString() + '0100\x01PACK');
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    answer(res, 'application/x-git-upload-pack-result', r);
  });
  const fetchFrom = async (name: string) => {
    const progress: string[] = [];
    const remote = new Remote({ url: `${url}/${name}`, onProgress: (m) => progress.push(m) });
    try {
      await drain(remote.fetch({ wants: [A] }));
      return { err: undefined, progress };
    } catch (err) {
      return { err, progress };
    } finally {
      await remote.close();
    }
  };
  const sb = await fetchFrom('sideband');
  t.ok(sb.err instanceof RemoteError, 'band 3 → RemoteError');
  t.equal((sb.err as RemoteError).remoteMessage, 'fatal: pack-objects died');
  t.same(sb.progress, ['Enumerating objects\n'], 'band 2 → progress');
  const err = await fetchFrom('err');
  t.equal((err.err as RemoteError).remoteMessage, 'upload-pack: not our ref');
  t.match((await fetchFrom('no-pack')).err, { name: 'ProtocolError', code: 'unexpected-response' });
  t.ok((await fetchFrom('garbage')).err instanceof ProtocolError, 'garbage → ProtocolError');
  const cut = (await fetchFrom('cut')).err;
  t.ok(cut instanceof TransportError || cut instanceof ProtocolError, `connection cut mid-pack: ${String(cut)}`);
});

t.test('a dumb server or wrong content type is refused', async (t) => {
  const { url } = await fakeServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${A}\trefs/heads/main\n`);
  });
  const remote = new Remote({ url });
  t.teardown(() => remote.close());
  await t.rejects(remote.lsRefs(), { name: 'ProtocolError', code: 'bad-advertisement' });
});

t.test('push: request body, and a failing pack source rejects the push', async (t) => {
  let pushed: Buffer = Buffer.alloc(0);
  const { url, seen } = await fakeServer(t, (req, res, body) => {
    if (req.method === 'GET') {
      return answer(res, 'application/x-git-receive-pack-advertisement', encodePkts(
        '# service=git-receive-pack\n', F,
        `${A} refs/heads/main\0report-status delete-refs side-band-64k quiet atomic ofs-delta agent=git/test\n`, F));
    }
    pushed = body;
    const report = encodePkts('unpack ok\n', 'ng refs/heads/main non-fast-forward\n', F);
    answer(res, 'application/x-git-receive-pack-result', encodePkts(Buffer.concat([Buffer.from([2]), Buffer.from('remote: hello\n')]), Buffer.concat([Buffer.from([1]), report]), F));
  });
  const remote = new Remote({ url });
  t.teardown(() => remote.close());
  const B = 'b'.repeat(40);
  const res = await remote.push([{ ref: 'refs/heads/main', oldOid: A, newOid: B }], (async function* () {
    yield Buffer.from('PACK-bytes');
  })());
  t.same(res, { ok: false, unpack: 'ok', refs: [{ ref: 'refs/heads/main', status: 'ref-moved', message: 'non-fast-forward' }], messages: ['remote: hello'] });
  const head = `${A} ${B} refs/heads/main\0report-status side-band-64k quiet agent=git/gitrest-0.1\n`;
  t.equal(pushed.toString('latin1'), `${(head.length + 4).toString(16).padStart(4, '0')}${head}0000PACK-bytes`);
  t.equal(seen[1]!.headers['content-type'], 'application/x-git-receive-pack-request');
  t.equal(seen[1]!.headers['accept'], 'application/x-git-receive-pack-result');
  t.equal(seen[0]!.url, '/info/refs?service=git-receive-pack');

  const boom = new Error('pack source failed');
  const failing = (async function* () {
    yield Buffer.from('PACK');
    throw boom;
  })();
  const err = await remote.push([{ ref: 'refs/heads/main', oldOid: A, newOid: B }], failing).catch((e: unknown) => e);
  t.ok(err instanceof Error, `push rejected: ${String(err)}`);
  // The process is still healthy and the remote still usable.
  const again = await remote.push([{ ref: 'refs/heads/gone', oldOid: A, newOid: '0'.repeat(40) }], null);
  t.equal(again.ok, false);
  t.match(pushed.toString('latin1'), /refs\/heads\/gone\0report-status.*\n0000$/, 'a delete sends no pack');
});
