// The soak tool, a port of the earlier server's uptime test: flags, an own server (unless --url), Ctrl-C and the
// terminal around runSoak (soak-runner.ts).
//
//   npm run soak -- [flags]      (node dist/bench/soak.js; --help for the flags)

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isEntryPoint } from '../src/process/entry-point.js';
import { startCommand } from '../src/process/launch.js';
import {
  ArgsError, choiceFlag, durationFlag, formatDuration, nonEmptyFlag, parseFlags, positiveInteger, positiveNumber,
  urlAndPid, wholeNumberFlag,
} from './args.js';
import { SOAK_CONTENTS, type SoakContent } from './data.js';
import { readProcSample } from './proc.js';
import { runTool } from './run-tool.js';
import { startOwnServer, type OwnServer } from './server-process.js';
import { formatProgress, formatReport } from './soak-report.js';
import type { SoakResult } from './soak-result.js';
import { runSoak, type SoakOptions } from './soak-runner.js';

export type BackendChoice = 'git' | 'memory';

export interface SoakArgs {
  help: boolean;
  /** Cycles started per minute. */
  repetitions: number;
  durationMs: number;
  fileSizeKiB: number;
  content: SoakContent;
  /** GET the file back after its PUT. */
  putReadback: boolean;
  /** A fixed number of cycles back to back instead of the schedule; undefined = the schedule. */
  cycles?: number;
  warmupCycles: number;
  concurrency: number;
  /** An already running server; undefined = the tool starts its own. */
  url?: string;
  /** The process behind --url, sampled from /proc. */
  pid?: number;
  /** Backend of the server the tool starts itself. */
  backend: BackendChoice;
  /** undefined = ./soak-results/<timestamp>, chosen by the caller. */
  outDir?: string;
  requestTimeoutMs: number;
}

export const USAGE = `Usage: npm run soak -- [flags]   (or node dist/bench/soak.js [flags])

Each cycle POSTs two random files, GETs both, PUTs new bytes into the first (and GETs it back), DELETEs the second.

  --repetitions N        cycles started per minute (default 4)
  --duration D           how long to start cycles, e.g. 30s, 10m, 1h, 1h30m (default 10m)
  --cycles N             instead of the schedule: run N cycles one after another, then stop
  --warmup N             untimed cycles first, one after another, counted nowhere (default 0)
  --filesize KiB         size of each file in KiB (default 1024)
  --content KIND         what the files hold: random (bytes, default) or alnum (random [A-Za-z0-9] text)
  --put-readback on|off  GET the file back after its PUT (default on); off: POST POST GET GET PUT DELETE
  --url URL              test an already running server (any with the same REST contract) instead of starting one
  --pid PID              with --url: the server's process, whose RSS and CPU time are read from /proc/PID
  --backend git|memory   backend of the server the tool starts (default git; not with --url)
  --concurrency N        cycles allowed in flight at once; a cycle due while N run is skipped (default 1)
  --request-timeout D    give up on a single request after D (default 60s)
  --out DIR              where result.json, chart.svg and server.log go (default ./soak-results/<timestamp>)
  -h, --help             show this help
`;

export function parseSoakArgs(argv: readonly string[]): SoakArgs {
  const values = parseFlags(argv, {
    repetitions: { type: 'string' },
    duration: { type: 'string' },
    filesize: { type: 'string' },
    cycles: { type: 'string' },
    warmup: { type: 'string' },
    content: { type: 'string' },
    'put-readback': { type: 'string' },
    url: { type: 'string' },
    pid: { type: 'string' },
    backend: { type: 'string' },
    concurrency: { type: 'string' },
    'request-timeout': { type: 'string' },
    out: { type: 'string' },
  });
  const str = (name: string): string | undefined => values[name] as string | undefined;

  const args: SoakArgs = {
    help: values.help === true,
    repetitions: positiveNumber('--repetitions', str('repetitions'), 4),
    durationMs: durationFlag('--duration', str('duration') ?? '10m'),
    fileSizeKiB: positiveInteger('--filesize', str('filesize'), 1024),
    content: choiceFlag('--content', str('content'), SOAK_CONTENTS, 'random'),
    putReadback: choiceFlag('--put-readback', str('put-readback'), ['on', 'off'], 'on') === 'on',
    warmupCycles: str('warmup') === undefined ? 0 : wholeNumberFlag('--warmup', str('warmup') as string, 0, 10_000),
    concurrency: positiveInteger('--concurrency', str('concurrency'), 1),
    backend: backend(str('backend')),
    requestTimeoutMs: durationFlag('--request-timeout', str('request-timeout') ?? '60s'),
  };
  const cycles = str('cycles');
  if (cycles !== undefined) {
    for (const clash of ['repetitions', 'duration', 'concurrency']) {
      if (str(clash) !== undefined) throw new ArgsError(`--cycles runs cycles back to back; drop --${clash} or drop --cycles`);
    }
    args.cycles = wholeNumberFlag('--cycles', cycles, 1, 100_000);
  }
  const url = str('url');
  if (url !== undefined && str('backend') !== undefined) {
    throw new ArgsError('--backend only applies to the server the tool starts itself; drop it or drop --url');
  }
  Object.assign(args, urlAndPid(url, str('pid')));
  const out = nonEmptyFlag('--out', str('out'), 'a directory name');
  if (out !== undefined) args.outDir = out;
  return args;
}

