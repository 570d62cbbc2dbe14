// The fault-injecting proxy, between the real git CLI (or raw node:http requests) and the fixture server.
import { writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import {
  responseBodyFilter,
  ruleMatches,
  serviceOf,
  startFaultProxy,
  type FaultProxy,
} from '../fixtures/fault-proxy.js';
import { startFixtureServer, type FixtureServer } from '../fixtures/git-server.js';
import { GitError, fsck, git, gitText, revParse } from '../fixtures/repo.js';

interface Exchange {
  status?: number;
  headers?: IncomingHttpHeaders;
  body: Buffer;
  /** The response body arrived whole and properly ended. */
  complete: boolean;
  error?: NodeJS.ErrnoException;
}

/** One raw HTTP exchange on a fresh connection; never rejects, so partial answers can be inspected. */
function exchange(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string; timeoutMs?: number } = {},
): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const result: Exchange = { body: Buffer.alloc(0), complete: false };
    let settled = false;
    const finish = (error?: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      resolve({ ...result, body: Buffer.concat(chunks), ...(error ? { error } : {}) });
    };
    const req = request(
      url,
      { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: opts.timeoutMs },
      (res) => {
        result.status = res.statusCode;
        result.headers = res.headers;
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          result.complete = res.complete;
          finish();
        });
        res.on('error', finish);
        res.on('close', () => finish(res.complete ? undefined : Object.assign(new Error('closed early'), { code: 'EARLY' })));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('client timeout'), { code: 'TIMEOUT' })));
    req.on('error', finish);
    req.end(opts.body);
  });
}

