// Resident memory and CPU time of a process, from Linux's /proc (see proc(5)). The parsers are pure; readProcSample
// is the only I/O.

import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

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

/** Parses the VmRSS line of /proc/<pid>/status ("VmRSS:   123456 kB") into bytes. */
export function parseProcStatusRss(text: string): number {
  const m = /^VmRSS:\s*(\d+)\s*kB\s*$/m.exec(text);
  if (m === null) throw new Error('no VmRSS line in /proc/<pid>/status (is the process a zombie?)');
  return Number(m[1]) * 1024;
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
