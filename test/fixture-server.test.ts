// The embedded smart-HTTP server (real git http-backend behind node:http) and the fixture helpers,
// exercised with the real git CLI.
import { chmod, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { parseCgiHead } from '../src/embedded/cgi-head.js';
import { startHttpBackend } from '../src/embedded/http-backend.js';
import { decodePathInfo, routeRequest } from '../src/embedded/request-path.js';
import { startFixtureServer } from '../fixtures/git-server.js';
import { commitFiles, fsck, git, gitText, readTreeFiles, revParse } from '../fixtures/repo.js';

interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function http(
  url: string,
  opts: { method?: string; headers?: Record<string, string | number>; body?: Buffer | string } = {},
): Promise<HttpReply> {
  // Split by hand: a WHATWG URL would normalize away the ".." segments some tests send on purpose.
  const [, host, port, path] = /^http:\/\/([^/:]+):(\d+)(\/.*)$/.exec(url)!;
  const target = { host, port: Number(port), path, method: opts.method ?? 'GET', headers: opts.headers, agent: false };
  return new Promise((resolve, reject) => {
    const req = request(target, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Pids of live processes whose environment names this project root (http-backend and its children). */
async function backendPids(root: string): Promise<number[]> {
  const marker = `GIT_PROJECT_ROOT=${root}\0`;
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readFile(`/proc/${name}/environ`, 'latin1')).includes(marker)) pids.push(Number(name));
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return pids;
}

/** Polls (bounded) until the predicate holds for the pid list; returns the last list seen. */
async function waitForPids(root: string, done: (pids: number[]) => boolean): Promise<number[]> {
  let pids: number[] = [];
  for (let i = 0; i < 200; i++) {
    pids = await backendPids(root);
    if (done(pids)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return pids;
}

const seed = [
  [
    { path: 'a.txt', content: 'first\n' },
    { path: 'dir/run.sh', content: '#!/bin/sh\necho hi\n', mode: '100755' as const },
    { path: 'dir/link', content: '../a.txt', mode: '120000' as const },
  ],
  [
    { path: 'a.txt', content: 'second\n' },
    { path: 'bin.dat', content: Buffer.from([0, 1, 2, 255, 254, 10, 13]) },
  ],
];

t.test('pure parts: CGI head, path decoding, routing', async (t) => {
  const lf = parseCgiHead(Buffer.from('Status: 404 Not Found\nContent-Type: text/plain\n\nbody'));
  t.same(lf, { status: 404, statusText: 'Not Found', headers: [['Content-Type', 'text/plain']], bodyStart: 48 });
  const crlf = parseCgiHead(Buffer.from('Content-Type: a/b\r\nX-A: 1\r\nX-A: 2\r\n\r\n\r\nrest'));
  t.same(crlf?.headers, [['Content-Type', 'a/b'], ['X-A', '1'], ['X-A', '2']]);
  t.equal(crlf?.status, 200);
  t.equal(crlf?.bodyStart, 37);
  t.equal(parseCgiHead(Buffer.from('Content-Type: a/b\r\n')), null, 'incomplete head');
  t.throws(() => parseCgiHead(Buffer.from('no colon here\n\n')));
  t.throws(() => parseCgiHead(Buffer.from('Status: teapot\n\n')));

  t.equal(decodePathInfo('/r%201.git/info/refs'), '/r 1.git/info/refs');
  t.equal(decodePathInfo('/a/../b.git/info/refs'), null);
  t.equal(decodePathInfo('/a/%2e%2E/b.git/HEAD'), null);
  t.equal(decodePathInfo('/a\\..\\b'), null);
  t.equal(decodePathInfo('/bad%zz'), null);
  t.equal(decodePathInfo('/a/..b.git/HEAD'), '/a/..b.git/HEAD', 'dots inside a name are fine');

  t.same(routeRequest('GET', '/team/r1.git/info/refs'), { service: 'info-refs', repo: 'team/r1.git' });
  t.same(routeRequest('POST', '/r1/git-upload-pack'), { service: 'upload-pack', repo: 'r1' });
  t.same(routeRequest('POST', '/r1.git/git-receive-pack'), { service: 'receive-pack', repo: 'r1.git' });
  t.same(routeRequest('GET', '/r1.git/git-upload-pack'), { service: 'other', repo: 'r1.git' });
  t.same(routeRequest('GET', '/r1.git/objects/ab/cdef'), { service: 'other', repo: 'r1.git' });
});

t.test('git against the fixture server', async (t) => {
  const server = await startFixtureServer(t);
  t.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  t.test('clone of a seeded repository, then a fetch of a commit made by "someone else"', async (t) => {
    const repo = await server.createRepo('seeded', { seed });
    const head = await revParse(repo.dir, 'refs/heads/main');
    t.match(head, /^[0-9a-f]{40}$/);
    t.equal(await gitText(['rev-list', '--count', 'main'], { cwd: repo.dir }), '2');
    await fsck(repo.dir);

    server.resetCounts();
    const dest = join(await mkdtemp(join(server.root, '.work-')), 'clone');
    await git(['clone', '--quiet', repo.url, dest]);
    t.same(server.counts('seeded'), { 'info-refs': 1, 'upload-pack': 2, 'receive-pack': 0, other: 0, total: 3 });
    t.same(server.counts(), server.counts('seeded.git'), 'totals = the only repo used');

    t.equal(await revParse(dest, 'HEAD'), head);
    t.equal(await readFile(join(dest, 'a.txt'), 'utf8'), 'second\n');
    t.same(await readFile(join(dest, 'bin.dat')), Buffer.from([0, 1, 2, 255, 254, 10, 13]));
    t.equal(await readlink(join(dest, 'dir/link')), '../a.txt');
    t.ok(((await stat(join(dest, 'dir/run.sh'))).mode & 0o111) !== 0, 'executable bit');
    const files = await readTreeFiles(dest);
    t.same([...files.keys()].sort(), ['a.txt', 'bin.dat', 'dir/link', 'dir/run.sh']);
    t.same(files, await readTreeFiles(repo.dir, 'main'));

    const next = await commitFiles(repo.dir, [{ path: 'new.txt', content: 'n' }], 'another client', {
      deletes: ['a.txt'],
    });
    t.equal(await revParse(repo.dir, 'main^'), head);
    await git(['pull', '--quiet', '--ff-only'], { cwd: dest });
    t.equal(await revParse(dest, 'HEAD'), next);
    const after = await readTreeFiles(dest);
    t.same([...after.keys()].sort(), ['bin.dat', 'dir/link', 'dir/run.sh', 'new.txt']);
    t.equal(after.get('new.txt')?.toString(), 'n');
    await fsck(dest);
  });

  t.test('push of a new commit into an empty repository', async (t) => {
    const repo = await server.createRepo('empty');
    t.equal(await revParse(repo.dir, 'refs/heads/main'), null);
    const work = await mkdtemp(join(server.root, '.work-'));
    await git(['init', '--quiet', '-b', 'main', work]);
    await writeFile(join(work, 'hello.txt'), 'pushed\n');
    await mkdir(join(work, 'sub'));
    await writeFile(join(work, 'sub', 'x.json'), '{"x":1}');
    await git(['add', '.'], { cwd: work });
    await git(['commit', '--quiet', '-m', 'first push'], { cwd: work });

    server.resetCounts();
    await git(['push', '--quiet', repo.url, 'main'], { cwd: work });
    t.same(server.counts('empty'), { 'info-refs': 1, 'upload-pack': 0, 'receive-pack': 1, other: 0, total: 2 });
    t.equal(await revParse(repo.dir, 'refs/heads/main'), await revParse(work, 'HEAD'));
    const files = await readTreeFiles(repo.dir, 'main');
    t.equal(files.get('hello.txt')?.toString(), 'pushed\n');
    t.equal(files.get('sub/x.json')?.toString(), '{"x":1}');
    await fsck(repo.dir);
  });

  t.test('ls-remote: v0 is one info/refs; v2 carries Git-Protocol', async (t) => {
    const repo = await server.createRepo('lsr', { seed });
    const head = await revParse(repo.dir, 'main');

    server.resetCounts();
    const v0 = await gitText(['-c', 'protocol.version=0', 'ls-remote', repo.url]);
    t.match(v0, `${head}\trefs/heads/main`);
    t.same(server.counts('lsr'), { 'info-refs': 1, 'upload-pack': 0, 'receive-pack': 0, other: 0, total: 1 });
    t.equal(server.requests[0]?.gitProtocol, undefined);

    server.resetCounts();
    const trace = join(server.root, 'trace-v2.txt');
    const v2 = await gitText(['-c', 'protocol.version=2', 'ls-remote', repo.url], {
      env: { GIT_TRACE_PACKET: trace },
    });
    t.match(v2, `${head}\trefs/heads/main`);
    // The server only answers in v2 if GIT_PROTOCOL reached upload-pack.
    t.match(await readFile(trace, 'utf8'), /< version 2/);
    t.same(server.counts('lsr'), { 'info-refs': 1, 'upload-pack': 1, 'receive-pack': 0, other: 0, total: 2 });
    t.same(
      server.requests.map((r) => [r.service, r.method, r.gitProtocol]),
      [
        ['info-refs', 'GET', 'version=2'],
        ['upload-pack', 'POST', 'version=2'],
      ],
    );
  });

  t.test('a gzip-encoded upload-pack request body', async (t) => {
    const repo = await server.createRepo('gz', { seed });
    const head = (await revParse(repo.dir, 'main'))!;
    const body = gzipSync(`0032want ${head}\n00000009done\n`);
    server.resetCounts();
    const reply = await http(`${repo.url}/git-upload-pack`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-git-upload-pack-request',
        'Content-Encoding': 'gzip',
        'Content-Length': body.length,
      },
      body,
    });
    t.equal(reply.status, 200);
    t.equal(reply.headers['content-type'], 'application/x-git-upload-pack-result');
    t.equal(reply.body.subarray(0, 8).toString(), '0008NAK\n');
    t.equal(reply.body.subarray(8, 12).toString(), 'PACK');
    t.same(server.counts('gz'), { 'info-refs': 0, 'upload-pack': 1, 'receive-pack': 0, other: 0, total: 1 });

    // The pack must hold the whole history: index it into an empty repository and read it back.
    const copy = join(server.root, 'gz-copy.git');
    await git(['init', '--bare', '--quiet', copy]);
    await git(['index-pack', '--stdin'], { cwd: copy, input: reply.body.subarray(8) });
    t.same(await readTreeFiles(copy, head), await readTreeFiles(repo.dir, head));
    t.same(await readTreeFiles(copy, `${head}^`), await readTreeFiles(repo.dir, `${head}^`));
  });

  t.test('missing repository is 404, ".." paths are 400', async (t) => {
    server.resetCounts();
    const missing = await http(`${server.url}/missing.git/info/refs?service=git-upload-pack`);
    t.equal(missing.status, 404);
    await t.rejects(git(['ls-remote', `${server.url}/missing.git`]), /not found|404/i);
    t.equal(server.counts('missing').total, 2);

    server.resetCounts();
    for (const path of ['/seeded.git/../seeded.git/info/refs', '/x/%2E%2E/seeded.git/info/refs', '/..']) {
      const reply = await http(`${server.url}${path}?service=git-upload-pack`);
      t.equal(reply.status, 400, path);
    }
    t.equal(server.counts().total, 0, 'rejected paths never reach the CGI');
  });
});

t.test('client disconnect, stop and restart on the same port leave no processes', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('held', { seed });

  // A push whose body never ends keeps git http-backend and receive-pack waiting on stdin.
  const holdPush = () => {
    const req = request(`${repo.url}/git-receive-pack`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-git-receive-pack-request' },
      agent: false,
    });
    const outcome = new Promise<string>((resolve) => {
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(`response ${res.statusCode}`));
        res.on('error', () => resolve('response aborted'));
      });
      req.on('error', (err) => resolve(`error ${err.message}`));
    });
    req.write('0000'.slice(0, 2)); // half a pkt-line
    return { req, outcome };
  };

  const first = holdPush();
  t.not((await waitForPids(server.root, (p) => p.length > 0)).length, 0, 'CGI running');
  first.req.destroy();
  t.same(await waitForPids(server.root, (p) => p.length === 0), [], 'client gone: CGI killed');

  const second = holdPush();
  t.not((await waitForPids(server.root, (p) => p.length > 0)).length, 0, 'CGI running again');
  await server.stop();
  t.match(await second.outcome, /^(error|response aborted)/, 'held request was cut');
  t.same(await waitForPids(server.root, (p) => p.length === 0), [], 'stop: CGI killed');
  await t.rejects(http(`${repo.url}/info/refs?service=git-upload-pack`), { code: 'ECONNREFUSED' });

  const url = server.url;
  await server.restart();
  t.equal(server.url, url);
  t.equal(server.backend.url, url, 'same port');
  t.match(await gitText(['ls-remote', repo.url]), await revParse(repo.dir, 'main'));
  t.ok(server.counts('held')['info-refs'] >= 1, 'counts carry over a restart');
  await server.close();
  await t.rejects(stat(server.root), { code: 'ENOENT' }, 'temp root removed');
});