/** Polls (bounded) until cond holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
}

async function gitFails(args: string[], opts?: Parameters<typeof git>[1]): Promise<GitError> {
  try {
    await git(args, opts);
  } catch (err) {
    if (err instanceof GitError) return err;
    throw err;
  }
  throw new Error(`git ${args.join(' ')} unexpectedly succeeded`);
}

const seed = [
  [
    { path: 'a.txt', content: 'hello\n' },
    { path: 'data.bin', content: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff)) },
  ],
  [{ path: 'b.txt', content: 'second\n' }],
];

/** Deterministic bytes that do not compress (a linear congruential generator). */
function noise(length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = 12345;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const server = await startFixtureServer(t);
let clones = 0;
let repos = 0;
// Tests that only read share one repository (fewer git processes); writers get their own.
const shared = await server.createRepo('shared', { seed });

async function setup(t: Test, opts: { fresh?: boolean; upstream?: FixtureServer } = {}) {
  const upstream = opts.upstream ?? server;
  const name = opts.fresh || upstream !== server ? `r${++repos}` : 'shared';
  const repo = name === 'shared' ? shared : await upstream.createRepo(name, { seed });
  const proxy = await startFaultProxy(upstream.url, t);
  const via = `${proxy.url}/${name}.git`;
  const infoRefs = `/${name}.git/info/refs?service=git-upload-pack`;
  return { name, repo, proxy, via, infoRefs };
}

/** Clones through url, makes one new commit on main and returns the clone and that commit. */
async function cloneAndCommit(url: string, file: string) {
  const dir = join(server.root, `clone-${++clones}`);
  await git(['clone', '--quiet', url, dir]);
  await writeFile(join(dir, file), `${file} content\n`);
  await git(['add', '-A'], { cwd: dir });
  await git(['commit', '--quiet', '-m', `add ${file}`], { cwd: dir });
  return { dir, commit: await gitText(['rev-parse', 'HEAD'], { cwd: dir }) };
}

function upstreamCount(): number {
  return server.requests.length;
}

t.test('pure parts: service detection, rule matching, body filters', async (t) => {
  t.equal(serviceOf('/a/b.git/info/refs?service=git-upload-pack'), 'info-refs');
  t.equal(serviceOf('/b.git/git-upload-pack'), 'upload-pack');
  t.equal(serviceOf('/b.git/git-receive-pack'), 'receive-pack');
  t.equal(serviceOf('/b.git/HEAD'), undefined);
  t.equal(serviceOf('/x?path=/info/refs'), undefined, 'the query is not part of the path');

  t.ok(ruleMatches(undefined, 'GET', '/x'));
  t.ok(ruleMatches({ method: 'post', service: 'receive-pack' }, 'POST', '/r.git/git-receive-pack'));
  t.notOk(ruleMatches({ method: 'GET' }, 'POST', '/r.git/git-receive-pack'));
  t.notOk(ruleMatches({ service: 'upload-pack' }, 'POST', '/r.git/git-receive-pack'));
  t.ok(ruleMatches({ pathIncludes: 'service=git-receive' }, 'GET', '/r.git/info/refs?service=git-receive-pack'));
  t.notOk(ruleMatches({ pathIncludes: 'other.git' }, 'GET', '/r.git/info/refs'));

  const chunks = [Buffer.from('abcd'), Buffer.from('efgh'), Buffer.from('ijkl')];
  const run = (filter: ReturnType<typeof responseBodyFilter>) => {
    const steps = [];
    for (const c of chunks) {
      const step = filter(c);
      steps.push({ data: step.data.toString('latin1'), stop: step.stop });
      if (step.stop) break;
    }
    return steps;
  };
  t.same(run(responseBodyFilter()), [
    { data: 'abcd', stop: undefined },
    { data: 'efgh', stop: undefined },
    { data: 'ijkl', stop: undefined },
  ]);
  t.same(run(responseBodyFilter({ kind: 'cut-response', afterBytes: 6 })), [
    { data: 'abcd', stop: undefined },
    { data: 'ef', stop: 'cut' },
  ]);
  t.same(run(responseBodyFilter({ kind: 'truncate-response', afterBytes: 4 })), [
    { data: 'abcd', stop: undefined },
    { data: '', stop: 'end' },
  ]);
  t.same(run(responseBodyFilter({ kind: 'truncate-response', afterBytes: 12 })).map((s) => s.stop), [
    undefined,
    undefined,
    undefined,
  ]);
  t.same(run(responseBodyFilter({ kind: 'corrupt-response', atByte: 5, xor: 0x20 })), [
    { data: 'abcd', stop: undefined },
    { data: 'eFgh', stop: undefined },
    { data: 'ijkl', stop: undefined },
  ]);
  t.equal(chunks[1]!.toString(), 'efgh', 'the input chunk is not modified in place');
});

t.test('pass-through: ls-remote, clone, push and raw exchanges', async (t) => {
  const { name, repo, proxy, via, infoRefs } = await setup(t, { fresh: true });
  const direct = `${server.url}/${name}.git`;

  t.equal(await gitText(['ls-remote', via]), await gitText(['ls-remote', direct]));

  const { dir, commit } = await cloneAndCommit(via, 'c.txt');
  await fsck(dir);
  t.equal(await gitText(['rev-parse', 'HEAD~1'], { cwd: dir }), await revParse(repo.dir, 'refs/heads/main'));
  await git(['push', '--quiet', 'origin', 'HEAD:main'], { cwd: dir });
  t.equal(await revParse(repo.dir, 'refs/heads/main'), commit, 'the push went through');
  await fsck(repo.dir);

  // A big, incompressible file: the push body is chunked (over git's 1 MiB postBuffer) and both
  // directions have to wait for the slower side.
  await writeFile(join(dir, 'big.bin'), noise(1200 << 10));
  await git(['add', 'big.bin'], { cwd: dir });
  await git(['commit', '--quiet', '-m', 'big'], { cwd: dir });
  await git(['push', '--quiet', 'origin', 'HEAD:main'], { cwd: dir });
  const big = await gitText(['rev-parse', 'HEAD'], { cwd: dir });
  t.equal(await revParse(repo.dir, 'refs/heads/main'), big);
  const again = join(server.root, `clone-${++clones}`);
  await git(['clone', '--quiet', via, again]); // index-pack checks every object it receives
  t.equal(await gitText(['rev-parse', 'HEAD:big.bin'], { cwd: again }), await gitText(['rev-parse', 'HEAD:big.bin'], { cwd: dir }));

  const services = proxy.log.map((e) => e.service);
  t.ok(services.includes('upload-pack') && services.includes('receive-pack') && services.includes('info-refs'));
  t.ok(proxy.log.every((e) => e.status === 200 && e.fault === undefined), 'no faults, all answered 200');
  const uploadPacks = server.requests.filter((r) => r.repo === `${name}.git` && r.service === 'upload-pack');
  t.ok(uploadPacks.length > 0 && uploadPacks.every((r) => r.gitProtocol === 'version=2'), 'Git-Protocol forwarded');

  // Byte-for-byte the same answer as the upstream gives directly, with its headers.
  const a = await exchange(server.url + infoRefs);
  const b = await exchange(proxy.url + infoRefs);
  t.equal(b.status, 200);
  t.ok(b.complete);
  t.ok(b.body.equals(a.body), 'same body');
  t.equal(b.headers?.['content-type'], 'application/x-git-upload-pack-advertisement');
  t.equal(b.headers?.['cache-control'], a.headers?.['cache-control']);
  t.equal(b.headers?.['content-length'], a.headers?.['content-length']);

  // A gzip-encoded protocol v2 ls-refs: only works if Git-Protocol, Content-Type and Content-Encoding arrive.
  const lsRefs = Buffer.from('0014command=ls-refs\n00010000');
  const v2 = await exchange(`${via}/git-upload-pack`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-git-upload-pack-request',
      'Content-Encoding': 'gzip',
      'Git-Protocol': 'version=2',
    },
    body: gzipSync(lsRefs),
  });
  t.equal(v2.status, 200);
  t.equal(v2.headers?.['content-type'], 'application/x-git-upload-pack-result');
  t.match(v2.body.toString('latin1'), `${big} refs/heads/main\n`);
});

