// A hostile git server on 127.0.0.1 that never stops talking: every answer must end in a typed error after the
// client read a bounded number of bytes (counted by the client's HTTP stats), whatever the server would send.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { PackError } from '../src/pack/errors.js';
import { OBJ_BLOB, OBJ_OFS_DELTA, OBJ_REF_DELTA, encodePackHeader } from '../src/pack/pack-format.js';
import { hashObject } from '../src/pack/oid.js';
import { ProtocolError } from '../src/protocol/errors.js';
import { encodePkts, pktLine } from '../src/protocol/pkt-line.js';
import { DEFAULT_REMOTE_LIMITS, Remote, type RemoteLimits } from '../src/protocol/remote.js';
import { limitBytes, readAllLimited } from '../src/protocol/response-limit.js';
import { encodeDelta, encodeEntry } from '../fixtures/pack-build.js';

const F = { type: 'flush' } as const;
const OID = 'a'.repeat(40);
const ZERO = '0'.repeat(40);
const KiB = 1024;
/** The most one response may send before the server gives up on its own (keeps every loop bounded). */
const SERVER_CAP = 256 * 1024 * 1024;
/** Read-ahead allowed past a limit: the chunk that crossed it (undici hands over at most 64 KiB at once). */
const SLACK = 128 * KiB;

type Body = () => Iterable<Buffer>;
type Route = { type: string; body: Body };

/**
 * A server answering each request with `route(method, url, requestBody)`, written with backpressure until
 * the client hangs up. `sent()` tells how many body bytes it managed to write in total.
 */
