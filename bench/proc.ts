// Resident memory and CPU time of a Linux process, from /proc (see proc(5)): the one /proc reader of the tools.
// The parsers are pure; readProcSample, peakRss and resetPeakRss do the I/O. The peak (VmHWM in
// /proc/<pid>/status) can be reset by the owner to the current RSS by writing "5" to /proc/<pid>/clear_refs.

import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';

export interface CpuTicks {
  /** Clock ticks spent in user and kernel mode by the process itself. */
  utime: number;
  stime: number;
  /** Ticks of children the process has waited for (for the server: its `git` subprocesses). */
  cutime: number;
  cstime: number;
}

export interface ProcSample {
  rssBytes: number;
  /** utime + stime, in seconds. */
  cpuSeconds: number;
  /** cutime + cstime, in seconds. */
  childCpuSeconds: number;
}

/**
 * Parses /proc/<pid>/stat. The second field is the command name in parentheses and may itself contain spaces and
 * ")", so fields are counted from the last ")". Fields 14-17 (1-based) are utime, stime, cutime, cstime.
 */
export function parseProcStat(text: string): CpuTicks {
  const close = text.lastIndexOf(')');
  if (close === -1) throw new Error('unexpected /proc/<pid>/stat format: no ")" after the command name');
  // After ") " comes field 3 (state); field n is at index n - 3.
  const fields = text.slice(close + 1).trim().split(/\s+/);
  const field = (n: number): number => {
    const v = Number(fields[n - 3]);
    if (!Number.isSafeInteger(v)) throw new Error(`unexpected /proc/<pid>/stat format: field ${n} is not a number`);
    return v;
  };
  return { utime: field(14), stime: field(15), cutime: field(16), cstime: field(17) };
}

/** A "Name:   123 kB" line of /proc/<pid>/status, in bytes; undefined when absent. */
export function statusBytes(text: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s*(\\d+)\\s*kB\\s*$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]) * 1024;
}

/** Parses the VmRSS line of /proc/<pid>/status ("VmRSS:   123456 kB") into bytes. */
export function parseProcStatusRss(text: string): number {
  const rss = statusBytes(text, 'VmRSS');
  if (rss === undefined) throw new Error('no VmRSS line in /proc/<pid>/status (is the process a zombie?)');
  return rss;
}

export function toSample(ticks: CpuTicks, rssBytes: number, ticksPerSecond: number): ProcSample {
  return {
    rssBytes,
    cpuSeconds: (ticks.utime + ticks.stime) / ticksPerSecond,
    childCpuSeconds: (ticks.cutime + ticks.cstime) / ticksPerSecond,
  };
}

let cachedTicks: number | undefined;

/** USER_HZ, the unit of the times in /proc/<pid>/stat. Almost always 100; asked of getconf once to be sure. */
export function clockTicksPerSecond(): number {
  if (cachedTicks === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
      cachedTicks = Number.isSafeInteger(n) && n > 0 ? n : 100;
    } catch {
      cachedTicks = 100;
    }
  }
  return cachedTicks;
}

export async function readProcSample(pid: number): Promise<ProcSample> {
  const [stat, status] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/status`, 'utf8'),
  ]);
  return toSample(parseProcStat(stat), parseProcStatusRss(status), clockTicksPerSecond());
}

/** VmHWM of the process in bytes; undefined when it cannot be read (not Linux, process gone). */
export async function peakRss(pid: number | 'self'): Promise<number | undefined> {
  try {
    return statusBytes(await readFile(`/proc/${pid}/status`, 'utf8'), 'VmHWM');
  } catch {
    return undefined;
  }
}

/** Resets VmHWM to the current RSS, so that the next peakRss() covers only what happens from now on. */
export async function resetPeakRss(pid: number | 'self'): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
