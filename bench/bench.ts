// End-to-end benchmark of the API against a local git server, with the raw Git requests as a floor: the flags
// and main around runBench (bench-run.ts). Markdown goes to stdout (and --out); progress goes to stderr.
//
//   npm run bench -- [--quick] [--sizes 1k,1m,10m,100m] [--out BENCH.md] ...   (--help for all flags)

import { writeFile } from 'node:fs/promises';
import { isEntryPoint } from '../src/process/entry-point.js';
import {
  ArgsError, choiceFlag, durationFlag, listFlag, nonEmptyFlag, parseFlags, urlAndPid, wholeNumber, wholeNumberFlag,
} from './args.js';
import { formatBenchReport } from './bench-report.js';
import { runBench, toStderr, type BenchArgs } from './bench-run.js';
import { DATA_KINDS } from './data.js';
import { parseSize } from './markdown.js';
import { readProcSample } from './proc.js';
import { runTool } from './run-tool.js';

export const USAGE = `Usage: npm run bench -- [flags]   (or node dist/bench/bench.js [flags])

Runs the API (node dist/api/server.js) against a local git http-backend and prints Markdown tables: round
trips and p50 latency per operation and size with the raw Git requests as a floor, writes/s with concurrent
writers, GET/PUT on a big repository against a small one, and the server's peak RSS per phase.

  --quick                  sizes 1 KiB and 1 MiB only, 2 s per writers step
  --sizes LIST             body sizes, e.g. 1k,1m,10m,100m (default)
  --reps N                 repetitions per size (default: 20 up to 64 KiB, 10 up to 1 MiB, 5 up to 10 MiB, else 2)
  --writers LIST           concurrent writers, e.g. 1,8,32 (default)
  --writers-duration D     how long each writers step runs, e.g. 5s (default)
  --big-files N            files in the big repository, 100 per directory (default 100000)
  --out FILE               also write the Markdown to FILE
  --keep                   keep the temp directory (repositories and server logs)
  --data KIND              bodies: mixed (default: half random, half text), random, or text
  --in-process             run the API inside the benchmark process instead of node dist/api/server.js
                           (for quick checks: the peak RSS is then the benchmark's own)
  --url URL                measure an already running server with the same REST contract instead; the floor,
                           round trips and the repository-size phase need our own git server and are skipped
  --pid PID                with --url: the server's process, for peak RSS and CPU time from /proc/PID
  -h, --help               show this help
`;

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const values = parseFlags(argv, {
    quick: { type: 'boolean' },
    sizes: { type: 'string' },
    reps: { type: 'string' },
    writers: { type: 'string' },
    'writers-duration': { type: 'string' },
    'big-files': { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'boolean' },
    'in-process': { type: 'boolean' },
    data: { type: 'string' },
    url: { type: 'string' },
    pid: { type: 'string' },
  });
  const str = (name: string) => values[name] as string | undefined;
  const quick = values.quick === true;
  const args: BenchArgs = {
    help: values.help === true,
    sizes: listFlag('--sizes', str('sizes') ?? (quick ? '1k,1m' : '1k,1m,10m,100m'), parseSize),
    writers: listFlag('--writers', str('writers') ?? '1,8,32', (s) => wholeNumber(s, 1, 1024)),
    writersDurationMs: durationFlag('--writers-duration', str('writers-duration') ?? (quick ? '2s' : '5s')),
    bigFiles: wholeNumberFlag('--big-files', str('big-files') ?? '100000', 10, 1_000_000),
    keep: values.keep === true,
    inProcess: values['in-process'] === true,
    data: choiceFlag('--data', str('data'), DATA_KINDS, 'mixed'),
  };
  if (str('url') !== undefined) {
    for (const flag of ['in-process', 'big-files', 'keep']) {
      if (values[flag] !== undefined) throw new ArgsError(`--${flag} only applies to the servers the bench starts itself; drop it or drop --url`);
    }
  }
  Object.assign(args, urlAndPid(str('url'), str('pid')));
  const reps = str('reps');
  if (reps !== undefined) args.reps = wholeNumberFlag('--reps', reps, 1, 1000);
  const out = nonEmptyFlag('--out', str('out'), 'a file name');
  if (out !== undefined) args.out = out;
  return args;
}

export async function main(argv: readonly string[],
  write: (text: string) => void = (s) => void process.stdout.write(s),
  progress: (line: string) => void = toStderr): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseBenchArgs(argv);
  } catch (err) {
    if (!(err instanceof ArgsError)) throw err;
    process.stderr.write(`bench: ${err.message}\n`);
    return 2;
  }
  if (args.help) {
    write(USAGE);
    return 0;
  }
  if (args.pid !== undefined) {
    try {
      await readProcSample(args.pid);
    } catch (err) {
      process.stderr.write(`bench: --pid ${args.pid}: cannot read its /proc entry: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const report = formatBenchReport(await runBench(args, progress));
  write(report);
  if (args.out !== undefined) {
    await writeFile(args.out, report);
    progress(`wrote ${args.out}`);
  }
  return 0;
}

if (isEntryPoint(import.meta.url)) runTool('bench', main);
