// The strict Git server fixture: the real git client still works against it, and hand-made requests show
// each of its refusals and quirks (HTTP/1.0, one answer per connection, tiny side-band frames, staleOk).
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { request as undiciRequest } from 'undici';
import { encodePkts } from '../src/protocol/pkt-line.js';
import { emptyPack } from '../src/protocol/receive-pack.js';
import { startStrictServer } from '../fixtures/strict-server.js';
import {
  advertisedCaps,
  leadingLines,
  reframeSideband,
  refuseReceiveRequest,
  refuseUploadRequest,
  rewriteStaleOk,
  splitPkts,
} from '../fixtures/strict-pkt.js';
import { commitFiles, fsck, git, readTreeFiles, revParse } from '../fixtures/repo.js';

interface Reply {
  status: number;
  httpVersion: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Interim (1xx) answers received before the final one. */
  interim: number;
}

interface SendOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: Buffer | string;
  /** Send the body in two writes without a Content-Length: node:http then sends it chunked. */
  chunked?: boolean;
  /** Called once the request head is out, with a function that sends the body: to hold a request open. */
  hold?: (release: () => void) => void;
}

function send(url: string, opts: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let interim = 0;
    const req = request(url, { method: opts.method ?? 'POST', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, httpVersion: res.httpVersion, headers: res.headers, body: Buffer.concat(chunks), interim }),
      );
    });
    req.on('information', () => interim++);
    req.on('error', reject);
    const body = Buffer.from(opts.body ?? '');
    if (opts.hold) {
      req.flushHeaders();
      opts.hold(() => req.end(body));
    } else if (opts.chunked) {
      req.write(body.subarray(0, 1));
      req.end(body.subarray(1));
    } else {
      req.end(body);
    }
  });
}

/** Polls (bounded) until the condition holds. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`gave up waiting for ${what}`);
}

const UPLOAD = { 'Content-Type': 'application/x-git-upload-pack-request' };
const RECEIVE = { 'Content-Type': 'application/x-git-receive-pack-request' };

function wantBody(oid: string, caps: string, extra: string[] = []): Buffer {
  return encodePkts(`want ${oid} ${caps}\n`, ...extra, { type: 'flush' }, 'done\n');
}

/** Every side-band packet of an upload-pack answer (after NAK), and the bytes of each band. */
function sideband(body: Buffer): { sizes: number[]; bands: Map<number, Buffer>; rest: Buffer } {
  const { pkts, rest } = splitPkts(body);
  const sizes: number[] = [];
  const parts = new Map<number, Buffer[]>();
  for (const pkt of pkts) {
    if (pkt.kind !== 'data' || pkt.payload[0]! > 3) continue;
    sizes.push(pkt.payload.length);
    const band = pkt.payload[0]!;
    parts.set(band, [...(parts.get(band) ?? []), pkt.payload.subarray(1)]);
  }
  return { sizes, bands: new Map([...parts].map(([band, list]) => [band, Buffer.concat(list)])), rest };
}

const seed = [
  [{ path: 'a.txt', content: 'first\n' }],
  [
    { path: 'a.txt', content: 'second\n' },
    { path: 'big.bin', content: Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251)) },
  ],
];

const GIT_CAPS = 'multi_ack_detailed side-band-64k thin-pack ofs-delta agent=git/test';

