// Peak resident memory of a Linux process (see proc(5)): VmHWM in /proc/<pid>/status, which the kernel lets
// the owner reset to the current RSS by writing "5" to /proc/<pid>/clear_refs. Only the parser is pure.
import { readFile, writeFile } from 'node:fs/promises';

/** A "Name:   123 kB" line of /proc/<pid>/status, in bytes; undefined when absent. */
export function statusBytes(text: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s*(\\d+)\\s*kB\\s*$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]) * 1024;
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