t.test('status: answered by the proxy, with Retry-After, once by default', async (t) => {
  const { proxy, infoRefs } = await setup(t);
  proxy.inject({ match: { service: 'info-refs' }, fault: { kind: 'status', status: 503, retryAfter: '7' } });
  const before = upstreamCount();
  const r = await exchange(proxy.url + infoRefs);
  t.equal(r.status, 503);
  t.equal(r.headers?.['retry-after'], '7');
  t.match(r.body.toString(), 'injected 503');
  t.equal(upstreamCount(), before, 'not forwarded');

  const custom = { kind: 'status', status: 401, body: 'go away' } as const;
  proxy.inject({ match: { method: 'POST' }, fault: custom });
  const post = await exchange(`${proxy.url}/x.git/git-upload-pack`, { method: 'POST', body: Buffer.alloc(70000, 1) });
  t.equal(post.status, 401);
  t.equal(post.body.toString(), 'go away');
  t.equal(post.headers?.['retry-after'], undefined);

  const again = await exchange(proxy.url + infoRefs);
  t.equal(again.status, 200, 'the rule was used up');
  t.same(
    proxy.log.map((e) => [e.method, e.service, e.fault, e.status]),
    [
      ['GET', 'info-refs', 'status', 503],
      ['POST', 'upload-pack', 'status', 401],
      ['GET', 'info-refs', undefined, 200],
    ],
  );
});

t.test('rules: order, matching, times countdown, Infinity until clear()', async (t) => {
  const { proxy, infoRefs } = await setup(t);
  const statuses = async (n: number) => {
    const out: Array<number | undefined> = [];
    for (let i = 0; i < n; i++) out.push((await exchange(proxy.url + infoRefs)).status);
    return out;
  };
  proxy.inject({ match: { method: 'POST' }, fault: { kind: 'status', status: 500 }, times: 2 });
  proxy.inject({ match: { pathIncludes: '/other.git/' }, fault: { kind: 'status', status: 404 }, times: 2 });
  proxy.inject({ match: { service: 'info-refs' }, fault: { kind: 'status', status: 429 }, times: 2 });
  proxy.inject({ fault: { kind: 'status', status: 418 } });
  t.same(await statuses(4), [429, 429, 418, 200]);

  proxy.inject({ fault: { kind: 'status', status: 503 }, times: Infinity });
  t.same(await statuses(5), [503, 503, 503, 503, 503]);
  proxy.clear();
  t.same(await statuses(2), [200, 200], 'clear() restores pass-through');
});

