// The API benchmark against a server given by --url (any server with the same REST contract), its process by
// --pid: the writers and the operations by size, without round trips or the floor, which need our own git
// server behind the API, and without the repository-size phase, which imports files into that server's storage.

import { cpus } from 'node:os';
import { Agent } from 'undici';
import { formatDuration } from './args.js';
import { call, expectStatus, sizePhase, writersPhase, type Ctx } from './bench-phases.js';
import type { BenchResult, SizeResult, WritersResult } from './bench-result.js';
import { repsFor, type BenchArgs } from './bench-run.js';
import { DATA_DESCRIPTIONS } from './data.js';
import type { ApiProcess } from './server-process.js';

export async function runBenchAgainstUrl(args: BenchArgs, url: string,
  progress: (line: string) => void): Promise<BenchResult> {
  const t0 = performance.now();
  const agent = new Agent({ connections: 64, headersTimeout: 300_000, bodyTimeout: 300_000 });
  // The server may hold files of earlier runs: every path of this run starts with its own directory.
  const prefix = `bench-${new Date().toISOString().replace(/[:.]/g, '-')}/`;
  const server: ApiProcess = { url, pid: args.pid as number, stop: async () => {} };
  const ctx: Ctx = { data: args.data, root: '', agent, prefix, progress };
  try {
    progress(`against ${url}${args.pid === undefined ? ' (no --pid: no RSS or CPU figures)' : `, process ${args.pid}`}`);
    expectStatus('POST (warm-up)', await call(agent, 'POST', `${url}/${prefix}README`, Buffer.from('benchmark\n')), 201);
    expectStatus('GET (warm-up)', await call(agent, 'GET', `${url}/${prefix}README`), 200);
    const writers: WritersResult[] = [];
    for (const n of args.writers) {
      progress(`${n} concurrent writers for ${formatDuration(args.writersDurationMs)}`);
      writers.push(await writersPhase(ctx, server, 'writers', n, args.writersDurationMs));
    }
    const sizes: SizeResult[] = [];
    for (const size of args.sizes) {
      sizes.push(await sizePhase(ctx, server, 'ops', undefined, undefined, size, repsFor(size, args.reps)));
    }
    const cpu = cpus();
    const setup = [
      `Node ${process.version} (the benchmark's), ${cpu[0]?.model ?? 'unknown CPU'} (${cpu.length} CPUs).`,
      `Server: given by --url ${url}${args.pid === undefined ? '' : `, process ${args.pid} (--pid)`}, started by ` +
        'whoever ran it; every path of this run is under /' + prefix + '; client: undici with keep-alive.',
      `Bodies: ${DATA_DESCRIPTIONS[args.data]}.`,
    ];
    return { sizes, writers, repos: [], setup, seconds: (performance.now() - t0) / 1000, url };
  } finally {
    await agent.close();
  }
}
