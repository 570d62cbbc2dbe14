// The flag parser of the tools (soak, bench, zlib-bench): strict flags, durations and the checks of flag values.
// Pure: every failure is an ArgsError whose message names the flag and says what to fix.

import { parseArgs } from 'node:util';

export class ArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgsError';
  }
}

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

/** A duration flag's value in ms (see parseDuration), the error prefixed with the flag. */
export function durationFlag(flag: string, raw: string): number {
  try {
    return parseDuration(raw);
  } catch (err) {
    throw new ArgsError(`${flag}: ${(err as Error).message}`);
  }
}

export function positiveNumber(flag: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined) return dflt;
  const n = /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(n > 0) || !Number.isFinite(n)) {
    throw new ArgsError(`${flag} must be a number greater than 0 (got ${JSON.stringify(raw)}), e.g. ${flag} ${dflt}`);
  }
  return n;
}

export function positiveInteger(flag: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined) return dflt;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ArgsError(`${flag} must be a whole number of at least 1 (got ${JSON.stringify(raw)}), e.g. ${flag} ${dflt}`);
  }
  return n;
}

/** `s` as a whole number from `min` to `max`; undefined when it is not one. */
export function wholeNumber(s: string, min: number, max: number): number | undefined {
  const n = /^\d+$/.test(s.trim()) ? Number(s) : NaN;
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

export function wholeNumberFlag(flag: string, raw: string, min: number, max: number): number {
  const n = wholeNumber(raw, min, max);
  if (n === undefined) throw new ArgsError(`${flag} must be a whole number from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  return n;
}

/** A comma-separated list of numbers, each parsed by `parse`; duplicates dropped, sorted ascending. */
export function listFlag(flag: string, raw: string, parse: (s: string) => number | undefined): number[] {
  const out = raw.split(',').map((s) => {
    const v = parse(s);
    if (v === undefined) throw new ArgsError(`${flag}: bad item ${JSON.stringify(s)} in ${JSON.stringify(raw)}`);
    return v;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

/** One of `choices`, or `dflt` when the flag is absent. */
export function choiceFlag<T extends string>(flag: string, raw: string | undefined, choices: readonly T[], dflt: T): T {
  if (raw === undefined) return dflt;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new ArgsError(`${flag} must be one of ${choices.join(', ')} (got ${JSON.stringify(raw)})`);
  }
  return raw as T;
}

export function httpUrlFlag(flag: string, raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ArgsError(`${flag} ${JSON.stringify(raw)} is not a URL; e.g. ${flag} http://127.0.0.1:8080`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ArgsError(`${flag} must be http:// or https:// (got ${u.protocol})`);
  }
  if (u.search !== '' || u.hash !== '') throw new ArgsError(`${flag} must not have a query or fragment`);
  // Resource paths are appended to it; keep any base path but without a trailing slash.
  return u.href.replace(/\/+$/, '');
}

/** A process id for --pid: a whole number of at least 1 (whether such a process exists is checked by the caller). */
export function pidFlag(flag: string, raw: string): number {
  const n = wholeNumber(raw, 1, 2 ** 31 - 1);
  if (n === undefined) throw new ArgsError(`${flag} must be a process id, a whole number of at least 1 (got ${JSON.stringify(raw)})`);
  return n;
}

/** `--pid` names the process behind `--url`; alone it would sample a process nothing drives. */
export function urlAndPid(url: string | undefined, pid: string | undefined): { url?: string; pid?: number } {
  const out: { url?: string; pid?: number } = {};
  if (url !== undefined) out.url = httpUrlFlag('--url', url);
  if (pid !== undefined) {
    if (url === undefined) throw new ArgsError('--pid names the process of the server at --url; give --url too');
    out.pid = pidFlag('--pid', pid);
  }
  return out;
}

export function nonEmptyFlag(flag: string, raw: string | undefined, what: string): string | undefined {
  if (raw !== undefined && raw.trim() === '') throw new ArgsError(`${flag} needs ${what}`);
  return raw;
}