t.test('refuse: the connection is reset, nothing is forwarded', async (t) => {
  const { proxy, via, infoRefs } = await setup(t);
  proxy.inject({ fault: { kind: 'refuse' } });
  const before = upstreamCount();
  const r = await exchange(proxy.url + infoRefs);
  t.equal(r.status, undefined);
  t.equal(r.error?.code, 'ECONNRESET');
  t.equal(upstreamCount(), before);

  proxy.inject({ match: { service: 'info-refs' }, fault: { kind: 'refuse' } });
  await gitFails(['ls-remote', via]);
  t.match(await gitText(['ls-remote', via]), 'refs/heads/main', 'next time it works');
  t.same(proxy.log[0], { method: 'GET', path: infoRefs, service: 'info-refs', fault: 'refuse' });
});

t.test('drop: no answer until the client gives up', async (t) => {
  const { proxy, infoRefs } = await setup(t);
  proxy.inject({ fault: { kind: 'drop' } });
  const before = upstreamCount();
  const r = await exchange(proxy.url + infoRefs, { timeoutMs: 300 });
  t.equal(r.error?.code, 'TIMEOUT', 'the client timed out');
  t.equal(r.status, undefined);
  t.equal(upstreamCount(), before, 'not forwarded');
  t.same(proxy.log.map((e) => [e.fault, e.status]), [['drop', undefined]]);
  t.equal((await exchange(proxy.url + infoRefs)).status, 200);
});

t.test('delay: forwarded only after the delay', async (t) => {
  const { proxy, infoRefs } = await setup(t);
  const direct = await exchange(server.url + infoRefs);
  proxy.inject({ fault: { kind: 'delay', ms: 400 } });
  const before = upstreamCount();
  const pending = exchange(proxy.url + infoRefs);
  await until(() => proxy.log.length === 1);
  t.equal(proxy.log.length, 1, 'the proxy has the request');
  t.equal(upstreamCount(), before, 'held back');
  const r = await pending;
  t.equal(r.status, 200);
  t.ok(r.body.equals(direct.body));
  t.equal(upstreamCount(), before + 1);
  t.same(proxy.log.map((e) => [e.fault, e.status]), [['delay', 200]]);
});

t.test('hold-response: answered by the upstream at once, passed on only when released', async (t) => {
  const { proxy, infoRefs } = await setup(t);
  const direct = await exchange(server.url + infoRefs);
  let release!: () => void;
  let held = false;
  proxy.inject({ fault: { kind: 'hold-response', release: new Promise<void>((r) => (release = r)), onHeld: () => (held = true) } });
  const before = upstreamCount();
  let arrived = false;
  const pending = exchange(proxy.url + infoRefs).then((r) => ((arrived = true), r));
  await until(() => held);
  t.ok(held, 'the upstream answered whole');
  t.equal(upstreamCount(), before + 1, 'forwarded at once');
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(arrived, 'the client has nothing yet');
  release();
  const r = await pending;
  t.equal(r.status, 200);
  t.ok(r.complete);
  t.ok(r.body.equals(direct.body), 'the answer unchanged');
  t.same(proxy.log.map((e) => [e.fault, e.status]), [['hold-response', 200]]);
});

