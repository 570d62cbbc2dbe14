/**
 * The one way a stream here releases what it holds when its consumer stops early.
 *
 * Wraps a stream so that `release` runs exactly once when it ends, fails or is abandoned, including when the
 * consumer calls return() before ever reading (a generator that has not started skips its `finally`).
 */
export interface ReleasingStream<T> extends AsyncIterableIterator<T> {
  return(value?: T): Promise<IteratorResult<T>>;
}

export function releasing<T>(source: AsyncIterator<T>, release: () => void | Promise<void>): ReleasingStream<T> {
  let released = false;
  const once = async (): Promise<void> => {
    if (released) return;
    released = true;
    await release();
  };
  const it: ReleasingStream<T> = {
    [Symbol.asyncIterator]: () => it,
    async next() {
      try {
        const r = await source.next();
        if (r.done) await once();
        return r;
      } catch (err) {
        await once();
        throw err;
      }
    },
    async return(value?: T) {
      try {
        await source.return?.();
      } finally {
        await once();
      }
      return { done: true, value: value as T };
    },
  };
  return it;
}
