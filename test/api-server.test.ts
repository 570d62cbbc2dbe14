// startServer and the entry point: building the store from the config, graceful shutdown, startup failures.
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { loadConfig } from '../src/api/config.js';
import { createLogger } from '../src/api/logger.js';
import { StartupError, startServer } from '../src/api/server.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { ReadResult, Store } from '../src/store/store.js';
import { readVia } from '../fixtures/store-stub.js';

const silent = createLogger({ level: 'silent' });
const SERVER_TS = fileURLToPath(new URL('../src/api/server.ts', import.meta.url));

t.test('BACKEND_TYPE=memory builds a MemoryStore from the config', async (t) => {
  const running = await startServer(loadConfig({ BACKEND_TYPE: 'memory', MAX_BODY_BYTES: '10' }),
    { host: '127.0.0.1', port: 0, logger: silent });
  t.match(running.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const post = await request(`${running.url}/x.txt`, { method: 'POST', body: 'hello' });
  t.equal(post.statusCode, 201);
  await post.body.dump();
  const get = await request(`${running.url}/x.txt`);
  t.equal(await get.body.text(), 'hello');
  const big = await request(`${running.url}/y.txt`, { method: 'POST', body: 'x'.repeat(11) });
  t.equal(big.statusCode, 413, 'MAX_BODY_BYTES applies');
  await big.body.dump();
  await running.close();
  await running.close(); // idempotent
  await t.rejects(request(`${running.url}/x.txt`), 'no longer listening');
});

t.test('graceful shutdown lets in-flight requests finish', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inFlight = new Promise<void>((r) => (entered = r));
  const inner = new MemoryStore();
  const store: Store = {
    read: (p, o) => readVia(store, p, o),
    async get(p): Promise<ReadResult> {
      entered();
      await gate;
      return inner.get(p);
    },
    create: (p, b) => inner.create(p, b),
    replace: (p, b) => inner.replace(p, b),
    remove: (p) => inner.remove(p),
    close: () => inner.close(),
  };
  await inner.create('slow.txt', { stream: (async function* () { yield Buffer.from('worth the wait'); })() });
  const running = await startServer(loadConfig({ BACKEND_TYPE: 'memory' }), { store, host: '127.0.0.1', port: 0, logger: silent });

  const slow = request(`${running.url}/slow.txt`).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
  await inFlight;
  let closed = false;
  const closing = running.close().then(() => (closed = true));
  await t.rejects(request(`${running.url}/healthz`, { reset: true }), 'new connections are refused');
  t.notOk(closed, 'close() waits for the request in flight');
  release();
  t.same(await slow, { status: 200, text: 'worth the wait' }, 'and it completes normally');
  await closing;
  t.ok(closed);
  t.same(inner.paths(), ['slow.txt'], 'a caller-supplied store is left to its owner');
});

t.test('after SHUTDOWN_GRACE_MS, remaining connections are cut', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inFlight = new Promise<void>((r) => (entered = r));
  const stuck: Store = {
    read: (p, o) => readVia(stuck, p, o),
    async get(): Promise<ReadResult> {
      entered();
      await gate;
      throw new Error('released');
    },
    create: () => Promise.reject(new Error('unused')),
    replace: () => Promise.reject(new Error('unused')),
    remove: () => Promise.reject(new Error('unused')),
    close: async () => {},
  };
  const lines: Array<{ msg: string }> = [];
  const logger = createLogger({ write: (l) => lines.push(JSON.parse(l) as { msg: string }) });
  const running = await startServer(loadConfig({ BACKEND_TYPE: 'memory', SHUTDOWN_GRACE_MS: '50' }),
    { store: stuck, host: '127.0.0.1', port: 0, logger });
  const done = await request(`${running.url}/healthz`);
  await done.body.dump();
  const hanging = request(`${running.url}/x`);
  await inFlight;
  await running.close();
  await t.rejects(hanging, 'the stuck request was cut off');
  t.equal(lines.at(-1)?.msg, 'gitrest stopped: 1 requests served, 0 finished during shutdown, 1 cut',
    'the last line counts the cut request');
  release();
});

t.test('a HOST this machine does not have is a StartupError about HOST, before the store is opened', async (t) => {
  const err = await startServer(loadConfig({ HOST: '203.0.113.7', DATA_DIR: '/nonexistent/never-created' }),
    { port: 0, logger: silent }).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof StartupError, 'StartupError');
  t.match((err as Error).message, /^cannot listen on HOST 203\.0\.113\.7: .*; set HOST to an address of this machine/);
  t.notMatch((err as Error).message, /PORT/);
});

t.test('a port in use is a StartupError naming the port', async (t) => {
  const first = await startServer(loadConfig({ BACKEND_TYPE: 'memory' }), { host: '127.0.0.1', port: 0, logger: silent });
  t.teardown(() => first.close());
  const port = Number(new URL(first.url).port);
  const err = await startServer(loadConfig({ BACKEND_TYPE: 'memory' }), { host: '127.0.0.1', port, logger: silent })
    .then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof StartupError, 'StartupError');
  t.match((err as Error).message, new RegExp(`^cannot listen on port ${port}: .*EADDRINUSE.*; set PORT to a free port$`));
});

/** Runs the entry point as `node server.ts` would be run (with this process's TypeScript loader). */
function runEntryPoint(env: Record<string, string>) {
  const child = spawn(process.execPath, [...process.execArgv, SERVER_TS], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const firstLine = new Promise<string>((resolve, reject) => {
    const onData = () => {
      const nl = stdout.indexOf('\n');
      if (nl !== -1) resolve(stdout.slice(0, nl));
    };
    child.stdout.on('data', onData);
    void exited.then(() => reject(new Error(`exited before printing a line; stderr: ${stderr}`)));
  });
  firstLine.catch(() => {}); // only some tests wait for it
  return { child, exited, firstLine, output: () => ({ stdout, stderr }) };
}

t.test('entry point: an invalid config is one line on stderr and exit code 2', async (t) => {
  const run = runEntryPoint({ PORT: 'eighty', GIT_PASSWORD: 'never-print-me' });
  t.equal(await run.exited, 2);
  const { stdout, stderr } = run.output();
  t.equal(stderr, 'gitrest: PORT must be a whole number from 0 to 65535 (got "eighty"); unset it for the default 8080\n');
  t.equal(stdout, '');
});

t.test('entry point: serves, logs its URL without secrets, and exits 0 on SIGTERM', async (t) => {
  const run = runEntryPoint({
    BACKEND_TYPE: 'memory', PORT: '0', HOST: '127.0.0.1', GIT_PASSWORD: 'never-print-me', LOG_LEVEL: 'info',
  });
  t.teardown(() => run.child.kill('SIGKILL'));
  const started = JSON.parse(await run.firstLine) as { msg: string; url: string; config: Record<string, unknown> };
  t.match(started.msg, /^gitrest API listening on http:\/\/127\.0\.0\.1:\d+\/$/);
  t.match(started.config, { backendType: 'memory', credentials: { username: 'git', password: '[redacted]' } });
  const post = await request(`${started.url}/hello.json`, { method: 'POST', body: '{}' });
  t.equal(post.statusCode, 201);
  await post.body.dump();
  run.child.kill('SIGTERM');
  t.equal(await run.exited, 0, 'exit code 0');
  const { stdout, stderr } = run.output();
  t.notOk(stdout.includes('never-print-me'), 'the password is never printed');
  t.equal(stderr, '');
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
  t.same(lines.map((l) => l.msg), [started.msg, 'request', 'shutting down',
    'gitrest stopped: 1 requests served, 0 finished during shutdown, 0 cut']);
});