function backend(raw: string | undefined): BackendChoice {
  if (raw === undefined) return 'git';
  if (raw === 'git' || raw === 'memory') return raw;
  throw new ArgsError(`--backend must be git or memory (got ${JSON.stringify(raw)})`);
}

export async function main(argv: readonly string[]): Promise<number> {
  let args;
  try {
    args = parseSoakArgs(argv);
  } catch (err) {
    if (!(err instanceof ArgsError)) throw err;
    process.stderr.write(`soak: ${err.message}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.pid !== undefined) {
    try {
      await readProcSample(args.pid);
    } catch (err) {
      process.stderr.write(`soak: --pid ${args.pid}: cannot read its /proc entry: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const outDir = args.outDir ?? join('soak-results', new Date().toISOString().replace(/[:.]/g, '-'));
  await mkdir(outDir, { recursive: true });

  const stop = new AbortController();
  const cancel = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('\nsoak: stopping; waiting for running cycles (Ctrl-C again to cancel them)\n');
      stop.abort();
    } else if (interrupts === 2) {
      process.stderr.write('\nsoak: cancelling running requests\n');
      cancel.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);

  let server: OwnServer | undefined;
  let stopping = false; // we are stopping the server ourselves
  let result: SoakResult | undefined;
  const tty = process.stdout.isTTY === true;
  let lineOpen = false;
  try {
    if (args.url === undefined) {
      const logPath = join(outDir, 'server.log');
      process.stdout.write(`starting the server as npm start does (${startCommand()}, backend ${args.backend}), log in ${logPath}\n`);
      try {
        server = await startOwnServer(args.backend, logPath, stop.signal);
      } catch (err) {
        process.stderr.write(`soak: ${(err as Error).message}\n`);
        return 1;
      }
      const s = server;
      void s.exited.then(() => {
        if (!stopping && !stop.signal.aborted) {
          process.stderr.write(`\nsoak: the server exited during the run; see ${logPath}\n`);
          stop.abort();
        }
      });
    }
    const url = args.url ?? (server as OwnServer).url;
    const schedule = args.cycles === undefined
      ? `${args.repetitions} cycles/min for ${formatDuration(args.durationMs)}`
      : `${args.cycles} cycles back to back`;
    process.stdout.write(`soak: ${schedule}${args.warmupCycles > 0 ? ` after ${args.warmupCycles} warm-up cycles` : ''}, ` +
      `${args.fileSizeKiB} KiB ${args.content} files, PUT read back ${args.putReadback ? 'on' : 'off'}, ` +
      `concurrency ${args.concurrency}, against ${url}${args.pid === undefined ? '' : ` (process ${args.pid})`}\n`);
    const opts: SoakOptions = {
      url,
      repetitions: args.repetitions,
      durationMs: args.durationMs,
      fileSizeKiB: args.fileSizeKiB,
      content: args.content,
      putReadback: args.putReadback,
      warmupCycles: args.warmupCycles,
      concurrency: args.concurrency,
      requestTimeoutMs: args.requestTimeoutMs,
      outDir,
      stopSignal: stop.signal,
      cancelSignal: cancel.signal,
      serverLabel: server === undefined ? `external server${args.pid === undefined ? '' : `, process ${args.pid}`}`
        : `own server, backend ${args.backend}`,
      onProgress: (p) => {
        if (tty) {
          process.stdout.write(`\r${formatProgress(p)}\x1b[K`);
          lineOpen = true;
        } else if (p.event === 'cycle') {
          process.stdout.write(`${formatProgress(p)}\n`);
        }
      },
    };
    if (args.cycles !== undefined) opts.cycles = args.cycles;
    const pid = server?.pid ?? args.pid;
    if (pid !== undefined) opts.serverPid = pid;
    result = await runSoak(opts);
  } finally {
    if (lineOpen) process.stdout.write('\n');
    if (server !== undefined) {
      const keep = result === undefined || result.summary.errors > 0;
      stopping = true;
      await server.stop(keep);
      if (keep) process.stdout.write(`server data kept in ${server.dataDir}\n`);
    }
    process.off('SIGINT', onSigint);
  }
  process.stdout.write(`${formatReport(result)}\nwrote ${join(outDir, 'result.json')} and ${join(outDir, 'chart.svg')}\n`);
  return result.summary.errors > 0 ? 1 : 0;
}

if (isEntryPoint(import.meta.url)) runTool('soak', main, { exit: false });
