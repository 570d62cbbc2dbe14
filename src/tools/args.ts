// Command-line flags of the soak tool. Pure: turns argv into options or an ArgsError whose message says what to fix.

import { parseArgs } from 'node:util';

export type BackendChoice = 'git' | 'memory';

export interface SoakArgs {
  help: boolean;
  /** Cycles started per minute. */
  repetitions: number;
  durationMs: number;
  fileSizeKiB: number;
  concurrency: number;
  /** An already running server; undefined = the tool starts its own. */
  url?: string;
  /** Backend of the server the tool starts itself. */
  backend: BackendChoice;
  /** undefined = ./soak-results/<timestamp>, chosen by the caller. */
  outDir?: string;
  requestTimeoutMs: number;
}

export class ArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgsError';
  }
}

export const USAGE = `Usage: node dist/tools/soak.js [flags]

Each cycle POSTs two random files, GETs both, PUTs new bytes into the first (and GETs it back), DELETEs the second.

  --repetitions N        cycles started per minute (default 4)
  --duration D           how long to start cycles, e.g. 30s, 10m, 1h, 1h30m (default 10m)
  --filesize KiB         size of each file in KiB (default 1024)
  --url URL              test an already running server instead of starting one
  --backend git|memory   backend of the server the tool starts (default git; not with --url)
  --concurrency N        cycles allowed in flight at once; a cycle due while N run is skipped (default 1)
  --request-timeout D    give up on a single request after D (default 60s)
  --out DIR              where result.json, chart.svg and server.log go (default ./soak-results/<timestamp>)
  -h, --help             show this help
`;

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "90s", "10m", "1h", "1h30m", "250ms", "1.5h" → milliseconds. A bare number is refused: the unit must be said. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) {
    throw new ArgsError(`bad duration ${JSON.stringify(text)}; use a number with a unit, e.g. 90s, 10m, 1h or 1h30m`);
  }
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * (UNITS_MS[m[2] as string] as number);
  }
  if (!(total > 0)) throw new ArgsError(`duration ${JSON.stringify(text)} must be longer than zero`);
  return Math.round(total);
}

/** 600000 → "10m", 90000 → "1m30s", 1500 → "1.5s": the inverse of parseDuration, for titles and logs. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const parts: string[] = [];
  if (h > 0) parts.push(`${h}h`);
  if (m > 0) parts.push(`${m}m`);
  if (s > 0) parts.push(`${Number(s.toFixed(3))}s`);
  return parts.join('');
}

/**
 * Strict flag parsing shared by the tools: no positionals, `-h`/`--help` always accepted, and node:util's
 * errors (which already name the flag) turned into an ArgsError that says where to look.
 */
export function parseFlags(
  argv: readonly string[],
  options: Record<string, { type: 'string' | 'boolean' }>,
): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (err) {
    throw new ArgsError(`${(err as Error).message}; run with --help for the list of flags`);
  }
}

export function parseSoakArgs(argv: readonly string[]): SoakArgs {
  const values = parseFlags(argv, {
    repetitions: { type: 'string' },
    duration: { type: 'string' },
    filesize: { type: 'string' },
    url: { type: 'string' },
    backend: { type: 'string' },
    concurrency: { type: 'string' },
    'request-timeout': { type: 'string' },
    out: { type: 'string' },
  });
  const str = (name: string): string | undefined => values[name] as string | undefined;

  const args: SoakArgs = {
    help: values.help === true,
    repetitions: positiveNumber('--repetitions', str('repetitions'), 4),
    durationMs: str('duration') === undefined ? 10 * 60_000 : withFlag('--duration', str('duration') as string),
    fileSizeKiB: positiveInteger('--filesize', str('filesize'), 1024),
    concurrency: positiveInteger('--concurrency', str('concurrency'), 1),
    backend: backend(str('backend')),
    requestTimeoutMs: str('request-timeout') === undefined ? 60_000
      : withFlag('--request-timeout', str('request-timeout') as string),
  };
  const url = str('url');
  if (url !== undefined) {
    if (str('backend') !== undefined) {
      throw new ArgsError('--backend only applies to the server the tool starts itself; drop it or drop --url');
    }
    args.url = httpUrl(url);
  }
  const out = str('out');
  if (out !== undefined) {
    if (out.trim() === '') throw new ArgsError('--out needs a directory name');
    args.outDir = out;
  }
  return args;
}

function withFlag(flag: string, raw: string): number {
  try {
    return parseDuration(raw);
  } catch (err) {
    throw new ArgsError(`${flag}: ${(err as Error).message}`);
  }
}

function positiveNumber(flag: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined) return dflt;
  const n = /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(n > 0) || !Number.isFinite(n)) {
    throw new ArgsError(`${flag} must be a number greater than 0 (got ${JSON.stringify(raw)}), e.g. ${flag} ${dflt}`);
  }
  return n;
}

function positiveInteger(flag: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined) return dflt;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ArgsError(`${flag} must be a whole number of at least 1 (got ${JSON.stringify(raw)}), e.g. ${flag} ${dflt}`);
  }
  return n;
}

function backend(raw: string | undefined): BackendChoice {
  if (raw === undefined) return 'git';
  if (raw === 'git' || raw === 'memory') return raw;
  throw new ArgsError(`--backend must be git or memory (got ${JSON.stringify(raw)})`);
}

function httpUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ArgsError(`--url ${JSON.stringify(raw)} is not a URL; e.g. --url http://127.0.0.1:8080`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ArgsError(`--url must be http:// or https:// (got ${u.protocol})`);
  }
  if (u.search !== '' || u.hash !== '') throw new ArgsError('--url must not have a query or fragment');
  // Resource paths are appended to it; keep any base path but without a trailing slash.
  return u.href.replace(/\/+$/, '');
}
