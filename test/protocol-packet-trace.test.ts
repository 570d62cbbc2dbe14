// GIT_TRACE_PACKET: the values git accepts, the line format, pack summaries, and an end-to-end GET through the
// API against the fixture git server, traced to a file, with credentials configured that must not appear.
import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/api/config.js';
import { decodePkts, encodePkts, PktReader } from '../src/protocol/pkt-line.js';
import { PacketTracer, packetTraceTarget } from '../src/protocol/packet-trace.js';
import { expectConfigError } from '../fixtures/config.js';
import { startApi } from '../fixtures/api-server.js';
import { startFixtureServer } from '../fixtures/git-server.js';

const F = { type: 'flush' } as const;

async function tempFile(t: Test, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gitrest-trace-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, name);
}

/** Trace lines without git's leading time stamp. */
async function traced(t: Test, path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => {
    t.match(l, /^\d\d:\d\d:\d\d\.\d{6} packet: /, 'time stamp, then "packet: "');
    return l.replace(/^\S+ /, '');
  });
}

t.test('GIT_TRACE_PACKET values as git reads them', async (t) => {
  for (const v of [undefined, '', '0', 'false', 'FALSE', ' 0 ']) t.equal(packetTraceTarget(v), undefined, `off: ${v}`);
  for (const v of ['1', '2', 'true', 'True']) t.same(packetTraceTarget(v), { to: 'stderr' }, `stderr: ${v}`);
  t.same(packetTraceTarget('/tmp/x.log'), { to: 'file', path: '/tmp/x.log' });
  t.same(loadConfig({ GIT_TRACE_PACKET: '/var/log/p' }).packetTrace, { to: 'file', path: '/var/log/p' });
  t.equal(loadConfig({}).packetTrace, undefined, 'off by default');
  t.equal(loadConfig({ GIT_TRACE_PACKET: 'false' }).packetTrace, undefined);
  expectConfigError(t, { GIT_TRACE_PACKET: 'trace.log' }, /^GIT_TRACE_PACKET: set 1, 2 or true .*absolute path/);
  expectConfigError(t, { GIT_TRACE_PACKET: '5' }, /^GIT_TRACE_PACKET: /);
});

t.test('one line per pkt: direction, service, escapes, 0000/0001/0002, PACK summarised', async (t) => {
  const path = await tempFile(t, 'trace.log');
  const tracer = new PacketTracer({ to: 'file', path });
  const up = tracer.exchange('git-upload-pack');
  decodePkts(encodePkts('command=fetch\n', { type: 'delim' }, 'want abc\n', F), up.sent);
  const band = (n: number, s: string | Buffer) => Buffer.concat([Buffer.from([n]), Buffer.from(s)]);
  const pack = Buffer.concat([Buffer.from('PACK'), Buffer.alloc(100, 0xff)]);
  const response = encodePkts(
    'packfile\n', band(2, 'Counting\r'), band(1, pack), band(2, 'Done\n'), band(1, Buffer.alloc(50, 7)), F, { type: 'response-end' },
  );
  const reader = new PktReader((async function* () { yield response; })(), up.received);
  for (let p = await reader.next(); p; p = await reader.next()) void p;
  const push = tracer.exchange('git-receive-pack');
  decodePkts(encodePkts(`${'0'.repeat(40)} ${'a'.repeat(40)} refs/heads/x\0report-status\n`, F), push.sent);
  push.sent.raw(Buffer.alloc(32));
  push.sent.end();
  t.throws(() => decodePkts(encodePkts('ERR denied\n'), push.received), { name: 'RemoteError' });
  tracer.close();
  t.same(await traced(t, path), [
    'packet:  upload-pack> command=fetch',
    'packet:  upload-pack> 0001',
    'packet:  upload-pack> want abc',
    'packet:  upload-pack> 0000',
    'packet:  upload-pack< packfile',
    'packet:  upload-pack< \\2Counting\\15',
    'packet:  upload-pack< \\2Done',
    'packet:  upload-pack< PACK ... (154 bytes in 2 side-band packets)',
    'packet:  upload-pack< 0000',
    'packet:  upload-pack< 0002',
    `packet: receive-pack> ${'0'.repeat(40)} ${'a'.repeat(40)} refs/heads/x\\0report-status`,
    'packet: receive-pack> 0000',
    'packet: receive-pack> PACK ... (32 bytes)',
    'packet: receive-pack< ERR denied',
  ]);
});

t.test('a raw pack after the pkt-lines (v0 without side-band) is one summary line', async (t) => {
  const path = await tempFile(t, 'trace.log');
  const tracer = new PacketTracer({ to: 'file', path });
  const trace = tracer.exchange('git-upload-pack');
  const reader = new PktReader((async function* () { yield encodePkts('NAK\n'); yield Buffer.from('PACK12345678'); })(), trace.received);
  await reader.next();
  let bytes = 0;
  for await (const chunk of reader.rest()) bytes += chunk.length;
  tracer.close();
  t.equal(bytes, 12);
  t.same(await traced(t, path), ['packet:  upload-pack< NAK', 'packet:  upload-pack< PACK ... (12 bytes)']);
});

t.test('a GET through the API traces ls-refs and fetch both ways, never credentials', async (t) => {
  const git = await startFixtureServer(t);
  const { url } = await git.createRepo('traced', { seed: [[{ path: 'notes/a.json', content: '{"a":1}\n' }]] });
  const path = await tempFile(t, 'packets.log');
  const password = 'hunter2-very-secret-password';
  const api = await startApi(t, { repoUrl: url, env: { GIT_TRACE_PACKET: path, GIT_USERNAME: 'bot', GIT_PASSWORD: password } });
  const res = await api.request('GET', '/notes/a.json');
  t.equal(res.status, 200);
  t.equal(res.body.toString(), '{"a":1}\n');
  await api.close();
  const lines = await traced(t, path);
  const has = (re: RegExp, what: string) => t.ok(lines.some((l) => re.test(l)), what);
  has(/^packet: {2}upload-pack< version 2$/, 'the v2 capability advertisement is received');
  has(/^packet: {2}upload-pack> command=ls-refs$/, 'ls-refs is sent');
  has(/^packet: {2}upload-pack< [0-9a-f]{40} refs\/heads\/main/, 'its answer is received');
  has(/^packet: {2}upload-pack> command=fetch$/, 'fetch is sent');
  has(/^packet: {2}upload-pack> want [0-9a-f]{40}$/, 'with its wants');
  has(/^packet: {2}upload-pack< packfile$/, 'the packfile section is received');
  has(/^packet: {2}upload-pack< PACK \.\.\. \(\d+ bytes in \d+ side-band packets?\)$/, 'the pack is summarised');
  has(/^packet: {2}upload-pack> 0000$/, 'flush pkts are shown');
  t.notOk(lines.some((l) => l.includes('\\1PACK')), 'no pack bytes');
  const all = lines.join('\n');
  const basic = Buffer.from(`bot:${password}`).toString('base64');
  t.notOk(all.includes(password) || all.includes(basic) || /authorization/i.test(all), 'no credentials in the trace');
});