async function hostileServer(t: Test, route: (method: string, url: string, body: Buffer) => Route): Promise<{ url: string; sent: () => number }> {
  let sent = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('error', () => {});
    req.on('end', async () => {
      const { type, body } = route(req.method!, req.url!, Buffer.concat(parts));
      res.writeHead(200, { 'content-type': type });
      let closed = false;
      res.on('close', () => (closed = true));
      res.on('error', () => {});
      let total = 0;
      for (const chunk of body()) {
        if (closed || total > SERVER_CAP) break;
        total += chunk.length;
        sent += chunk.length;
        if (!res.write(chunk)) await new Promise((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/repo.git`, sent: () => sent };
}

/** `head`, then `line(i)` for i = 0, 1, ... without end (bounded by the server's cap). */
function* endless(head: Buffer, line: (i: number) => Buffer): Generator<Buffer> {
  yield head;
  for (let i = 0; ; i++) {
    const batch: Buffer[] = [];
    for (let k = 0; k < 256; k++) batch.push(line(i * 256 + k));
    yield Buffer.concat(batch);
  }
}

const ADV = 'application/x-git-upload-pack-advertisement';
const RESULT = 'application/x-git-upload-pack-result';
const V2 = encodePkts('# service=git-upload-pack\n', F, 'version 2\n', 'ls-refs=unborn\n', 'fetch=shallow\n', F);
const v2Adv: Route = { type: ADV, body: () => [V2] };

function remoteFor(t: Test, url: string, limits: RemoteLimits = {}, protocol: 0 | 2 = 2): Remote {
  const remote = new Remote({ url, protocol, limits });
  t.teardown(() => remote.close());
  return remote;
}

async function drain<T>(it: AsyncIterable<T>): Promise<void> {
  for await (const _ of it) { /* read to the end */ }
}

t.test('limitBytes: counts until lifted', async (t) => {
  const chunks = [Buffer.alloc(10), Buffer.alloc(10), Buffer.alloc(10)];
  await t.rejects(readAllLimited((async function* () { yield* chunks; })(), 25, 'test'), { constructor: ProtocolError, code: 'too-large' });
  t.equal((await readAllLimited((async function* () { yield* chunks; })(), 30, 'test')).length, 30, 'exactly the limit passes');
  const lifted = limitBytes((async function* () { yield* chunks; })(), 15, 'test');
  const it = lifted[Symbol.asyncIterator]();
  await it.next();
  lifted.lift();
  let rest = 0;
  for (let r = await it.next(); !r.done; r = await it.next()) rest += r.value.length;
  t.equal(rest, 20, 'no limit once lifted');
  t.equal(DEFAULT_REMOTE_LIMITS.maxResponseBytes, 8 * 1024 * 1024, 'default response cap');
});

t.test('non-pack responses are capped by maxResponseBytes', async (t) => {
  const limit = 256 * KiB;
  const tooLarge = { constructor: ProtocolError, code: 'too-large' };

  t.test('an endless v0 ref advertisement', async (t) => {
    const head = encodePkts('# service=git-upload-pack\n', F, `${OID} HEAD\0side-band-64k symref=HEAD:refs/heads/main\n`);
    const server = await hostileServer(t, () => ({ type: ADV, body: () => endless(head, (i) => pktLine(`${OID} refs/heads/b${i}\n`)) }));
    const remote = remoteFor(t, server.url, { maxResponseBytes: limit }, 0);
    await t.rejects(remote.lsRefs(), tooLarge);
    t.ok(remote.stats.bytesReceived <= limit + SLACK, `read ${remote.stats.bytesReceived} bytes`);
  });

  t.test('an endless v2 ls-refs answer', async (t) => {
    const server = await hostileServer(t, (method) =>
      method === 'GET' ? v2Adv : { type: RESULT, body: () => endless(Buffer.alloc(0), (i) => pktLine(`${OID} refs/tags/t${i}\n`)) });
    const remote = remoteFor(t, server.url, { maxResponseBytes: limit });
    await t.rejects(remote.lsRefs(), tooLarge);
    t.ok(remote.stats.bytesReceived <= V2.length + limit + SLACK, `read ${remote.stats.bytesReceived} bytes`);
  });

  t.test('endless shallow lines before the pack of a fetch', async (t) => {
    const server = await hostileServer(t, (method) =>
      method === 'GET' ? v2Adv : { type: RESULT, body: () => endless(pktLine('shallow-info\n'), () => pktLine(`shallow ${OID}\n`)) });
    const remote = remoteFor(t, server.url, { maxResponseBytes: limit });
    await t.rejects(drain(remote.fetch({ wants: [OID] })), tooLarge);
    t.ok(remote.stats.bytesReceived <= V2.length + limit + SLACK, `read ${remote.stats.bytesReceived} bytes`);
  });

  t.test('a pkt-line longer than the format allows fails at its header', async (t) => {
    const server = await hostileServer(t, (method) =>
      method === 'GET' ? v2Adv : { type: RESULT, body: () => endless(Buffer.from('ffff'), () => Buffer.alloc(1024, 0x41)) });
    const remote = remoteFor(t, server.url, { maxResponseBytes: limit });
    await t.rejects(drain(remote.fetch({ wants: [OID] })), { constructor: ProtocolError, code: 'bad-pkt-line' });
    t.ok(remote.stats.bytesReceived <= V2.length + SLACK, `read ${remote.stats.bytesReceived} bytes`);
  });

  const receiveAdv: Route = {
    type: 'application/x-git-receive-pack-advertisement',
    body: () => [encodePkts('# service=git-receive-pack\n', F, `${ZERO} capabilities^{}\0report-status side-band-64k delete-refs\n`, F)],
  };
  const pushResult = (body: Body): Route => ({ type: 'application/x-git-receive-pack-result', body });
  const update = [{ ref: 'refs/heads/main', oldOid: ZERO, newOid: OID }];

  t.test('endless progress text in a push answer', async (t) => {
    const server = await hostileServer(t, (method) =>
      method === 'GET' ? receiveAdv : pushResult(() => endless(Buffer.alloc(0), (i) => pktLine(Buffer.from(`\x02remote: still working ${i}\n`)))));
    const remote = remoteFor(t, server.url, { maxResponseBytes: limit });
    await t.rejects(remote.push(update, null), tooLarge);
    t.ok(remote.stats.bytesReceived <= limit + 2 * SLACK, `read ${remote.stats.bytesReceived} bytes`);
  });

  t.test('an endless report-status', async (t) => {
    const head = encodePkts(Buffer.concat([Buffer.from([1]), encodePkts('unpack ok\n')]));
    const server = await hostileServer(t, (method) =>
      method === 'GET' ? receiveAdv : pushResult(() => endless(head, (i) => pktLine(Buffer.concat([Buffer.from([1]), pktLine(`ok refs/heads/r${i}\n`)])))));
    const remote = remoteFor(t, server.url, { maxResponseBytes: limit });
    await t.rejects(remote.push(update, null), tooLarge);
    t.ok(remote.stats.bytesReceived <= limit + 2 * SLACK, `read ${remote.stats.bytesReceived} bytes`);
  });
});

/** A v2 fetch answer carrying `pack` on side-band channel 1, in pkts of 8 KiB. */
function* packfile(pack: Iterable<Buffer>): Generator<Buffer> {
  yield pktLine('packfile\n');
  for (const part of pack) {
    for (let pos = 0; pos < part.length; pos += 8 * KiB) {
      yield pktLine(Buffer.concat([Buffer.from([1]), part.subarray(pos, pos + 8 * KiB)]));
    }
  }
}

/** A pack header declaring `count` objects, then `entry(i)` without end. */
function* endlessPack(count: number, first: Buffer[], entry: (i: number) => Buffer): Generator<Buffer> {
  yield Buffer.concat([encodePackHeader(count), ...first]);
  for (let i = 0; ; i++) yield entry(i);
}

t.test('a fetched pack is bounded by the pack reader limits passed through Remote', async (t) => {
  const limits: RemoteLimits = { maxObjectSize: 1024 * KiB, maxDeltaDepth: 2, maxRetainedBytes: 64 * KiB, maxObjects: 1000 };
  const fetchServing = (pack: () => Iterable<Buffer>) => (method: string): Route =>
    method === 'GET' ? v2Adv : { type: RESULT, body: () => packfile(pack()) };
  const fails = async (t: Test, pack: () => Iterable<Buffer>, code: string, maxRead: number) => {
    const server = await hostileServer(t, fetchServing(pack));
    const remote = remoteFor(t, server.url, limits);
    await t.rejects(drain(remote.fetch({ wants: [OID] })), { constructor: PackError, code });
    t.ok(remote.stats.bytesReceived <= maxRead, `read ${remote.stats.bytesReceived} bytes (at most ${maxRead})`);
  };
  const zeros = deflateSync(Buffer.alloc(4 * 1024 * KiB));
  const blob = (size: number, zlib: Buffer) => encodeEntry({ code: OBJ_BLOB, payload: Buffer.alloc(0), size, zlib });

  t.test('more objects than maxObjects', (t) =>
    fails(t, () => endlessPack(1001, [], () => encodeEntry({ code: OBJ_BLOB, payload: Buffer.from('x') })), 'too-large', V2.length + SLACK));

  t.test('an object declared larger than maxObjectSize', (t) =>
    fails(t, () => endlessPack(1, [blob(64 * 1024 * KiB, zeros)], () => zeros), 'too-large', V2.length + SLACK));

  t.test('a zip bomb: a small declared size, zlib output without end', (t) =>
    fails(t, () => endlessPack(1, [blob(100, zeros.subarray(0, zeros.length - 4))], () => zeros), 'bad-size', V2.length + SLACK));

  t.test('a zip bomb at the size limit: inflates beyond it', (t) =>
    fails(t, () => endlessPack(1, [blob(1024 * KiB, zeros)], () => zeros), 'bad-size', V2.length + SLACK));

  t.test('a delta chain deeper than maxDeltaDepth', (t) => {
    const base = Buffer.from('base content of the chain\n');
    const entries = [encodeEntry({ code: OBJ_BLOB, payload: base })];
    let size = base.length;
    for (let i = 0; i < 5; i++) {
      const delta = encodeDelta(size, size + 1, [{ copy: [0, size] }, { insert: Buffer.from('+') }]);
      entries.push(encodeEntry({ code: OBJ_OFS_DELTA, payload: delta, baseDistance: entries[entries.length - 1]!.length }));
      size++;
    }
    return fails(t, () => endlessPack(1000, entries, () => entries[0]!), 'bad-delta', V2.length + SLACK);
  });

  t.test('deltas waiting for a base that never comes, beyond maxRetainedBytes', (t) => {
    const delta = encodeDelta(10, 10, [{ copy: [0, 10] }]);
    const waiting = encodeEntry({ code: OBJ_REF_DELTA, payload: delta, baseOid: hashObject('blob', Buffer.from('never sent')) });
    return fails(t, () => endlessPack(1000, [], () => waiting), 'too-large', V2.length + SLACK);
  });

});
