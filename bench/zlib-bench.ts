// zlib throughput: pako (pure JS, what the engine inflates with) against node:zlib (native), one-shot and
// streaming, deflate and inflate, at the compression level of the pack writer. Prints Markdown for BENCHMARKS.md.
//
//   npm run zlib-bench -- [--quick]      (node dist/bench/zlib-bench.js)
//
// Each case runs at most a bounded number of repetitions (scaled to the size) and within a time budget;
// peak RSS is this process's VmHWM during the case (reset before it, after a GC when one can be forced).

import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { constants, createDeflate, createInflate, deflateSync, inflateSync } from 'node:zlib';
import { Deflate, Inflate, deflate, inflate } from 'pako';
import { DATA_DESCRIPTION, FEED_CHUNK, feedChunks, mixedData } from './data.js';
import { MiB, markdownTable, mibCell, sizeLabel, type Cell } from './markdown.js';
import { peakRss, resetPeakRss } from './proc.js';
import { formatDeflateTable, runDeflateBench } from './deflate-bench.js';
import { isEntryPoint } from '../src/process/entry-point.js';
import { ArgsError, parseFlags } from './args.js';
import { runTool } from './run-tool.js';

/** src/pack/pack-writer.ts calls deflateSync/createDeflate without options: zlib's default level (6). */
export const PACK_LEVEL = constants.Z_DEFAULT_COMPRESSION;
const WARMUP_REPS = 5;

export type Lib = 'pako' | 'node:zlib';
export type Op = 'deflate' | 'inflate';
export type Api = 'one-shot' | 'streaming';

/** Runs one operation over `input`; returns the number of bytes it produced. */
type Runner = (input: Buffer) => number | Promise<number>;

async function countStream(source: Buffer, transform: Transform): Promise<number> {
  let n = 0;
  const sink = new Writable({
    write(part: Buffer, _encoding, done) {
      n += part.length;
      done();
    },
  });
  await pipeline(Readable.from(feedChunks(source)), transform, sink);
  return n;
}

function pakoStream(engine: Deflate | Inflate, input: Buffer): number {
  let n = 0;
  engine.onData = (part) => {
    n += part.length;
  };
  if (input.length === 0) engine.push(input, true);
  for (let at = 0; at < input.length; at += FEED_CHUNK) {
    engine.push(input.subarray(at, at + FEED_CHUNK), at + FEED_CHUNK >= input.length);
  }
  if (engine.err !== 0) throw new Error(`pako: ${engine.msg}`);
  return n;
}

export const RUNNERS: Record<Op, Record<Api, Record<Lib, Runner>>> = {
  deflate: {
    'one-shot': {
      pako: (d) => deflate(d, { level: PACK_LEVEL }).length,
      'node:zlib': (d) => deflateSync(d, { level: PACK_LEVEL }).length,
    },
    streaming: {
      pako: (d) => pakoStream(new Deflate({ level: PACK_LEVEL }), d),
      'node:zlib': (d) => countStream(d, createDeflate({ level: PACK_LEVEL })),
    },
  },
  inflate: {
    'one-shot': {
      pako: (z) => inflate(z).length,
      'node:zlib': (z) => inflateSync(z).length,
    },
    streaming: {
      pako: (z) => pakoStream(new Inflate(), z),
      'node:zlib': (z) => countStream(z, createInflate()),
    },
  },
};

export interface Plan {
  sizes: number[];
  /** Upper bound on repetitions of one case is ceil(bytesPerCase / size), within [1, maxReps]. */
  bytesPerCase: number;
  maxReps: number;
  /** A case stops repeating once it has run this long (it always runs at least once). */
  budgetMs: number;
}

export const FULL_PLAN: Plan = { sizes: [1024, MiB, 100 * MiB], bytesPerCase: 64 * MiB, maxReps: 5000, budgetMs: 2000 };
export const QUICK_PLAN: Plan = { sizes: [1024, MiB], bytesPerCase: 8 * MiB, maxReps: 1000, budgetMs: 400 };

export function maxRepsFor(plan: Plan, size: number): number {
  return Math.max(1, Math.min(plan.maxReps, Math.ceil(plan.bytesPerCase / size)));
}

export interface Measurement {
  reps: number;
  seconds: number;
  /** 10^6 uncompressed bytes per second. */
  mbPerSec: number;
  peakRssBytes: number | undefined;
}

export interface Row {
  size: number;
  op: Op;
  api: Api;
  pako: Measurement;
  node: Measurement;
}

export interface ZlibResult {
  rows: Row[];
  /** Deflated size / original size, per input size (from node:zlib at PACK_LEVEL). */
  ratio: Map<number, number>;
  baselineRssBytes: number | undefined;
  seconds: number;
}

const forceGc = ((): (() => void) => {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return gc as () => void;
  } catch {
    // no forced GC: peaks then include garbage left by the previous case
  }
  return () => {};
})();

/** `check` rejects a wrong output size (inflate must give back every byte; deflate must give something). */
async function measure(run: Runner, input: Buffer, uncompressed: number, maxReps: number, budgetMs: number,
  check: (outBytes: number) => boolean): Promise<Measurement> {
  // Untimed runs first let the JIT settle (pako needs a few); a big input warms it up within its first run.
  if (input.length <= MiB) {
    const until = performance.now() + budgetMs / 2;
    for (let i = 0; i < WARMUP_REPS && (i === 0 || performance.now() < until); i++) await run(input);
  }
  forceGc();
  await resetPeakRss('self');
  let reps = 0;
  const start = process.hrtime.bigint();
  let elapsedMs = 0;
  while (reps < maxReps && (reps === 0 || elapsedMs < budgetMs)) {
    const out = await run(input);
    if (!check(out)) throw new Error(`unexpected output size ${out} for ${input.length} input bytes`);
    reps++;
    elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  }
  const seconds = elapsedMs / 1000;
  return { reps, seconds, mbPerSec: (reps * uncompressed) / seconds / 1e6, peakRssBytes: await peakRss('self') };
}