t.test('cut-response: the body stops after N bytes on a broken connection', async (t) => {
  const { proxy, via, infoRefs } = await setup(t);
  const direct = await exchange(server.url + infoRefs);
  t.ok(direct.body.length > 40);
  proxy.inject({ fault: { kind: 'cut-response', afterBytes: 20 } });
  const r = await exchange(proxy.url + infoRefs);
  t.equal(r.status, 200, 'the head arrived');
  t.notOk(r.complete);
  t.ok(r.error, 'the client saw the connection break');
  t.ok(r.body.equals(direct.body.subarray(0, 20)), 'exactly the first 20 bytes');

  proxy.inject({ fault: { kind: 'cut-response', afterBytes: 0 } });
  const zero = await exchange(proxy.url + infoRefs);
  t.equal(zero.status, 200);
  t.equal(zero.body.length, 0);
  t.ok(zero.error);

  proxy.inject({ match: { service: 'upload-pack' }, fault: { kind: 'cut-response', afterBytes: 100 } });
  await gitFails(['clone', '--quiet', via, join(server.root, `clone-${++clones}`)]);
  const dest = join(server.root, `clone-${++clones}`);
  await git(['clone', '--quiet', via, dest]);
  await fsck(dest);
});

t.test('truncate-response: a clean, chunked, short body', async (t) => {
  const { proxy, via, infoRefs } = await setup(t);
  const direct = await exchange(server.url + infoRefs);
  proxy.inject({ fault: { kind: 'truncate-response', afterBytes: 20 } });
  const r = await exchange(proxy.url + infoRefs);
  t.equal(r.status, 200);
  t.ok(r.complete, 'the response ended properly');
  t.equal(r.error, undefined);
  t.equal(r.headers?.['content-length'], undefined);
  t.equal(r.headers?.['transfer-encoding'], 'chunked');
  t.ok(r.body.equals(direct.body.subarray(0, 20)));

  proxy.inject({ match: { service: 'info-refs' }, fault: { kind: 'truncate-response', afterBytes: 60 } });
  await gitFails(['ls-remote', via]);
  t.match(await gitText(['ls-remote', via]), 'refs/heads/main');
});

t.test('corrupt-response: exactly one byte changes', async (t) => {
  const { proxy, infoRefs } = await setup(t);
  const direct = await exchange(server.url + infoRefs);
  const diff = (a: Buffer, b: Buffer) => [...a.keys()].filter((i) => a[i] !== b[i]);

  proxy.inject({ fault: { kind: 'corrupt-response', atByte: 10 } });
  const r = await exchange(proxy.url + infoRefs);
  t.equal(r.status, 200);
  t.ok(r.complete);
  t.equal(r.body.length, direct.body.length);
  t.equal(r.headers?.['content-length'], direct.headers?.['content-length']);
  t.same(diff(r.body, direct.body), [10]);
  t.equal(r.body[10], direct.body[10]! ^ 0xff);

  proxy.inject({ fault: { kind: 'corrupt-response', atByte: 0, xor: 1 } });
  const x = await exchange(proxy.url + infoRefs);
  t.same(diff(x.body, direct.body), [0]);
  t.equal(x.body[0], direct.body[0]! ^ 1);
});

t.test('cut-request: the upstream gets a truncated request, the client a 502', async (t) => {
  const { repo, proxy, via } = await setup(t, { fresh: true });
  const { dir, commit } = await cloneAndCommit(via, 'cut.txt');
  const old = await revParse(repo.dir, 'refs/heads/main');
  proxy.inject({ match: { service: 'receive-pack' }, fault: { kind: 'cut-request', afterBytes: 50 } });
  const before = server.requests.filter((r) => r.service === 'receive-pack').length;
  const err = await gitFails(['push', 'origin', 'HEAD:main'], { cwd: dir });
  t.match(err.stderr, '502');
  t.equal(server.requests.filter((r) => r.service === 'receive-pack').length, before + 1, 'it reached the upstream');
  t.equal(await revParse(repo.dir, 'refs/heads/main'), old, 'the half push changed nothing');
  t.same(
    proxy.log.filter((e) => e.service === 'receive-pack').map((e) => [e.fault, e.status]),
    [['cut-request', 502]],
  );

  await git(['push', '--quiet', 'origin', 'HEAD:main'], { cwd: dir });
  t.equal(await revParse(repo.dir, 'refs/heads/main'), commit, 'pass-through again');
  await fsck(repo.dir);

  // A body no longer than the limit is not cut.
  proxy.inject({ fault: { kind: 'cut-request', afterBytes: 10_000 } });
  const whole = await exchange(`${via}/git-upload-pack`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-git-upload-pack-request', 'Git-Protocol': 'version=2' },
    body: '0014command=ls-refs\n00010000',
  });
  t.equal(whole.status, 200);
  t.match(whole.body.toString(), `${commit} refs/heads/main`);
});

