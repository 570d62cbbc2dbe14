/**
 * How the server process is meant to be started: what `npm start` runs, and what the soak and bench tools use
 * when they start a server themselves (bench/server-process.ts; test/process-launch.test.ts keeps package.json
 * in step with this file).
 *
 * Neither changes behaviour; both keep resident memory down under large bodies:
 * - `--max-semi-space-size=1`: V8's young generation stays at 1 MiB semi-spaces instead of growing to 16, so
 *   short-lived buffers are collected (and their memory freed) sooner, for a little more GC work.
 * - glibc's malloc raises its mmap threshold to the size of any large block freed (up to 32 MiB), after which
 *   blocks of that size come from the heap, where freed memory stays resident. A fixed threshold and trim
 *   threshold (which also turn that adjustment off) hand freed blocks back. BENCHMARKS.md ("Soak") has the peak
 *   RSS of soaks with and without each setting. Other C libraries ignore these variables.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

export const SERVER_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/** The shell command `npm start` runs (after building). */
export function startCommand(): string {
  const env = Object.entries(SERVER_MALLOC_ENV).map(([k, v]) => `${k}=${v}`);
  return [...env, 'node', ...SERVER_NODE_FLAGS, 'dist/api/server.js'].join(' ');
}
