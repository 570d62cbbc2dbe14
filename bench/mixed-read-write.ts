// Writes with retries under a concurrent reader, in one process, against a local git http-backend (loopback).
//
// One writer does POST, PUT, DELETE of its own files in turn; one reader GETs another file in a loop. No
// one else writes to the repository, so every retry is a lost race against a tip this process should have
// known. Stops by itself after the given time. With --api the requests go over HTTP to the API running
// in-process (as in issue 14); the retries are counted where the API gets them, from the store.
//
//   node dist/bench/mixed-read-write.js [seconds=20] [--no-reader] [--api]   (after npm run build)
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { startHttpBackend } from '../src/embedded/http-backend.js';
import { loadConfig } from '../src/api/config.js';
import { startServer } from '../src/api/server.js';
import { GitStore } from '../src/store/git-store.js';
import type { BodySource, Store, WriteResult } from '../src/store/store.js';

const args = process.argv.slice(2);
const seconds = Number(args.find((a) => !a.startsWith('--')) ?? 20);
const withReader = !args.includes('--no-reader');
const viaApi = args.includes('--api');
if (!(seconds > 0 && seconds <= 600)) throw new Error('seconds: a number in (0, 600]');

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}
const body = (text: string): BodySource => ({ stream: once(Buffer.from(text)), length: text.length });

// The machine's own git configuration stays out of the measurement.
const gitEnv = { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
const root = await mkdtemp(join(tmpdir(), 'gitrest-mixed-'));
const git = (...argv: string[]) => promisify(execFile)('git', argv, { env: { ...process.env, ...gitEnv } });
const backend = await startHttpBackend({ projectRoot: root, port: 0, env: gitEnv });
try {
  const dir = join(root, 'mixed.git');
  await git('init', '--bare', '--quiet', '-b', 'main', dir);
  for (const [key, value] of [['http.receivepack', 'true'], ['uploadpack.allowFilter', 'true'], ['uploadpack.allowAnySHA1InWant', 'true']]) {
    await git('-C', dir, 'config', key!, value!);
  }
  const repo = { url: `${backend.url}/mixed.git` };
  const store = new GitStore({
    remote: { url: repo.url },
    branch: 'main',
    author: { name: 'gitrest', email: 'gitrest@localhost' },
    maxBodyBytes: 1 << 20,
  });
  const writes = { total: 0, retried: 0, retries: 0, ms: [] as number[] };
  let reads = 0;
  const counted = async (write: Promise<WriteResult>): Promise<WriteResult> => {
    const result = await write;
    writes.total++;
    writes.retries += result.retries;
    if (result.retries > 0) writes.retried++;
    return result;
  };
  // What the API is handed: the store, with the retries of every write counted on the way.
  const counting: Store = {
    get: (path) => store.get(path),
    read: (path, o) => store.read(path, o),
    create: (path, b) => counted(store.create(path, b)),
    replace: (path, b) => counted(store.replace(path, b)),
    remove: (path) => counted(store.remove(path)),
    close: () => store.close(),
  };
  const api = viaApi
    ? await startServer(loadConfig({ BACKEND_TYPE: 'git', GIT_REPO_URL: repo.url, LOG_LEVEL: 'silent' }),
      { host: '127.0.0.1', port: 0, store: counting })
    : undefined;
  const send = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, text?: string): Promise<void> => {
    const res = await request(`${api!.url}/${path}`, { method, ...(text === undefined ? {} : { body: text }) });
    for await (const _ of res.body); // drain
    if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode}`);
  };
  await store.create('read/file.txt', body('read me')); // the reader's file, made before the clock starts
  const stopAt = performance.now() + seconds * 1000;

  const writer = async () => {
    for (let i = 0; performance.now() < stopAt; i++) {
      const path = `write/${i}.txt`;
      const steps: Array<() => Promise<unknown>> = api !== undefined
        ? [() => send('POST', path, `new ${i}`), () => send('PUT', path, `changed ${i}`), () => send('DELETE', path)]
        : [
          () => counting.create(path, body(`new ${i}`)),
          () => counting.replace(path, body(`changed ${i}`)),
          () => counting.remove(path),
        ];
      for (const step of steps) {
        const started = performance.now();
        await step();
        writes.ms.push(performance.now() - started);
      }
    }
  };
  const reader = async () => {
    while (performance.now() < stopAt) {
      if (api !== undefined) {
        await send('GET', 'read/file.txt');
      } else {
        const file = await store.get('read/file.txt');
        for await (const _ of file.stream); // drain: lets the store release what it holds
      }
      reads++;
    }
  };

  await Promise.all([writer(), ...(withReader ? [reader()] : [])]);
  await api?.close();
  await store.close();
  const sorted = writes.ms.sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]?.toFixed(1);
  console.log(JSON.stringify({
    seconds,
    reader: withReader,
    api: viaApi,
    writes: writes.total,
    writesWithRetries: writes.retried,
    retries: writes.retries,
    reads,
    writeMs: { p50: at(0.5), p99: at(0.99), max: sorted.at(-1)?.toFixed(1) },
  }));
} finally {
  await backend.close();
  await rm(root, { recursive: true, force: true });
}