t.test('the CGI bridge itself, with stand-in backends', async (t) => {
  const execDir = await mkdtemp(join(tmpdir(), 'gitrest-fake-exec-'));
  t.teardown(() => rm(execDir, { recursive: true, force: true }));
  const backend = async (script: string, log?: string[]) => {
    const dir = await mkdtemp(join(execDir, 'x-'));
    await writeFile(join(dir, 'git-http-backend'), `#!/bin/sh\n${script}\n`);
    await chmod(join(dir, 'git-http-backend'), 0o755);
    const server = await startHttpBackend({
      projectRoot: dir,
      gitExecPath: dir,
      ...(log ? { log: (m: string) => log.push(m) } : {}),
    });
    t.teardown(() => server.close());
    return Object.assign(server, { projectRoot: dir });
  };

  t.test('Status and headers are forwarded (CRLF head)', async (t) => {
    const s = await backend(`printf 'Status: 418 Teapot\\r\\nX-One: 1\\r\\nContent-Type: text/x-tea\\r\\n\\r\\nbrewed'`);
    const reply = await http(`${s.url}/r.git/HEAD`);
    t.equal(reply.status, 418);
    t.equal(reply.headers['x-one'], '1');
    t.equal(reply.headers['content-type'], 'text/x-tea');
    t.equal(reply.body.toString(), 'brewed');
    t.same(s.counts('r'), { 'info-refs': 0, 'upload-pack': 0, 'receive-pack': 0, other: 1, total: 1 });
  });

  t.test('CGI environment: only what it needs', async (t) => {
    process.env.GITREST_PROBE_SECRET = 'leak';
    t.teardown(() => delete process.env.GITREST_PROBE_SECRET);
    const s = await backend(`printf 'Content-Type: text/plain\\n\\n'; env`);
    const reply = await http(`${s.url}/a%20b.git/git-upload-pack?x=1`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-git-upload-pack-request',
        'Content-Encoding': 'gzip',
        'Content-Length': 3,
        'Git-Protocol': 'version=2',
        Authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}`,
      },
      body: 'abc',
    });
    t.equal(reply.status, 200);
    const env = new Map(
      reply.body
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    t.equal(env.get('PATH_INFO'), '/a b.git/git-upload-pack');
    t.equal(env.get('QUERY_STRING'), 'x=1');
    t.equal(env.get('REQUEST_METHOD'), 'POST');
    t.equal(env.get('CONTENT_TYPE'), 'application/x-git-upload-pack-request');
    t.equal(env.get('CONTENT_LENGTH'), '3');
    t.equal(env.get('HTTP_CONTENT_ENCODING'), 'gzip');
    t.equal(env.get('GIT_PROTOCOL'), 'version=2');
    t.equal(env.get('REMOTE_USER'), 'alice');
    t.equal(env.get('REMOTE_ADDR'), '127.0.0.1');
    t.equal(env.get('GIT_HTTP_EXPORT_ALL'), '1');
    t.ok(env.get('GIT_PROJECT_ROOT'));
    t.notOk(env.has('GITREST_PROBE_SECRET'), 'parent environment not leaked');
  });

  t.test('request and response bodies stream through unchanged', async (t) => {
    const s = await backend(`printf 'Content-Type: application/octet-stream\\n\\n'; cat`);
    const body = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < body.length; i++) body[i] = (i * 131 + (i >> 11)) & 0xff;
    const reply = await http(`${s.url}/r.git/git-receive-pack`, { method: 'POST', body });
    t.equal(reply.status, 200);
    t.equal(reply.body.length, body.length);
    t.ok(reply.body.equals(body), 'echoed bytes identical');
    t.equal(s.counts('r.git')['receive-pack'], 1);
  });

  t.test('an endless response: client disconnect and close() both kill the CGI', async (t) => {
    const s = await backend(`printf 'Content-Type: application/octet-stream\\n\\n'; exec cat /dev/zero`);
    const readSome = () =>
      new Promise<{ destroy(): void; got: number }>((resolve, reject) => {
        const req = request(`${s.url}/r.git/HEAD`, { agent: false }, (res) => {
          res.once('data', (chunk: Buffer) => {
            res.pause();
            resolve({ destroy: () => req.destroy(), got: chunk.length });
          });
        });
        req.on('error', reject);
        req.end();
      });
    const projectRoot = s.projectRoot;
    const first = await readSome();
    t.ok(first.got > 0);
    t.not((await waitForPids(projectRoot, (p) => p.length > 0)).length, 0, 'CGI streaming');
    first.destroy();
    t.same(await waitForPids(projectRoot, (p) => p.length === 0), [], 'client gone: CGI killed');

    const second = await readSome();
    t.ok(second.got > 0);
    await s.close();
    t.same(await waitForPids(projectRoot, (p) => p.length === 0), [], 'close: CGI killed');
  });

  t.test('a CGI that dies before its headers gives 502 and logs its stderr', async (t) => {
    const log: string[] = [];
    const s = await backend(`echo 'backend exploded' >&2; exit 3`, log);
    const reply = await http(`${s.url}/r.git/info/refs`);
    t.equal(reply.status, 502);
    t.match(log.join('\n'), /code 3[\s\S]*backend exploded/);
  });
});