t.test('answer-lost: the push takes effect, the client never hears', async (t) => {
  const { name, repo, proxy, via } = await setup(t, { fresh: true });
  const { dir, commit } = await cloneAndCommit(via, 'lost.txt');
  proxy.inject({ match: { service: 'receive-pack' }, fault: { kind: 'answer-lost' } });
  await gitFails(['push', 'origin', 'HEAD:main'], { cwd: dir });
  t.equal(await gitText(['rev-parse', 'refs/heads/main'], { cwd: repo.dir }), commit, 'the ref moved anyway');
  await fsck(repo.dir);
  // curl re-sends once when a reused connection dies before any answer byte; that second push then
  // fails against the moved ref. Only the first one is ours.
  t.same(
    proxy.log.filter((e) => e.service === 'receive-pack').slice(0, 1).map((e) => [e.fault, e.status]),
    [['answer-lost', 200]],
  );

  // Raw: the upstream answered, the client got nothing.
  proxy.inject({ fault: { kind: 'answer-lost' } });
  const before = upstreamCount();
  const r = await exchange(`${via}/info/refs?service=git-upload-pack`);
  t.equal(r.status, undefined);
  t.ok(r.error);
  t.equal(upstreamCount(), before + 1);
  t.same(proxy.log.at(-1), { method: 'GET', path: `/${name}.git/info/refs?service=git-upload-pack`, service: 'info-refs', fault: 'answer-lost', status: 200 });
});

t.test('upstream down: 502; back up or re-pointed: pass-through', async (t) => {
  const other = await startFixtureServer(t);
  const { proxy, via, infoRefs } = await setup(t, { upstream: other });
  t.match(await gitText(['ls-remote', via]), 'refs/heads/main');

  await other.stop();
  const down = await exchange(proxy.url + infoRefs);
  t.equal(down.status, 502);
  t.match(down.body.toString(), 'ECONNREFUSED');
  const err = await gitFails(['ls-remote', via]);
  t.match(err.stderr, '502');

  await other.restart();
  t.equal((await exchange(proxy.url + infoRefs)).status, 200);
  t.match(await gitText(['ls-remote', via]), 'refs/heads/main');

  // Re-pointed at a port nobody listens on, then back.
  const spare = createServer();
  await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
  const deadPort = (spare.address() as AddressInfo).port;
  await new Promise<void>((resolve) => spare.close(() => resolve()));
  proxy.setUpstream(`http://127.0.0.1:${deadPort}`);
  t.equal((await exchange(proxy.url + infoRefs)).status, 502);
  proxy.setUpstream(other.url);
  t.equal((await exchange(proxy.url + infoRefs)).status, 200);
  t.same(
    proxy.log.filter((e) => e.method === 'GET' && e.path === infoRefs).map((e) => e.status),
    [200, 502, 502, 200, 200, 502, 200],
  );
});

t.test('close() ends hung and delayed exchanges and does not hang', async (t) => {
  const proxy: FaultProxy = await startFaultProxy(server.url);
  proxy.inject({ fault: { kind: 'drop' }, times: 2 });
  proxy.inject({ fault: { kind: 'delay', ms: 600_000 } });
  const pending = [1, 2, 3].map(() => exchange(`${proxy.url}/r.git/info/refs?service=git-upload-pack`));
  await until(() => proxy.log.length === 3);
  t.same(proxy.log.map((e) => e.fault), ['drop', 'drop', 'delay']);
  await proxy.close();
  for (const r of await Promise.all(pending)) {
    t.equal(r.status, undefined);
    t.ok(r.error, 'the client saw the connection close');
  }
  await proxy.close(); // idempotent
  t.equal((await exchange(`${proxy.url}/`)).error?.code, 'ECONNREFUSED');
});
