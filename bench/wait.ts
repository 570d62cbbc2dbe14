// Waiting with an abort signal and a bound, without leaving a timer behind: the soak run and the server processes.

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (v: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(true), Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** True if `p` settles within `ms` (and before `signal` aborts). Leaves no timer behind either way. */
export async function within(p: Promise<unknown>, ms: number, signal?: AbortSignal): Promise<boolean> {
  const giveUp = new AbortController();
  const onAbort = (): void => giveUp.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) giveUp.abort();
  try {
    return await Promise.race([p.then(() => true, () => true), sleep(ms, giveUp.signal).then(() => false)]);
  } finally {
    giveUp.abort();
    signal?.removeEventListener('abort', onAbort);
  }
}