t.test('pure parts: request checks and answer rewrites', async (t) => {
  const ad = encodePkts('# service=git-upload-pack\n', { type: 'flush' }, `${'a'.repeat(40)} HEAD\0thin-pack side-band-64k ofs-delta agent=x\n`, { type: 'flush' });
  const caps = advertisedCaps(ad)!;
  t.same([...caps].sort(), ['agent', 'ofs-delta', 'side-band-64k', 'thin-pack']);
  const want = (c: string) => leadingLines(wantBody('b'.repeat(40), c));
  t.equal(refuseUploadRequest(want('side-band-64k thin-pack ofs-delta agent=y'), caps), undefined);
  t.match(refuseUploadRequest(want('side-band-64k ofs-delta'), caps), /thin-pack/);
  t.match(refuseUploadRequest(want('side-band-64k thin-pack ofs-delta no-progress'), caps), /no-progress/);
  t.match(refuseUploadRequest(['have x'], caps), /want/);
  t.match(refuseUploadRequest([...want('side-band-64k thin-pack ofs-delta'), 'filter blob:none'], caps), /filter/);
  t.equal(refuseReceiveRequest([`${'0'.repeat(40)} ${'1'.repeat(40)} refs/heads/x\0agent=q`], caps), undefined);
  t.match(refuseReceiveRequest([`${'0'.repeat(40)} ${'1'.repeat(40)} refs/heads/x\0atomic`], caps), /atomic/);

  const answer = encodePkts('NAK\n', Buffer.from('\x01PACK0123456789'), Buffer.from('\x02hello\n'), { type: 'flush' });
  const framed = reframeSideband(answer, 5);
  const split = sideband(framed);
  t.ok(split.sizes.every((n) => n <= 5));
  t.equal(split.bands.get(1)?.toString(), 'PACK0123456789');
  t.equal(split.bands.get(2)?.toString(), 'hello\n');
  t.equal(framed.subarray(0, 8).toString(), '0008NAK\n');
  t.equal(framed.subarray(-4).toString(), '0000');

  const report = encodePkts('unpack ok\n', 'ng refs/heads/main failed to update ref\n', 'ok refs/heads/b\n', { type: 'flush' });
  const plain = rewriteStaleOk(report, false);
  t.equal(plain.rewrites, 1);
  t.same(leadingLines(plain.body), ['unpack ok', 'ok refs/heads/main', 'ok refs/heads/b']);
  const muxed = encodePkts(Buffer.from('\x02note\n'), Buffer.concat([Buffer.from([1]), report.subarray(0, 20)]), Buffer.concat([Buffer.from([1]), report.subarray(20)]), { type: 'flush' });
  const inBand = rewriteStaleOk(muxed, true);
  t.equal(inBand.rewrites, 1);
  t.same(leadingLines(sideband(inBand.body).bands.get(1)!), ['unpack ok', 'ok refs/heads/main', 'ok refs/heads/b']);
  t.equal(sideband(inBand.body).bands.get(2)?.toString(), 'note\n');
});

t.test('the real git client against the strict server', async (t) => {
  const server = await startStrictServer(t);
  const repo = await server.createRepo('plain', { seed });
  const head = (await revParse(repo.dir, 'main'))!;

  t.test('clone asking for v2 ends as v0, fsck clean', async (t) => {
    server.resetCounts();
    const work = await mkdtemp(join(server.root, '.work-'));
    const trace = join(work, 'trace.txt');
    const dest = join(work, 'clone');
    await git(['-c', 'protocol.version=2', 'clone', '--quiet', repo.url, dest], { env: { GIT_TRACE_PACKET: trace } });
    t.equal(await revParse(dest, 'HEAD'), head);
    t.same(await readTreeFiles(dest), await readTreeFiles(repo.dir, 'main'));
    await fsck(dest);
    const packets = await readFile(trace, 'utf8');
    t.notMatch(packets, /< version 2/, 'the server never answered in v2');
    t.same(server.requests.map((r) => [r.service, r.gitProtocol, r.status, r.refused]), [
      ['info-refs', 'version=2', 200, undefined],
      // Having fallen back to v0, git sends no Git-Protocol on the POST.
      ['upload-pack', undefined, 200, undefined],
    ]);
    t.ok(server.upstream.requests.every((r) => r.gitProtocol === undefined), 'Git-Protocol never reaches http-backend');
  });

  t.test('push of a new commit, then a fetch of it', async (t) => {
    const work = await mkdtemp(join(server.root, '.work-'));
    const dest = join(work, 'clone');
    await git(['clone', '--quiet', repo.url, dest]);
    await writeFile(join(dest, 'pushed.txt'), 'over strict http\n');
    await git(['add', '.'], { cwd: dest });
    await git(['commit', '--quiet', '-m', 'pushed'], { cwd: dest });
    server.resetCounts();
    await git(['-c', 'protocol.version=2', 'push', '--quiet', 'origin', 'main'], { cwd: dest });
    t.same(server.counts('plain'), { 'info-refs': 1, 'upload-pack': 0, 'receive-pack': 1, other: 0, total: 2 });
    t.same(server.requests.map((r) => r.status), [200, 200]);
    t.equal(await revParse(repo.dir, 'main'), await revParse(dest, 'HEAD'));
    await fsck(repo.dir);

    const other = await commitFiles(repo.dir, [{ path: 'later.txt', content: 'x' }], 'someone else');
    await git(['pull', '--quiet', '--ff-only'], { cwd: dest });
    t.equal(await revParse(dest, 'HEAD'), other);
    await fsck(dest);
  });

  t.test('a partial clone is refused: git names the unadvertised filter capability anyway', async (t) => {
    const work = await mkdtemp(join(server.root, '.work-'));
    server.resetCounts();
    await t.rejects(git(['clone', '--quiet', '--filter=blob:none', repo.url, join(work, 'clone')]), /filtering not recognized[\s\S]*500/);
    t.same(server.requests.map((r) => [r.service, r.status, r.refused]), [
      ['info-refs', 200, undefined],
      ['upload-pack', 500, 'capability filter was not advertised'],
    ]);
  });
});