/** Checks that each library reads what the other writes, so the timed runs measure real work. */
function crossCheck(data: Buffer): Buffer {
  const fromNode = deflateSync(data, { level: PACK_LEVEL });
  const fromPako = deflate(data, { level: PACK_LEVEL });
  if (!Buffer.from(inflate(fromNode)).equals(data)) throw new Error('pako cannot inflate node:zlib output');
  if (!inflateSync(fromPako).equals(data)) throw new Error('node:zlib cannot inflate pako output');
  return fromNode;
}

export async function runZlibBench(plan: Plan, progress: (line: string) => void = () => {}): Promise<ZlibResult> {
  const started = performance.now();
  const rows: Row[] = [];
  const ratio = new Map<number, number>();
  forceGc();
  const baselineRssBytes = await peakRss('self');
  for (const size of plan.sizes) {
    const data = mixedData(size);
    const deflated = crossCheck(data);
    ratio.set(size, deflated.length / size);
    const maxReps = maxRepsFor(plan, size);
    for (const op of ['deflate', 'inflate'] as const) {
      const input = op === 'deflate' ? data : deflated;
      const check = op === 'deflate' ? (n: number) => n > 0 : (n: number) => n === size;
      for (const api of ['one-shot', 'streaming'] as const) {
        const m = {} as Record<Lib, Measurement>;
        for (const lib of ['pako', 'node:zlib'] as const) {
          progress(`${sizeLabel(size)} ${op} ${api} ${lib}`);
          m[lib] = await measure(RUNNERS[op][api][lib], input, size, maxReps, plan.budgetMs, check);
        }
        rows.push({ size, op, api, pako: m.pako, node: m['node:zlib'] });
      }
    }
  }
  return { rows, ratio, baselineRssBytes, seconds: (performance.now() - started) / 1000 };
}

export function formatZlibReport(r: ZlibResult, plan: Plan): string {
  const pakoVersion = (createRequire(import.meta.url)('pako/package.json') as { version: string }).version;
  const header = [
    'size', 'op', 'API', 'reps (pako / node)', 'pako MB/s', 'node:zlib MB/s', 'node:zlib / pako',
    'pako peak RSS MiB', 'node:zlib peak RSS MiB',
  ];
  const rows = r.rows.map((row): Cell[] => [
    sizeLabel(row.size), row.op, row.api, `${row.pako.reps} / ${row.node.reps}`,
    row.pako.mbPerSec, row.node.mbPerSec, Math.round((row.node.mbPerSec / row.pako.mbPerSec) * 100) / 100,
    mibCell(row.pako.peakRssBytes), mibCell(row.node.peakRssBytes),
  ]);
  const ratios = [...r.ratio].map(([size, q]) => `${sizeLabel(size)}: ${(q * 100).toFixed(1)} %`).join(', ');
  return [
    `## zlib: pako ${pakoVersion} vs node:zlib ${process.versions.zlib}`,
    '',
    `Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} CPUs).`,
    `Data: ${DATA_DESCRIPTION}. Deflated size / original: ${ratios}.`,
    'Level: zlib default (Z_DEFAULT_COMPRESSION = 6), as src/pack/pack-writer.ts uses. Streaming: input pushed in ' +
      '64 KiB chunks, output counted and dropped. MB/s = 10^6 uncompressed bytes per second. ' +
      'node:zlib / pako > 1 means node:zlib is faster.',
    `Repetitions per case: at most ceil(${plan.bytesPerCase / MiB} MiB / size), capped at ${plan.maxReps}, ` +
      `stopped after ${plan.budgetMs} ms (at least one). Peak RSS: VmHWM of the benchmark process during the case ` +
      `(reset before it); it includes the input buffers (RSS before the cases: ${mibCell(r.baselineRssBytes)} MiB).`,
    '',
    markdownTable(header, rows),
    '',
    `Total run time: ${r.seconds.toFixed(1)} s.`,
    '',
  ].join('\n');
}

const USAGE = `Usage: npm run zlib-bench -- [--quick]   (or node dist/bench/zlib-bench.js [--quick])

Measures pako against node:zlib (deflate and inflate, one-shot and streaming) at 1 KiB, 1 MiB and 100 MiB, then
the adaptive deflate of large bodies against one level-1 node:zlib stream at 10 MiB, and prints Markdown tables.
--quick skips 100 MiB, uses a smaller time budget per case and 1 MiB for the second table.
`;

export async function main(argv: readonly string[], write: (text: string) => void = (s) => void process.stdout.write(s),
  progress: (line: string) => void = (s) => void process.stderr.write(`zlib-bench: ${s}\n`)): Promise<number> {
  let quick: boolean;
  try {
    const values = parseFlags(argv, { quick: { type: 'boolean' } });
    if (values.help === true) {
      write(USAGE);
      return 0;
    }
    quick = values.quick === true;
  } catch (err) {
    if (!(err instanceof ArgsError)) throw err;
    process.stderr.write(`zlib-bench: ${err.message}\n`);
    return 2;
  }
  const plan = quick ? QUICK_PLAN : FULL_PLAN;
  const result = await runZlibBench(plan, progress);
  write(formatZlibReport(result, plan));
  const [size, reps] = quick ? [MiB, 2] : [10 * MiB, 5];
  write(`\n${formatDeflateTable(await runDeflateBench(size, reps, progress), reps)}`);
  return 0;
}

if (isEntryPoint(import.meta.url)) runTool('zlib-bench', main);
