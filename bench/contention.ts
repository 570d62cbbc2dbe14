// Writers under contention: R replicas (server processes, started as `npm start` starts them) with W writers
// each, for D seconds, mixed POST/PUT/DELETE on 16 overlapping paths of one repository on a local git
// http-backend. Prints, for 1 replica and then for R: requests, acknowledged writes, 409/404 refusals,
// 503s (writes that gave up), other failures, writes/s (acknowledged), p50/p99 latency. Stops by itself.
//
//   node dist/bench/contention.js [--replicas 3] [--writers 32] [--duration 60s]   (after npm run build)
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { startHttpBackend } from '../src/embedded/http-backend.js';
import { durationFlag, parseFlags, wholeNumberFlag } from './args.js';
import { startApiProcess, type ApiProcess } from './server-process.js';
import { percentile } from './stats.js';

const flags = parseFlags(process.argv.slice(2), { replicas: { type: 'string' }, writers: { type: 'string' }, duration: { type: 'string' } });
if (flags.help === true) {
  console.log('node dist/bench/contention.js [--replicas 3] [--writers 32 (per replica)] [--duration 60s]');
  process.exit(0);
}
const replicas = wholeNumberFlag('--replicas', String(flags.replicas ?? '3'), 1, 16);
const writers = wholeNumberFlag('--writers', String(flags.writers ?? '32'), 1, 256);
const durationMs = durationFlag('--duration', String(flags.duration ?? '60s'));

const gitEnv = { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
const git = (...argv: string[]) => promisify(execFile)('git', argv, { env: { ...process.env, ...gitEnv } });
const PATHS = Array.from({ length: 16 }, (_, i) => `d${i % 3}/sub${i % 2}/f${i}.txt`);
type Method = 'POST' | 'PUT' | 'DELETE';

const root = await mkdtemp(join(tmpdir(), 'gitrest-contention-'));
const backend = await startHttpBackend({ projectRoot: root, port: 0, env: gitEnv });
const agent = new Agent({ connections: 256 });
try {
  console.log(`| replicas | writers each | seconds | requests | acknowledged | 409/404 | 503 | other failures | writes/s | p50 ms | p99 ms |`);
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const n of replicas === 1 ? [1] : [1, replicas]) {
    const name = `r${n}.git`;
    const dir = join(root, name);
    await git('init', '--bare', '--quiet', '-b', 'main', dir);
    for (const [k, v] of [['http.receivepack', 'true'], ['uploadpack.allowFilter', 'true'], ['uploadpack.allowAnySHA1InWant', 'true'],
      ['uploadpack.allowRefInWant', 'true']]) {
      await git('-C', dir, 'config', k!, v!);
    }
    const apis: ApiProcess[] = [];
    try {
      for (let i = 0; i < n; i++) {
        apis.push(await startApiProcess({ repoUrl: `${backend.url}/${name}`, branch: 'main', logPath: join(root, `${name}-${i}.log`),
          env: { LOG_LEVEL: 'warn' } }));
      }
      const tally = await run(apis);
      console.log(row(n, tally));
      for (const [why, count] of tally.reasons) console.error(`  ${n} replica(s), 503 ×${count}: ${why}`);
    } finally {
      await Promise.all(apis.map((a) => a.stop()));
    }
  }
} finally {
  await agent.close();
  await backend.close();
  await rm(root, { recursive: true, force: true });
}

interface Tally {
  requests: number; acked: number; refused: number; gaveUp: number; failed: number; ms: number[]; seconds: number;
  /** The 503s by their error text: why writes gave up. */
  reasons: Map<string, number>;
}

async function run(apis: ApiProcess[]): Promise<Tally> {
  const t: Tally = { requests: 0, acked: 0, refused: 0, gaveUp: 0, failed: 0, ms: [], seconds: 0, reasons: new Map() };
  const start = performance.now();
  const end = Date.now() + durationMs;
  await Promise.all(Array.from({ length: apis.length * writers }, async (_, w) => {
    for (let seq = 0; Date.now() < end; seq++) {
      const r = Math.random();
      const method: Method = r < 0.4 ? 'POST' : r < 0.75 ? 'PUT' : 'DELETE';
      const path = PATHS[Math.floor(Math.random() * PATHS.length)]!;
      const began = performance.now();
      try {
        const res = await request(`${apis[w % apis.length]!.url}/${path}`, {
          dispatcher: agent, method, ...(method === 'DELETE' ? {} : { body: `w${w}#${seq}` }),
        });
        if (res.statusCode === 503) {
          const answer = (await res.body.json().catch(() => ({}))) as { error?: unknown; detail?: unknown };
          const why = `${String(answer.error ?? '(no error field)')} (${String(answer.detail ?? '')})`;
          t.reasons.set(why, (t.reasons.get(why) ?? 0) + 1);
        } else await res.body.dump();
        t.requests++;
        if (res.statusCode < 300) t.acked++;
        else if (res.statusCode === 409 || res.statusCode === 404) t.refused++;
        else if (res.statusCode === 503) t.gaveUp++;
        else t.failed++;
      } catch {
        t.requests++;
        t.failed++;
      }
      t.ms.push(performance.now() - began);
    }
  }));
  t.seconds = (performance.now() - start) / 1000;
  return t;
}

function row(n: number, t: Tally): string {
  const ms = [...t.ms].sort((a, b) => a - b);
  return `| ${n} | ${writers} | ${t.seconds.toFixed(1)} | ${t.requests} | ${t.acked} | ${t.refused} | ${t.gaveUp} | ${t.failed} | ` +
    `${(t.acked / t.seconds).toFixed(1)} | ${Math.round(percentile(ms, 0.5))} | ${Math.round(percentile(ms, 0.99))} |`;
}