t.test('hand-made requests', async (t) => {
  const server = await startStrictServer(t);
  const repo = await server.createRepo('hm', { seed });
  const head = (await revParse(repo.dir, 'main'))!;
  const first = (await revParse(repo.dir, 'main^'))!;
  const uploadUrl = `${repo.url}/git-upload-pack`;
  const receiveUrl = `${repo.url}/git-receive-pack`;
  const refusedWith = async (reply: Reply, t: Test) => {
    t.equal(reply.status, 500);
    t.equal(reply.body.toString(), 'error\n', 'a short useless body');
    t.equal(reply.httpVersion, '1.0');
  };

  t.test('info/refs: HTTP/1.0, Connection: close, the connection closed after one answer', async (t) => {
    server.resetCounts();
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve) => socket.on('end', resolve));
    const target = '/hm.git/info/refs?service=git-upload-pack';
    // Two requests on one keep-alive connection: only the first is answered.
    socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nGit-Protocol: version=2\r\n\r\n`);
    socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await ended;
    socket.destroy();
    const raw = Buffer.concat(chunks);
    const split = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, split).toString('latin1').split('\r\n');
    t.equal(head[0], 'HTTP/1.0 200 OK');
    t.ok(head.includes('Connection: close'));
    t.notOk(head.some((l) => /^(content-length|transfer-encoding):/i.test(l)), 'the body ends with the connection');
    t.equal(raw.indexOf('HTTP/1', split), -1, 'one answer only');
    t.equal(server.requests.filter((r) => r.target === target).length, 1, 'the pipelined request was dropped');
    const body = raw.subarray(split + 4);
    t.equal(body.subarray(0, 30).toString(), '001e# service=git-upload-pack\n');
    t.notMatch(body.toString('latin1'), /version 2/, 'v0 despite Git-Protocol');
    const caps = advertisedCaps(body)!;
    for (const need of ['side-band-64k', 'thin-pack', 'ofs-delta', 'no-progress']) t.ok(caps.has(need), need);
    for (const never of ['filter', 'allow-tip-sha1-in-want', 'allow-reachable-sha1-in-want']) t.notOk(caps.has(never), never);
  });

  t.test('undici reads the close-delimited HTTP/1.0 answer', async (t) => {
    const res = await undiciRequest(`${repo.url}/info/refs?service=git-receive-pack`);
    t.equal(res.statusCode, 200);
    t.equal(res.headers.connection, 'close');
    const caps = advertisedCaps(Buffer.from(await res.body.arrayBuffer()))!;
    t.ok(caps.has('report-status'));
    t.notOk(caps.has('push-options'));
  });

  t.test('upload-pack refusals', async (t) => {
    await refusedWith(await send(uploadUrl, { headers: UPLOAD, body: wantBody(head, 'side-band-64k ofs-delta') }), t);
    await refusedWith(await send(uploadUrl, { headers: UPLOAD, body: wantBody(head, 'thin-pack ofs-delta') }), t);
    await refusedWith(await send(uploadUrl, { headers: UPLOAD, body: wantBody(head, 'side-band-64k thin-pack') }), t);
    await refusedWith(await send(uploadUrl, { headers: UPLOAD, body: wantBody(head, `${GIT_CAPS} allow-tip-sha1-in-want`) }), t);
    await refusedWith(await send(uploadUrl, { headers: UPLOAD, body: wantBody(head, `${GIT_CAPS} filter`, ['filter blob:none\n']) }), t);
    await refusedWith(await send(uploadUrl, { headers: UPLOAD, body: wantBody(head, GIT_CAPS, ['filter blob:none\n']) }), t);
    await refusedWith(await send(uploadUrl, { headers: UPLOAD, body: encodePkts('command=fetch\n', { type: 'flush' }) }), t);
    t.same(
      server.requests.filter((r) => r.refused).map((r) => r.refused),
      [
        'the want line lacks thin-pack',
        'the want line lacks side-band-64k',
        'the want line lacks ofs-delta',
        'capability allow-tip-sha1-in-want was not advertised',
        'capability filter was not advertised',
        'filter was not advertised',
        'the first line is not a want line',
      ],
    );
  });

  t.test('a want of an object that is not a tip is refused, even an ancestor of one', async (t) => {
    server.resetCounts();
    const reply = await send(uploadUrl, { headers: UPLOAD, body: wantBody(first, GIT_CAPS) });
    t.equal(reply.status, 200, 'refused in the body, the way upload-pack does');
    t.equal(reply.body.toString('latin1'), `004aERR upload-pack: not our ref ${first}\n`);
    t.equal(server.requests[0]?.refused, `not our ref ${first}`);
    t.equal(server.upstream.counts('hm')['upload-pack'], 0, 'never reached upload-pack');
  });

  t.test('the pack comes in tiny side-band frames, with progress unless no-progress', async (t) => {
    const loud = await send(uploadUrl, { headers: UPLOAD, body: wantBody(head, GIT_CAPS) });
    t.equal(loud.status, 200);
    t.equal(loud.httpVersion, '1.0');
    t.equal(loud.headers.connection, 'close');
    t.equal(loud.body.subarray(0, 8).toString(), '0008NAK\n');
    const mux = sideband(loud.body);
    t.ok(mux.sizes.length > 100, 'many frames');
    t.ok(mux.sizes.every((n) => n <= 7), 'no frame carries more than 7 payload bytes');
    t.match(mux.bands.get(2)?.toString() ?? '', /objects/, 'progress on band 2');
    t.equal(loud.body.subarray(-4).toString(), '0000', 'ends with a flush');
    const pack = mux.bands.get(1)!;
    t.equal(pack.subarray(0, 4).toString(), 'PACK');
    const copy = join(server.root, 'hm-copy.git');
    await git(['init', '--bare', '--quiet', copy]);
    await git(['index-pack', '--stdin', '--fix-thin'], { cwd: copy, input: pack });
    t.same(await readTreeFiles(copy, head), await readTreeFiles(repo.dir, head));

    const quiet = await send(uploadUrl, { headers: UPLOAD, body: wantBody(head, `${GIT_CAPS} no-progress`) });
    const quietMux = sideband(quiet.body);
    t.equal(quietMux.bands.get(2), undefined, 'no band 2 with no-progress');
    t.same(quietMux.bands.get(1), pack, 'the same pack');
  });

  t.test('gzip bodies need a Content-Length; no 100 Continue', async (t) => {
    const body = gzipSync(wantBody(head, `${GIT_CAPS} no-progress`));
    const gz = { ...UPLOAD, 'Content-Encoding': 'gzip' };
    const sized = await send(uploadUrl, { headers: { ...gz, 'Content-Length': body.length }, body });
    t.equal(sized.status, 200);
    t.equal(sideband(sized.body).bands.get(1)?.subarray(0, 4).toString(), 'PACK');
    await refusedWith(await send(uploadUrl, { headers: gz, body, chunked: true }), t);
    t.equal(server.requests.at(-1)?.refused, 'gzip body without Content-Length');
    const plainChunked = await send(uploadUrl, { headers: UPLOAD, body: wantBody(head, `${GIT_CAPS} no-progress`), chunked: true });
    t.equal(plainChunked.status, 200, 'chunked alone is fine');
    const expecting = await send(uploadUrl, { headers: { ...UPLOAD, Expect: '100-continue' }, body: wantBody(head, `${GIT_CAPS} no-progress`) });
    t.same([expecting.status, expecting.interim], [200, 0], 'no 100 Continue from an HTTP/1.0 server');
  });

  t.test('receive-pack: capabilities must have been advertised', async (t) => {
    const command = (caps: string) => encodePkts(`${head} ${first} refs/heads/other\0${caps}\n`, { type: 'flush' });
    server.resetCounts();
    await refusedWith(await send(receiveUrl, { headers: RECEIVE, body: Buffer.concat([command('report-status push-options'), emptyPack()]) }), t);
    t.equal(server.requests[0]?.refused, 'capability push-options was not advertised');
    t.equal(await revParse(repo.dir, 'refs/heads/other'), null);
  });

  t.test('one request at a time: a second waits for the first to finish', async (t) => {
    server.resetCounts();
    let release!: () => void;
    const order: string[] = [];
    const held = send(uploadUrl, {
      headers: { ...UPLOAD, 'Content-Length': wantBody(head, GIT_CAPS).length },
      body: wantBody(head, GIT_CAPS),
      hold: (go) => (release = go),
    }).then((r) => (order.push('held'), r));
    await until('the held request to arrive', () => server.requests.length === 1);
    const next = send(`${repo.url}/info/refs?service=git-upload-pack`, { method: 'GET' }).then((r) => (order.push('next'), r));
    await until('the second request to queue', () => server.requests.length === 2 && server.queued === 1);
    t.equal(server.requests[1]?.status, undefined, 'not answered while the first is open');
    release();
    const [a, b] = await Promise.all([held, next]);
    t.same([a.status, b.status], [200, 200]);
    t.same(order, ['held', 'next']);
    t.ok(server.maxQueued >= 1);
  });
});

t.test('staleOk: a refused ref update is reported ok, and the ref stays', async (t) => {
  const server = await startStrictServer(t);
  t.equal(server.staleOk, false);
  const repo = await server.createRepo('stale', { seed });
  const head = (await revParse(repo.dir, 'main'))!;
  const first = (await revParse(repo.dir, 'main^'))!;
  const receiveUrl = `${repo.url}/git-receive-pack`;
  // A compare-and-swap that must lose: main is at head, not at first.
  const stalePush = (caps: string) =>
    Buffer.concat([encodePkts(`${first} ${first} refs/heads/main\0${caps}\n`, { type: 'flush' }), emptyPack()]);

  t.test('without side-band', async (t) => {
    server.setStaleOk(false);
    const honest = await send(receiveUrl, { headers: RECEIVE, body: stalePush('report-status') });
    t.equal(honest.status, 200);
    t.match(leadingLines(honest.body), ['unpack ok', /^ng refs\/heads\/main /]);

    server.setStaleOk(true);
    const lying = await send(receiveUrl, { headers: RECEIVE, body: stalePush('report-status') });
    t.same(leadingLines(lying.body), ['unpack ok', 'ok refs/heads/main']);
    t.equal(lying.body.subarray(-4).toString(), '0000');
    t.equal(server.rewrites, 1);
    t.equal(await revParse(repo.dir, 'main'), head, 'the ref did not move');
  });

  t.test('inside side-band band 1, in tiny frames', async (t) => {
    server.setStaleOk(true);
    const reply = await send(receiveUrl, { headers: RECEIVE, body: stalePush('report-status side-band-64k') });
    const mux = sideband(reply.body);
    t.ok(mux.sizes.every((n) => n <= 7));
    t.same(leadingLines(mux.bands.get(1)!), ['unpack ok', 'ok refs/heads/main']);
    t.equal(await revParse(repo.dir, 'main'), head);
  });

  t.test('git push refused by a pre-receive hook "succeeds"', async (t) => {
    const hook = join(repo.dir, 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\necho "fixture hook says no" >&2\nexit 1\n');
    await chmod(hook, 0o755);
    const work = await mkdtemp(join(server.root, '.work-'));
    const dest = join(work, 'clone');
    await git(['clone', '--quiet', repo.url, dest]);
    await writeFile(join(dest, 'new.txt'), 'never lands\n');
    await git(['add', '.'], { cwd: dest });
    await git(['commit', '--quiet', '-m', 'refused'], { cwd: dest });

    server.setStaleOk(false);
    await t.rejects(git(['push', '--quiet', 'origin', 'main'], { cwd: dest }), /pre-receive hook declined/);
    server.setStaleOk(true);
    const before = server.rewrites;
    await git(['push', '--quiet', 'origin', 'main'], { cwd: dest });
    t.equal(server.rewrites, before + 1);
    t.equal(await revParse(repo.dir, 'main'), head, 'the server never moved main');
    t.equal(await revParse(dest, 'refs/remotes/origin/main'), await revParse(dest, 'HEAD'), 'git believes it did');
  });
});
